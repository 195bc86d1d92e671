"""``kill -9`` of the serving process at random moments while jobs train, round after round: no trained path is
lost, no record or checkpoint is ever left damaged, and at the end every job has finished (or failed with a reason).

Each round starts a process that opens the data folder the way ``app.py`` does (``Service(data)``: the lock, the
resume of queued jobs, the training worker), sometimes submits a job, and is SIGKILLed at a random moment — during
start-up, model loading, a training step, a checkpoint or record write, or the final save. The HTTP layer is left
out to keep rounds short (``test_app_crash.py`` kills the real app). Jobs checkpoint after every iteration here, so
kills also land inside checkpoint writes. Figures go to test-artifacts/kill_loop.json (quoted in the README).
"""
from __future__ import annotations

import hashlib
import json
import random
import signal
import time
from pathlib import Path

import pytest
import torch

from contraclip_core.jobs import JobStore
from contraclip_core.pathset import PathSet

from .service_driver import ROOT, spawn

ROUNDS = 20
SUBMIT_EVERY = 4  # a new job in every 4th round (5 jobs)

SENTENCES = [("a red shape", "a blue shape"), ("a circle", "a square"), ("a large shape", "a small shape"),
             ("a shape on the left", "a shape on the right"), ("a triangle", "a circle"), ("a green shape", "a red shape")]


def progress(data: Path) -> int:
    """Iterations recorded over all jobs (a record is saved at every checkpoint here)."""
    return sum(j.iteration for j in JobStore(data / "jobs").all())


def active(data: Path) -> bool:
    return any(j.status in ("queued", "running") for j in JobStore(data / "jobs").all())


def check_invariants(data: Path, trained: dict[str, str]) -> dict[str, str]:
    """Every record reads, every checkpoint loads, every finished path set loads; none finished earlier is lost."""
    jobs, unreadable = JobStore(data / "jobs").scan()
    assert not unreadable, unreadable
    for job in jobs:
        checkpoint = data / "jobs" / job.id / "checkpoint.pt"
        if checkpoint.exists():
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            assert 1 <= int(state["iteration"]) <= job.total
        if job.status == "done":
            path_set = PathSet.load(job.result)
            assert path_set.iterations == job.total
    now = {}
    for meta in (data / "paths").glob("*/paths.json"):
        PathSet.load(meta.parent)  # whole: weights are written before the description
        now[meta.parent.name] = hashlib.sha256((meta.parent / "paths.safetensors").read_bytes()).hexdigest()
    for name, digest in trained.items():
        assert now.get(name) == digest, f"the trained path set {name} was lost or changed"
    return now


@pytest.mark.slow
def test_kill_9_at_random_moments_in_a_loop(tmp_path):
    rng = random.Random(17)
    start = time.monotonic()
    trained: dict[str, str] = {}
    killed_while = {"idle": 0, "training": 0}  # was a job running (by its record) when the process died?
    submitted = confirmed = 0  # submissions asked for / known to have been made (the process said "up")
    startups: list[float] = []
    for round_ in range(ROUNDS):
        args: tuple[str, ...] = ()
        if round_ % SUBMIT_EVERY == 0:
            a, b = SENTENCES[submitted % len(SENTENCES)]
            args = (a, b, str(rng.choice([3, 4, 5])))
            submitted += 1
        t0 = time.monotonic()
        proc = spawn(tmp_path, *args)
        moment = rng.random()
        if moment < 0.15:  # during start-up (imports, lock, resume, the submission itself)
            time.sleep(rng.uniform(0.0, 3.0))
        else:
            assert proc.stdout.readline().strip() == "up", "the process did not start"
            startups.append(time.monotonic() - t0)
            confirmed += bool(args)
            if moment < 0.3:  # while the worker picks a job up and loads the models
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # inside training: once an iteration (and its checkpoint) is done, somewhere in the next one(s)
                done_before = progress(tmp_path)
                deadline = time.monotonic() + 30
                while active(tmp_path) and progress(tmp_path) == done_before and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        jobs = JobStore(tmp_path / "jobs").all()
        state = "training" if any(j.status == "running" for j in jobs) else "idle"
        killed_while[state] += 1
        trained = check_invariants(tmp_path, trained)
    loop_s = time.monotonic() - start

    proc = spawn(tmp_path)  # the last start: nobody kills it, every job must end
    try:
        assert proc.stdout.readline().strip() == "up"
        deadline = time.monotonic() + 600
        while any(j.status in ("queued", "running") for j in JobStore(tmp_path / "jobs").all()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.3)
    finally:
        proc.kill()
        proc.wait()
    trained = check_invariants(tmp_path, trained)
    jobs = JobStore(tmp_path / "jobs").all()
    assert confirmed <= len(jobs) <= submitted == ROUNDS // SUBMIT_EVERY  # a kill may land before a submission
    for job in jobs:
        assert job.status == "done" or (job.status == "failed" and job.error), job
    assert {j.id for j in jobs if j.status == "done"} <= set(trained)
    result = {"rounds": ROUNDS, "jobs": len(jobs), "done": sum(j.status == "done" for j in jobs),
              "failed": sum(j.status == "failed" for j in jobs), "kills_while_training": killed_while["training"],
              "kills_while_idle_or_starting": killed_while["idle"],
              "resumed_from_checkpoint": sum(j.resumed_from > 0 for j in jobs), "loop_s": round(loop_s, 1),
              "mean_start_s": round(sum(startups) / len(startups), 2),
              "total_s": round(time.monotonic() - start, 1), "date": time.strftime("%Y-%m-%d")}
    print(result)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "kill_loop.json").write_text(json.dumps(result, indent=1))
    assert killed_while["training"] >= ROUNDS // 4  # the loop really killed training, not only idle processes
