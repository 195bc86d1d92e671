"""Background training jobs: a persistent store and a single-worker queue.

Each job lives in its own folder ``<root>/<job id>/`` holding ``job.json`` (status, request, progress, timing,
error, result), the trainer's ``checkpoint.pt`` and a ``preview.png``; every write is atomic (temp file + rename),
so a crash at any moment leaves the last consistent state. On start, jobs that were queued or running are queued
again and resume from their checkpoints. Status: queued → running → done | failed | cancelled.

Interactive work has priority: while any ``priority.interactive()`` block is open, the worker pauses between
iterations, so a traversal never waits behind a training step for more than one iteration.
"""
from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .generators.loading import _atomic_write_bytes

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")


@dataclass
class Job:
    id: str
    request: dict[str, Any]  # what the user asked for (generator, dipoles, preset, overrides) — plain JSON
    status: str = "queued"
    iteration: int = 0
    total: int = 0
    loss: float | None = None
    eta_s: float | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str = ""  # a message for the user when failed
    result: str = ""  # folder of the trained path set when done
    cancel_requested: bool = False
    resumed_from: int = 0  # iteration of the checkpoint the last run started from (0: a fresh start)
    kind: str = "paths"  # what the job trains: a key of the service's job-kind registry ("paths", "edit")

    @property
    def label(self) -> str:
        dipoles = self.request.get("dipoles") or []
        return "; ".join(f"{a} ↔ {b}" for a, b in dipoles) or self.request.get("label") or self.request.get("corpus", "")


class PriorityGate:
    """Interactive requests hold the gate open; the training worker waits while any is in flight."""

    def __init__(self) -> None:
        self._active = 0
        self._cond = threading.Condition()

    @contextmanager
    def interactive(self) -> Iterator[None]:
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout=timeout)


class JobStore:
    """Jobs on disk, one folder each."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def folder(self, job_id: str) -> Path:
        if not job_id or any(c not in "0123456789abcdef-" for c in job_id):
            raise KeyError(f"no job {job_id!r}")
        return self.root / job_id

    def save(self, job: Job) -> None:
        with self._lock:
            _atomic_write_bytes(self.folder(job.id) / "job.json", (json.dumps(asdict(job), indent=1) + "\n").encode())

    def load(self, job_id: str) -> Job:
        path = self.folder(job_id) / "job.json"
        if not path.is_file():
            raise KeyError(f"no job {job_id!r}")
        data = json.loads(path.read_text())
        known = set(Job.__dataclass_fields__)
        return Job(**{k: v for k, v in data.items() if k in known})

    def all(self) -> list[Job]:
        jobs = []
        for folder in self.root.iterdir():
            if (folder / "job.json").is_file():
                try:
                    jobs.append(self.load(folder.name))
                except (json.JSONDecodeError, TypeError, KeyError):
                    continue  # a foreign or damaged folder: leave it alone
        return sorted(jobs, key=lambda j: j.created)


class JobQueue:
    """One worker thread running jobs in submission order.

    Args:
        store: where jobs persist.
        run: ``run(job, report)`` trains the job and returns the result folder; it calls ``report(iteration, total,
            loss, eta_s)`` as it goes, which returns False once the job should stop (cancelled or shutting down).
        max_active: most jobs queued or running at once; more submissions are refused with a clear message.
        gate: the priority gate the worker respects between iterations.
    """

    def __init__(self, store: JobStore, run: Callable[[Job, Callable[..., bool]], str], max_active: int = 8,
                 gate: PriorityGate | None = None):
        self.store, self.run, self.max_active = store, run, max_active
        self.gate = gate or PriorityGate()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cancelled: set[str] = set()  # ids whose cancel was asked while running
        for job in store.all():  # resume what a previous process left unfinished
            if job.status == "running":
                job.status = "cancelled" if job.cancel_requested else "queued"
                store.save(job)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="contraclip-training", daemon=True)
            self._thread.start()
            self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, request: dict[str, Any], total: int, kind: str = "paths") -> Job:
        active = [j for j in self.store.all() if j.status in ACTIVE]
        if len(active) >= self.max_active:
            raise ValueError(f"the training queue is full ({len(active)} jobs waiting or running); "
                             "try again when one finishes, or cancel one")
        job = Job(id=uuid.uuid4().hex[:12], request=request, total=total, kind=kind)
        self.store.save(job)
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.store.load(job_id)
        if job.status == "queued":
            job.status, job.finished = "cancelled", time.time()
        elif job.status == "running":
            self._cancelled.add(job_id)  # the worker stops after its current iteration
            job.cancel_requested = True
        self.store.save(job)
        return job

    def _next(self) -> Job | None:
        queued = [j for j in self.store.all() if j.status == "queued"]
        return queued[0] if queued else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self._next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run_one(job)

    def _run_one(self, job: Job) -> None:
        job.status, job.started, job.error = "running", job.started or time.time(), ""
        self.store.save(job)
        last_save = [0.0]

        def report(iteration: int, total: int, loss: float, eta_s: float) -> bool:
            job.iteration, job.total, job.loss, job.eta_s = iteration, total, loss, eta_s
            now = time.monotonic()
            job.cancel_requested = job.cancel_requested or job.id in self._cancelled
            if now - last_save[0] > 0.5 or iteration == total or job.cancel_requested:
                self.store.save(job)
                last_save[0] = now
            self.gate.wait_idle()
            return not (job.cancel_requested or self._stop.is_set())

        try:
            result = self.run(job, report)
        except Exception as e:  # a failed job must not kill the worker: record it for the user
            job.status, job.finished = "failed", time.time()
            job.error = f"{type(e).__name__}: {e}"
            (self.store.folder(job.id) / "error.log").write_text(traceback.format_exc())
            self.store.save(job)
            return
        if self._stop.is_set() and not job.cancel_requested and job.iteration < job.total:
            job.status = "queued"  # shutting down: resume next start
        elif job.cancel_requested:
            job.status, job.finished = "cancelled", time.time()
        else:
            job.status, job.finished, job.result = "done", time.time(), result
        self.store.save(job)
