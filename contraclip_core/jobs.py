"""Background training jobs: a persistent store and a single-worker queue.

Each job lives in its own folder ``<root>/<job id>/`` holding ``job.json`` (status, request, progress, timing,
error, result), the trainer's ``checkpoint.pt`` and a ``preview.png``; every write is atomic (temp file + rename),
so a crash at any moment leaves the last consistent state. On start, jobs that were queued or running are queued
again and resume from their checkpoints. Status: queued → running → done | failed | cancelled.

Interactive work has priority: while any ``priority.interactive()`` block is open, the worker pauses between
iterations, so a traversal never waits behind a training step for more than one iteration.
"""
from __future__ import annotations

import errno
import json
import sys
import threading
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .atomic import atomic_write_bytes
from .errors import RecordError
from .records import Fields, read_json

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
MAX_ITERATIONS = 10**9  # no record may claim more iterations than this
RequestCheck = Callable[[Any, str], "dict[str, Any]"]  # (decoded request, where it was read) -> checked request


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
    kind: str = "paths"  # what the job trains: a method's job kind (methods.registry), which runs it
    owner: str = ""  # who asked for it: a visitor id (visitors.py); "" is the machine's own user (CLI, local app)
    shared: bool = False  # its owner shows what it trained to every visitor
    pinned: bool = False  # the Space's owner keeps it: storage retention never removes it
    note: str = ""  # where a waiting job stands, for its card (e.g. "the GPU quota is used up: …")
    flops: float | None = None  # FLOPs of one iteration where it trains (costs.py): what a GPU would take

    @classmethod
    def from_json(cls, obj: Any, source: str, checks: Mapping[str, RequestCheck]) -> "Job":
        """A job from its decoded ``job.json``, every field checked; ``RecordError`` names the first bad one.
        ``checks``: each known job kind's request check. Unknown fields are ignored (records written by a newer
        version stay readable); a record without a kind is a path-training job (the only kind before kinds)."""
        f = Fields(obj, source, "a job record (a JSON object)")
        kind = f.text("kind", choices=tuple(checks), default="paths")
        job = cls(
            id=f.text("id", max_chars=64, nonempty=True),
            kind=kind,
            owner=f.text("owner", max_chars=200, default=""),
            shared=f.flag("shared", default=False),
            pinned=f.flag("pinned", default=False),
            note=f.text("note", max_chars=1000, default=""),
            request=checks[kind](f.mapping("request"), f"{source}: 'request'"),
            status=f.text("status", choices=STATUSES),
            iteration=f.number("iteration", 0, MAX_ITERATIONS, integer=True, default=0),
            total=f.number("total", 0, MAX_ITERATIONS, integer=True, default=0),
            loss=f.number("loss", nullable=True, finite=False, default=None),  # NaN is a (bad) training result
            eta_s=f.number("eta_s", 0, 1e9, nullable=True, default=None),
            created=f.number("created", 0, 1e11),
            started=f.number("started", 0, 1e11, nullable=True, default=None),
            finished=f.number("finished", 0, 1e11, nullable=True, default=None),
            error=f.text("error", default=""),
            result=f.text("result", max_chars=4096, default=""),
            cancel_requested=f.flag("cancel_requested", default=False),
            resumed_from=f.number("resumed_from", 0, MAX_ITERATIONS, integer=True, default=0),
            flops=f.number("flops", 0, 1e18, nullable=True, default=None),
        )
        if job.iteration > job.total or job.resumed_from > job.total:
            raise RecordError(f"{source}: 'iteration' ({job.iteration}) and 'resumed_from' ({job.resumed_from}) "
                              f"must not exceed 'total' ({job.total})")
        return job


@dataclass
class Unreadable:
    """A job folder whose record could not be read; it is left on disk as it is."""

    id: str  # the folder's name
    file: str  # the record, relative to the data folder (``jobs/<id>/job.json``)
    reason: str  # one sentence: what is wrong with it


def failure_message(e: BaseException) -> str:
    """One sentence for a job that failed with ``e``."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return (f"the disk is full: writing {e.filename or 'a checkpoint or record'} failed (free some space, "
                "then train again; the last checkpoint was kept)")
    return f"{type(e).__name__}: {e}"


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
    """Jobs on disk, one folder each. ``checks``: the request check of every job kind this store may hold (a record
    of another kind is listed as unreadable, never run)."""

    def __init__(self, root: str | Path, checks: Mapping[str, RequestCheck]):
        self.root = Path(root)
        self.checks = dict(checks)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()  # held while a record is read, changed and written

    def folder(self, job_id: str) -> Path:
        if not job_id or any(c not in "0123456789abcdef-" for c in job_id):
            raise KeyError(f"no job {job_id!r}")
        return self.root / job_id

    def save(self, job: Job) -> None:
        """Write a new record (or one no other thread can be changing: start-up). Changes go through ``update``."""
        with self.lock:
            self._write(job)

    def _write(self, job: Job) -> None:
        atomic_write_bytes(self.folder(job.id) / "job.json", (json.dumps(asdict(job), indent=1) + "\n").encode())

    def update(self, job_id: str, change: Callable[[Job], bool | None]) -> Job:
        """Read the record, let ``change`` edit it, save it — all under the store's lock, so two writers (the worker
        saving progress, a visitor cancelling) never overwrite each other's fields. ``change`` returning False
        leaves the record as it was on disk. Returns the job as it now is."""
        with self.lock:
            job = self.load(job_id)
            if change(job) is not False:
                self._write(job)
            return job

    def source(self, job_id: str) -> str:
        """How a record is named in messages: ``jobs/<id>/job.json``."""
        return f"{self.root.name}/{job_id}/job.json"

    def load(self, job_id: str) -> Job:
        """The job's record, checked; ``KeyError`` if there is none, ``RecordError`` if it is damaged."""
        path = self.folder(job_id) / "job.json"
        if not path.is_file():
            raise KeyError(f"no job {job_id!r}")
        source = self.source(job_id)
        job = Job.from_json(read_json(path, source), source, self.checks)
        if job.id != job_id:
            raise RecordError(f"{source}: 'id' is {job.id!r}, not the folder's name {job_id!r}")
        return job

    def scan(self) -> tuple[list[Job], list[Unreadable]]:
        """Every job folder: the readable jobs (oldest first) and the unreadable records with the reason each."""
        jobs, unreadable = [], []
        for folder in sorted(self.root.iterdir()):
            if not (folder / "job.json").is_file():
                continue  # not a job folder (or one whose first record was never written): leave it alone
            try:
                jobs.append(self.load(folder.name))
            except KeyError:  # a folder name that cannot be a job id
                unreadable.append(Unreadable(folder.name, self.source(folder.name), "not a job id"))
            except RecordError as e:
                unreadable.append(Unreadable(folder.name, self.source(folder.name), str(e)))
        return sorted(jobs, key=lambda j: j.created), unreadable

    def all(self) -> list[Job]:
        return self.scan()[0]

    def unreadable(self) -> list[Unreadable]:
        return self.scan()[1]


class JobQueue:
    """One worker thread running jobs, taking turns between owners (round-robin: the next job is the oldest queued
    one of the owner served least recently), so one visitor's queue never holds everybody else's.

    Args:
        store: where jobs persist.
        run: ``run(job, report, device)`` trains the job on ``device`` (None: the app's own) and returns the result
            folder; it calls ``report(iteration, total, loss, eta_s, flops)`` as it goes, which returns False once
            the job should stop (cancelled, shutting down, or a chunk's time is up).
        max_active: most jobs queued or running at once; more submissions are refused with a clear message.
        gate: the priority gate the worker respects between iterations.
        min_share: the share of time training keeps under interactive load: after an iteration that took t seconds
            the worker waits for interactive requests at most t·(1 − min_share)/min_share seconds.
    """

    def __init__(self, store: JobStore, run: Callable[[Job, Callable[..., bool], str | None], str], max_active: int = 8,
                 gate: PriorityGate | None = None, min_share: float = 0.25):
        self.store, self.run, self.max_active, self.min_share = store, run, max_active, min_share
        self.gate = gate or PriorityGate()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cancel_asked: set[str] = set()  # ids cancelled while running (also in their records)
        self._served: dict[str, float] = {}  # owner → when the worker last started one of their jobs
        self.on_pick: Callable[[Job], None] | None = None  # called between choosing a job and starting it (tests)
        for job in store.all():  # resume what a previous process left unfinished
            if job.status == "running":
                store.update(job.id, lambda j: setattr(j, "status", "cancelled" if j.cancel_requested else "queued"))

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

    def submit(self, request: dict[str, Any], total: int, kind: str = "paths", owner: str = "",
               max_per_owner: int | None = None) -> Job:
        """A new queued job; ``ValueError`` with a sentence when the queue, or the owner's share of it, is full."""
        with self.store.lock:
            active = [j for j in self.store.all() if j.status in ACTIVE]
            if len(active) >= self.max_active:
                raise ValueError(f"the training queue is full ({len(active)} jobs waiting or running); "
                                 "try again when one finishes, or cancel one")
            mine = [j for j in active if j.owner == owner]
            if max_per_owner is not None and len(mine) >= max_per_owner:
                raise ValueError(f"you already have {len(mine)} jobs waiting or running (at most {max_per_owner} "
                                 "at a time); wait for one to finish, or cancel one")
            job_id = uuid.uuid4().hex[:12]
            while self.store.folder(job_id).exists():  # never overwrite a folder, not even an unreadable one
                job_id = uuid.uuid4().hex[:12]
            job = Job(id=job_id, request=request, total=total, kind=kind, owner=owner)
            self.store.save(job)
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, a running one after its current iteration (under the store's lock: a
        worker picking the job up, or saving its progress, cannot undo it)."""
        def change(job: Job) -> bool:
            if job.status == "queued":
                job.status, job.finished = "cancelled", time.time()
            elif job.status == "running":
                job.cancel_requested = True  # the worker stops after its current iteration
                self._cancel_asked.add(job.id)
            else:
                return False
            return True

        return self.store.update(job_id, change)

    def _next(self) -> Job | None:
        queued = [j for j in self.store.all() if j.status == "queued"]  # oldest first
        if not queued:
            return None
        return min(queued, key=lambda j: (self._served.get(j.owner, -1.0), j.created))

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self._next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._run_one(job)
            except Exception:  # noqa: BLE001 - e.g. the record cannot be saved (disk full): keep the worker alive
                print(f"contraclip: training worker: job {job.id}:\n{traceback.format_exc()}", file=sys.stderr)
                self._wake.wait(1.0)

    def run_chunk(self, job_id: str, seconds: float, device: str | None = None) -> Job:
        """Advance one queued job for about ``seconds`` on ``device`` in the calling thread (a ZeroGPU request, where
        the background worker has no GPU): it resumes from its checkpoint, stops after the iteration that passes the
        time, checkpoints, and goes back to "queued" until the next chunk — or ends done / cancelled / failed.
        A job that is not queued (running elsewhere, finished) is returned as it is."""
        job = self.store.load(job_id)
        if job.status == "queued":
            self._run_one(job, deadline=time.monotonic() + seconds, device=device)
        return self.store.load(job_id)

    def _run_one(self, picked: Job, deadline: float | None = None, device: str | None = None) -> None:
        if self.on_pick is not None:
            self.on_pick(picked)

        taken = [False]

        def start(job: Job) -> bool:
            if job.status != "queued":  # cancelled, or taken by another run (a second chunk request), since picked
                return False
            job.status, job.started, job.error, job.note = "running", job.started or time.time(), "", ""
            taken[0] = True
            return True

        job = self.store.update(picked.id, start)
        if not taken[0]:  # only the run that moved it from queued to running trains it
            return
        self._served[job.owner] = time.monotonic()
        last_save, last_step = [0.0], [time.monotonic()]

        def progress(disk: Job) -> None:  # the worker's fields onto the record; the cancel flag comes from disk
            disk.iteration, disk.total, disk.loss, disk.eta_s = job.iteration, job.total, job.loss, job.eta_s
            disk.resumed_from, disk.flops = job.resumed_from, job.flops
            job.cancel_requested = disk.cancel_requested

        def report(iteration: int, total: int, loss: float, eta_s: float, flops: float | None = None) -> bool:
            job.iteration, job.total, job.loss, job.eta_s = iteration, total, loss, eta_s
            job.flops = flops or job.flops
            now = time.monotonic()
            if now - last_save[0] > 0.5 or iteration == total:
                self.store.update(job.id, progress)
                last_save[0] = now
            job.cancel_requested = job.cancel_requested or job.id in self._cancel_asked
            if deadline is not None:  # a chunk: its time is up after this iteration
                return not (job.cancel_requested or time.monotonic() >= deadline)
            step = now - last_step[0]  # this iteration's time: training keeps min_share of the time
            self.gate.wait_idle(timeout=min(30.0, step * (1 - self.min_share) / self.min_share))
            last_step[0] = time.monotonic()
            return not (job.cancel_requested or self._stop.is_set())

        try:
            result = self.run(job, report, device)
        except Exception as e:  # a failed job must not kill the worker: record it for the user
            message = failure_message(e)
            try:
                (self.store.folder(job.id) / "error.log").write_text(traceback.format_exc())
            except OSError:
                pass  # the record below carries the message; the log is a convenience

            def failed(disk: Job) -> None:
                progress(disk)
                disk.status, disk.finished, disk.error = "failed", time.time(), message

            self.store.update(job.id, failed)
            return

        def finish(disk: Job) -> None:
            progress(disk)
            if disk.cancel_requested:
                disk.status, disk.finished = "cancelled", time.time()
            elif job.iteration < job.total and (self._stop.is_set() or deadline is not None):
                disk.status = "queued"  # shutting down, or a chunk's time is up: resume from the checkpoint
            else:
                disk.status, disk.finished, disk.result = "done", time.time(), result

        self.store.update(job.id, finish)
