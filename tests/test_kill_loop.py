"""``kill -9`` of the serving process at random moments while jobs train, round after round: no trained path is
lost, no record or checkpoint is ever left damaged, and at the end every job has finished (or failed with a reason).

Each round starts a process that opens the data folder the way ``app.py`` does (``Service(data)``: the lock, the
resume of queued jobs, the training worker), sometimes submits a job, and is SIGKILLed at a random moment — during
start-up, model loading, a training step, a checkpoint or record write, or the final save. To keep rounds short the
process is forked from one that has already imported torch and the service, and the HTTP layer is left out
(``test_app_crash.py`` kills the real app). Jobs checkpoint after every iteration here, so kills also land inside
checkpoint writes. Figures go to test-artifacts/kill_loop.json (quoted in the README).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import pytest
import torch

from contraclip_core.jobs import JobStore
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.methods.registry import REQUEST_CHECKS

from .service_driver import ROOT, Zygote

ROUNDS = 20
SUBMIT_EVERY = 4  # a new job in every 4th round (5 jobs)

SENTENCES = [("a red shape", "a blue shape"), ("a circle", "a square"), ("a large shape", "a small shape"),
             ("a shape on the left", "a shape on the right"), ("a triangle", "a circle"), ("a green shape", "a red shape")]


def progress(data: Path) -> int:
    """Iterations recorded over all jobs (a record is saved at every checkpoint here)."""
    return sum(j.iteration for j in JobStore(data / "jobs", REQUEST_CHECKS).all())


def active(data: Path) -> bool:
    return any(j.status in ("queued", "running") for j in JobStore(data / "jobs", REQUEST_CHECKS).all())


def check_invariants(data: Path, trained: dict[str, str]) -> dict[str, str]:
    """Every record reads, every checkpoint loads, every finished path set loads; none finished earlier is lost."""
    jobs, unreadable = JobStore(data / "jobs", REQUEST_CHECKS).scan()
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
    moments = {"start-up": 0, "job pick-up and model loading": 0, "training steps and checkpoint writes": 0}
    killed_with_a_job_running = 0  # by the job records right after the kill
    submitted = confirmed = 0  # submissions asked for / known to have been made (the process said "up")
    startups: list[float] = []
    zygote = Zygote()  # forks each round's process with torch already imported: rounds cost seconds, not imports
    for round_ in range(ROUNDS):
        args: tuple[str, ...] = ()
        if round_ % SUBMIT_EVERY == 0:
            a, b = SENTENCES[submitted % len(SENTENCES)]
            args = (a, b, str(rng.choice([60, 80, 100])))  # long enough that kills land mid-training on a fast machine too
            submitted += 1
        t0 = time.monotonic()
        pid = zygote.start(tmp_path, *args)
        moment = rng.random()
        if moment < 0.15:  # during start-up (the lock, the resume of queued jobs, the submission itself)
            moments["start-up"] += 1
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            zygote.wait_up(pid)
            startups.append(time.monotonic() - t0)
            confirmed += bool(args)
            if moment < 0.3:  # while the worker picks a job up and loads the models
                moments["job pick-up and model loading"] += 1
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # inside training: once an iteration (and its checkpoint) is done, somewhere in the next one(s)
                moments["training steps and checkpoint writes"] += 1
                done_before = progress(tmp_path)
                deadline = time.monotonic() + 30
                while active(tmp_path) and progress(tmp_path) == done_before and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 1.0))
        zygote.kill(pid)
        killed_with_a_job_running += any(j.status == "running" for j in JobStore(tmp_path / "jobs", REQUEST_CHECKS).all())
        trained = check_invariants(tmp_path, trained)
    loop_s = time.monotonic() - start

    pid = zygote.start(tmp_path)  # the last start: nobody kills it, every job must end
    try:
        zygote.wait_up(pid)
        deadline = time.monotonic() + 600
        while active(tmp_path):
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        zygote.kill(pid)
        zygote.close()
    trained = check_invariants(tmp_path, trained)
    jobs = JobStore(tmp_path / "jobs", REQUEST_CHECKS).all()
    assert confirmed <= len(jobs) <= submitted == ROUNDS // SUBMIT_EVERY  # a kill may land before a submission
    for job in jobs:
        assert job.status == "done" or (job.status == "failed" and job.error), job
    assert {j.id for j in jobs if j.status == "done"} <= set(trained)
    result = {"rounds": ROUNDS, "jobs": len(jobs), "done": sum(j.status == "done" for j in jobs),
              "failed": sum(j.status == "failed" for j in jobs), "kill_moments": moments,
              "kills_with_a_job_running": killed_with_a_job_running,
              "resumed_from_checkpoint": sum(j.resumed_from > 0 for j in jobs), "loop_s": round(loop_s, 1),
              "mean_start_s": round(sum(startups) / len(startups), 2),
              "total_s": round(time.monotonic() - start, 1), "date": time.strftime("%Y-%m-%d")}
    print(result)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "kill_loop.json").write_text(json.dumps(result, indent=1))
    assert killed_with_a_job_running >= ROUNDS // 4  # the loop really killed training, not only idle processes
