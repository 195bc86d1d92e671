"""A full disk while a training job writes its checkpoint: the write fails part-way, nothing half-written is left,
the previous checkpoint still loads, the job is marked failed with a sentence, and the worker keeps serving."""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
import torch

from contraclip_core.generators import loading
from contraclip_core.jobs import JobStore
from contraclip_core.methods.contraclip import presets
from contraclip_core.methods.registry import REQUEST_CHECKS

from .helpers import job_row, open_service, wait_for

PAGE = 4096


class FillsUp:
    """A file object that writes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data: bytes) -> int:
        self.f.write(data[: self.room])
        self.f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.fixture()
def disk(monkeypatch):
    """``disk["full"] = True`` makes every checkpoint write run out of space after 4 kB (other files still fit)."""
    state = {"full": False, "failed_writes": 0, "half_written": []}
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        name = os.readlink(f"/proc/self/fd/{fd}")
        if state["full"] and ".checkpoint.pt." in name:
            state["failed_writes"] += 1
            state["half_written"].append(name)
            return FillsUp(f, 4096)
        return f

    monkeypatch.setattr(loading.os, "fdopen", fdopen)
    real_config = presets.train_config

    def every_two(*args, **kwargs):
        config = real_config(*args, **kwargs)
        config.checkpoint_every = 2
        return config

    monkeypatch.setattr(presets, "train_config", every_two)
    return state


def checkpoint_iteration(path) -> int | None:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["iteration"])
    except (OSError, RuntimeError, EOFError):
        return None


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, disk):
    # Not conftest's module-wide `service`: this one's data folder is the test's own tmp_path, opened after `disk`.
    with open_service(tmp_path) as service:
        job = service.submit("paths", "shapes-128", "a red shape", "a blue shape", iterations=40)
        folder = tmp_path / "jobs" / job["id"]
        wait_for(lambda: (checkpoint_iteration(folder / "checkpoint.pt") or 0) >= 2)
        disk["full"] = True
        row = wait_for(lambda: (r := job_row(service, job["id"]))["status"] != "running" and r)
        assert disk["failed_writes"] == 1
        assert row["status"] == "failed"
        assert row["error"].startswith("the disk is full: writing ") and "the last checkpoint was kept" in row["error"]
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # the half-written file is gone
        assert not os.path.exists(disk["half_written"][0])
        kept = checkpoint_iteration(folder / "checkpoint.pt")
        assert kept is not None and kept % 2 == 0 and 2 <= kept < 40  # the previous checkpoint, whole
        assert row["iteration"] >= kept

        disk["full"] = False  # space again: the worker is alive and trains the next job
        second = service.submit("paths", "shapes-128", "a circle", "a square", iterations=2)
        done = wait_for(lambda: (r := job_row(service, second["id"]))["status"] not in ("queued", "running") and r)
        assert done["status"] == "done", done


def test_a_really_full_disk_a_small_tmpfs(tmp_path):
    """The same on a real file system that runs out of space: a 4 MB tmpfs in a private mount namespace, filled up
    (but for two pages) once the job has a checkpoint. Needs ``unshare -m`` and ``mount`` (root in a container)."""
    from .service_driver import spawn

    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=4m tmpfs '{mnt}'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({probe.stderr.strip()}); the monkeypatched test above runs")
    wrapper = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"', str(mnt)]
    proc = spawn(mnt / "data", "a red shape", "a blue shape", "60", wrapper=wrapper)
    try:
        assert proc.stdout.readline().strip() == "up"
        data = Path(f"/proc/{proc.pid}/root") / mnt.relative_to("/") / "data"  # the tmpfs, as the process sees it
        store = JobStore(data / "jobs", REQUEST_CHECKS)
        job = store.all()[0]
        checkpoint = data / "jobs" / job.id / "checkpoint.pt"
        before = wait_for(lambda: checkpoint_iteration(checkpoint))
        assert checkpoint.stat().st_size > 4 * PAGE  # the premise: a checkpoint does not fit in what is left
        room = os.statvfs(data)
        with open(data / "filler", "wb") as f:  # the disk fills up (by someone else) but for two pages
            f.write(bytes(room.f_bavail * room.f_frsize - 2 * PAGE))
        failed = wait_for(lambda: (j := store.load(job.id)).status != "running" and j)
        assert failed.status == "failed" and failed.error.startswith("the disk is full: writing "), failed
        assert not [p.name for p in (data / "jobs" / job.id).iterdir() if p.name.endswith(".tmp")]
        kept = checkpoint_iteration(checkpoint)
        assert kept is not None and before <= kept < 60  # the last checkpoint that was written whole
        assert not store.unreadable()
    finally:
        proc.kill()
        proc.wait()
