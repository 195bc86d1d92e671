"""A process that opens a data folder as ``app.py`` does (``Service``: lock, resume, training worker) without the
HTTP layer, optionally submits one job, prints ``up`` and waits to be killed. Jobs checkpoint after every
iteration, so a kill or a full disk lands inside checkpoint writes as well as training steps."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DRIVER = """
import sys, time
from contraclip_core import presets
real = presets.train_config
def every_iteration(*args, **kwargs):
    config = real(*args, **kwargs)
    config.checkpoint_every = 1
    return config
presets.train_config = every_iteration
from contraclip_core.service import Service
s = Service(sys.argv[1], device="cpu")
if len(sys.argv) > 2:
    s.submit_training("shapes-128", sys.argv[2], sys.argv[3], iterations=int(sys.argv[4]))
print("up", flush=True)
time.sleep(600)
"""


def spawn(data: Path | str, *args: str, wrapper: list[str] = ()) -> subprocess.Popen:
    """Start the driver on ``data``; ``args``: (first sentence, second sentence, iterations) to submit a job.
    ``wrapper`` runs it under another command (e.g. ``unshare``), which must end by exec'ing its arguments."""
    return subprocess.Popen([*wrapper, sys.executable, "-c", DRIVER, str(data), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT)})
