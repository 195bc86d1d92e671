"""SIGKILL the app in the middle of a training job, start it again: the job resumes from its last checkpoint and
finishes; the finished path and the job record are intact."""
from __future__ import annotations

import json
import os
import signal
import time

from gradio_client import Client

from contraclip_core.methods.contraclip.artefact import PathSet

from .app_server import start_app, stop_app


def test_sigkill_the_app_mid_training_then_restart(tmp_path):
    proc, url = start_app(tmp_path)
    try:
        message, _ = Client(url, verbose=False).predict("shapes-128", "a red shape", "a green shape", "", "quick",
                                                        "160", "", "", api_name="/train")
        job_id = message.split("`")[1]
        job_file = tmp_path / "jobs" / job_id / "job.json"
        deadline = time.monotonic() + 120
        while not (job_file.exists() and json.loads(job_file.read_text())["iteration"] >= 110):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = json.loads(job_file.read_text())
    assert killed["status"] == "running" and 110 <= killed["iteration"] < 160

    proc, url = start_app(tmp_path)
    try:
        client = Client(url, verbose=False)
        while True:
            table, *_ = client.predict("shapes-128", None, "", api_name="/poll")
            row = next(r for r in table["data"] if r[0] == job_id)
            if row[3] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline + 120
            time.sleep(0.5)
        assert row[3] == "done", row
        job = json.loads(job_file.read_text())
        assert job["resumed_from"] == 100 and job["iteration"] == 160
        PathSet.load(job["result"])  # the finished path set reads back whole
        update, *_ = client.predict("shapes-128", api_name="/select_generator")
        assert any("a red shape ↔ a green shape" in label for label, _ in update["choices"])
    finally:
        stop_app(proc)
