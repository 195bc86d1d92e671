"""A process that opens a data folder as ``app.py`` does (``Service``: lock, resume, training worker) without the
HTTP layer, optionally submits one job, prints ``up`` and waits to be killed. Jobs checkpoint after every
iteration, so a kill or a full disk lands inside checkpoint writes as well as training steps."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DRIVER = """
import sys, time
from contraclip_core.methods.contraclip import presets
real = presets.train_config
def every_iteration(*args, **kwargs):
    config = real(*args, **kwargs)
    config.checkpoint_every = 1
    return config
presets.train_config = every_iteration
from contraclip_core.service import Service
s = Service(sys.argv[1], device="cpu")
if len(sys.argv) > 2:
    s.submit("paths", "shapes-128", sys.argv[2], sys.argv[3], iterations=int(sys.argv[4]))
print("up", flush=True)
time.sleep(600)
"""


def spawn(data: Path | str, *args: str, wrapper: list[str] = ()) -> subprocess.Popen:
    """Start the driver on ``data``; ``args``: (first sentence, second sentence, iterations) to submit a job.
    ``wrapper`` runs it under another command (e.g. ``unshare``), which must end by exec'ing its arguments."""
    return subprocess.Popen([*wrapper, sys.executable, "-c", DRIVER, str(data), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT)})


ZYGOTE = """
import os, signal, sys, time
from contraclip_core.methods.contraclip import presets
real = presets.train_config
def every_iteration(*args, **kwargs):
    config = real(*args, **kwargs)
    config.checkpoint_every = 1
    return config
presets.train_config = every_iteration
from contraclip_core.service import Service
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed children are reaped at once
print("ready", flush=True)
for line in sys.stdin:
    args = line.rstrip("\\n").split("\\t")
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        s = Service(args[0], device="cpu")
        if len(args) > 1:
            s.submit("paths", "shapes-128", args[1], args[2], iterations=int(args[3]))
        print(f"up {os.getpid()}", flush=True)
        time.sleep(600)
        os._exit(0)
    print(f"pid {pid}", flush=True)
"""


class Zygote:
    """Forks driver processes from one process that has already imported torch and the service, so a round of a
    kill loop costs the service's start-up, not Python's and torch's imports. Each child is a whole process: its
    own lock on the data folder, its own training worker; ``kill`` SIGKILLs it and waits until it is gone."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=os.environ | {"PYTHONPATH": str(ROOT)})
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, data: Path, *args: str) -> int:
        self.proc.stdin.write("\t".join([str(data), *args]) + "\n")
        self.proc.stdin.flush()
        while (line := self.proc.stdout.readline().split())[:1] != ["pid"]:  # skip a late "up" of a killed child
            assert line, "the zygote died"
        return int(line[1])

    def wait_up(self, pid: int) -> None:
        while (line := self.proc.stdout.readline().split()) != ["up", str(pid)]:
            assert line, "the zygote died"

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
