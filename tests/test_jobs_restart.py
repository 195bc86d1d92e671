"""A training job survives a hard kill of the process: on restart it resumes from its checkpoint and finishes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from contraclip_core.service import Service

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys, time
from contraclip_core.service import Service
s = Service(sys.argv[1], device="cpu")
job = s.submit("paths", "shapes-128", "a red shape", "a blue shape", iterations=160)
print(job["id"], flush=True)
time.sleep(600)
"""


def read_job(data: Path, job_id: str) -> dict:
    return json.loads((data / "jobs" / job_id / "job.json").read_text())


def test_sigkill_mid_training_then_restart_resumes(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    try:
        job_id = proc.stdout.readline().strip()
        deadline = time.monotonic() + 120
        while not (tmp_path / "jobs" / job_id / "checkpoint.pt").exists() or read_job(tmp_path, job_id)["iteration"] < 110:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
    finally:  # also when the wait fails: never leave a training process behind
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = read_job(tmp_path, job_id)
    assert killed_at["status"] == "running" and killed_at["iteration"] < 160

    service = Service(tmp_path, device="cpu")  # the restart
    try:
        while (row := next(r for r in service.jobs() if r["id"] == job_id))["status"] in ("queued", "running"):
            assert time.monotonic() < deadline + 120
            time.sleep(0.2)
        assert row["status"] == "done", row
        assert row["resumed_from"] == 100  # the last checkpoint (every 100 iterations), not a fresh start
        assert row["iteration"] == 160
        assert any(p.label == "a red shape ↔ a blue shape" for p in service.method("contraclip").paths("shapes-128"))
    finally:
        service.close()
