"""The plain-typed facade the app (and scripts) call: generators, CLIP models, the methods' actions, training jobs.

Every public method takes and returns plain Python values (str, int, float, lists, dicts, file paths) and raises
``ServiceError`` with a sentence for the user when the input is wrong; nothing here knows about Gradio. The methods
come from the registry (``methods.registry.METHODS``): ``service.method(name)`` is a method's actions (ContraCLIP's
paths and traversals, CF-CLIP's edits, the mappers' anchors), ``service.submit(kind, …)`` queues a training job of
any kind, and the job queue, its listing, cancel and delete are the same for every kind.

Every job belongs to the visitor who asked for it (``visitors.py``): the job-facing methods take a ``visitor``
(default ``LOCAL``, the machine's own user, who owns everything in an app that is not public). In a public app a
visitor sees, cancels and deletes only their own jobs, sees their own results plus the shared ones, and is held to
the quotas of ``inputs.LIMITS`` (``fairness.py``).
"""
from __future__ import annotations

import math
import os
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from . import costs, hub, registry
from . import precision as precision_mod
from .anchors import AnchorStore
from .datadir import DataDir
from .errors import ContraCLIPError, RecordError
from .fairness import Admission, folder_bytes, retention
from .generators.base import Generator
from .inputs import LIMITS, ServiceError, check_generator
from .jobs import Job, JobQueue, JobStore, PriorityGate
from .live import read_loss_curve
from .artefact import DEFAULT_DATA, Artefact
from .method import MethodActions
from .methods.registry import GUESSES, KINDS, METHODS, REQUEST_CHECKS, TOOLS
from .visitors import LOCAL, Visitor, identify, is_public, is_space_owner
from . import zerogpu

OUTPUTS = "outputs"  # <data>/outputs/: generated files (strips, GIFs, anchors), swept after LIMITS["output_ttl_s"]


def _device(device: str | None) -> str:
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class Service:
    """One per process. ``data_dir`` holds jobs, what they trained (one folder per method, from the registry) and
    generated files; it is checked and locked on creation (``DataDirError``, a ``ContraCLIPError``, says in one
    sentence why it cannot be used) and released by ``close()``."""

    def __init__(self, data_dir: str | Path | None = None, device: str | None = None, start_worker: bool = True,
                 precision: str | None = None, public: bool | None = None, gpu_chunks: bool | None = None):
        self.data_dir = Path(data_dir or os.environ.get("CONTRACLIP_DATA", DEFAULT_DATA))
        self.data = DataDir.open(self.data_dir, ("jobs", OUTPUTS, *(m.results for m in METHODS.values())))
        self.outputs_dir = self.data_dir / OUTPUTS
        self.anchors = AnchorStore(self.outputs_dir, self.generator)  # codes a traversal or an edit starts from
        self.device = _device(device)
        try:  # None: $CONTRACLIP_PRECISION, else chosen per generator (precision.py)
            self.precision_override = precision if precision is None else (precision_mod.parse_override(precision)
                                                                           or "auto")
        except ValueError as e:
            self.data.close()
            raise ServiceError(str(e)) from e
        self._precisions: dict[tuple[str, str], precision_mod.Precision] = {}
        self._models: dict[str, Any] = {}
        self._model_lock = threading.Lock()
        self.gate = PriorityGate()
        self.public = is_public() if public is None else public  # strangers share this process: quotas apply
        self.admission = Admission(LIMITS["interactive_slots"])
        # ZeroGPU: a GPU exists only inside a visitor's request, so jobs advance in chunks those requests start
        # (train_chunk); the background worker, which would train on the CPU for hours, is not started
        self.gpu_chunks = zerogpu.available() if gpu_chunks is None else gpu_chunks
        self.actions: dict[str, Any] = {name: m.actions(self) for name, m in METHODS.items()}  # MethodActions
        self.actions.update({name: t.actions(self, GUESSES) for name, t in TOOLS.items()})  # tools: no job kind
        self.by_kind: dict[str, MethodActions] = {m.kind: self.actions[name] for name, m in METHODS.items()}
        try:
            store = JobStore(self.data_dir / "jobs", REQUEST_CHECKS)
            self.queue = JobQueue(store, self._run_job, LIMITS["max_queue"], self.gate, LIMITS["training_min_share"])
        except BaseException:
            self.data.close()
            raise
        if start_worker and not self.gpu_chunks:
            self.queue.start()

    # --- visitors -------------------------------------------------------------------------------------------------
    def visitor(self, token: str | None, username: str | None = None, secret: str | None = None) -> Visitor:
        """The visitor behind a request (``visitors.identify``); ``ServiceError`` for a token the page never made."""
        try:
            return identify(token, username, secret, public=self.public)
        except ValueError as e:
            raise ServiceError(str(e)) from e

    @contextmanager
    def interactive(self, visitor: Visitor = LOCAL) -> Iterator[None]:
        """Around an interactive request: admitted (one per visitor, a few in all, in a public app: else
        ``BusyError``, a ``ServiceError`` saying when to try again), and training pauses meanwhile (up to its
        guaranteed share)."""
        with self.admission.enter(visitor.id, limited=self.public and not visitor.admin), self.gate.interactive():
            yield

    def trained_here(self, artefact: type[Artefact], results: Path, visitor: Visitor = LOCAL) -> list[tuple[str, Path]]:
        """The folders of ``artefact`` trained in this app that ``visitor`` may use, oldest first, each with its origin:
        "trained here" (theirs; everything for an admin) or "shared" (another visitor's, shared by its owner)."""
        owners = {j.id: (j.owner, j.shared) for j in self.queue.store.all()}
        out = []
        for folder in artefact.local(results):
            owner, shared = owners.get(folder.name, ("", False))  # results without a record: the machine's user
            if visitor.admin or owner == visitor.id:
                out.append(("trained here", folder))
            elif shared:
                out.append(("shared", folder))
        return out

    def method(self, name: str) -> Any:
        """A method's actions (``methods/<name>/service.py``), e.g. ``method("contraclip").traverse(…)``."""
        try:
            return self.actions[name]
        except KeyError:
            raise ServiceError(f"unknown method {name!r}; the methods are {sorted(self.actions)}") from None

    # --- generators ---------------------------------------------------------------------------------------------
    def generators(self) -> list[dict[str, Any]]:
        """Every catalogue generator, grouped by domain, with its picker label and whether it can be used here."""
        rows = []
        for name in registry.canonical_names():
            preset = registry.GENERATORS[name]
            ok, reason = self.availability(name)
            rows.append({"name": name, "description": preset.description, "label": registry.generator_label(name),
                         "domain": preset.domain, "resolution": preset.resolution, "download_mb": preset.download_mb,
                         "available": ok, "reason": reason})
        return rows

    def check_trainable(self, name: Any) -> None:
        """A catalogue generator that can be used here (``ServiceError`` with the reason otherwise)."""
        ok, reason = self.availability(check_generator(name))
        if not ok:
            raise ServiceError(f"{name} cannot be trained here: {reason}")

    def availability(self, name: str) -> tuple[bool, str]:
        preset = registry.GENERATORS[name]
        if not preset.needs_hub or name in self._models:
            return True, ""
        try:
            from huggingface_hub import try_to_load_from_cache

            f = hub.parse_hf_url(preset.source)
            if isinstance(try_to_load_from_cache(f.repo_id, f.filename, revision=f.revision), str):
                return True, "cached"
        except Exception:  # noqa: BLE001 - availability is advisory
            pass
        if hub.endpoint_reachable(timeout=1.5):
            return True, "downloads from the Hub on first use"
        return False, "needs the Hugging Face Hub, which cannot be reached here (the Shapes world works offline)"

    def generator(self, name: str, device: str | None = None) -> Generator:
        """A catalogue generator on ``device`` (default: the app's), loaded once per process and device."""
        from .generators import from_pretrained

        check_generator(name)
        device = device or self.device
        key = f"generator:{registry.GENERATORS[name].source}" + ("" if device == self.device else f"@{device}")
        return self.cached(key, lambda: from_pretrained(name, device=device))

    def add_generator(self, source: str, clip: str | None = None) -> str:
        """Put a user's generator in the picker for this process: ``source`` is any checkpoint ``from_pretrained``
        reads (our folder, a rosinality ``.pt``, an NVIDIA ``.pkl``, a genforce ProgGAN; local or ``hf://``), with
        the CLIP its paths are trained with (a registry name or any source ``load_clip`` reads; default OpenAI's
        ViT-B/32). Both are loaded now, so a bad file is a sentence at start-up. Returns its catalogue name."""
        from pathlib import PurePath

        from .generators import from_pretrained

        stem = PurePath(str(source).rstrip("/")).name.split(".")[0] or "generator"
        name = "yours-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in stem.lower())[:40]
        g = self.cached(f"generator:{source}", lambda: from_pretrained(str(source), device=self.device))
        clip = clip or "ViT-B-32/openai"
        self.clip(clip)
        space = "w+" if "w+" in g.spaces else "z"
        preset = registry.GeneratorPreset(
            source=str(source), arch="", layout="", config={}, needs_hub=str(source).startswith("hf://"),
            description=f"your generator {PurePath(str(source)).name}, {g.resolution}×{g.resolution}",
            default_space=space, default_layers=max(0, g.num_ws - 7) if space == "w+" else 0,
            default_truncation=0.7 if space == "w+" else 1.0, clip=clip, domain="yours", resolution=g.resolution)
        try:
            registry.add_generator(name, preset)
        except ValueError as e:
            raise ServiceError(str(e)) from e
        return name

    def precision(self, name: str, device: str | None = None) -> precision_mod.Precision:
        """The precision ``name`` renders and trains in on ``device`` (default: the app's): chosen (and measured
        where there is a candidate) on first use, logged, and reused."""
        device = device or self.device
        g = self.generator(name, device)
        with self._model_lock:
            if (name, device) not in self._precisions:
                try:
                    self._precisions[name, device] = precision_mod.select(g, device, self.precision_override)
                except ValueError as e:  # a bad $CONTRACLIP_PRECISION
                    raise ServiceError(str(e)) from e
            return self._precisions[name, device]

    def clip(self, name: str, device: str | None = None):
        """A CLIP model (registry name or any source ``load_clip`` reads) on ``device``, loaded once."""
        from .clip import load_clip

        device = device or self.device
        key = f"clip:{name}" + ("" if device == self.device else f"@{device}")
        return self.cached(key, lambda: load_clip(name, device=device))

    def cached(self, key: str, load) -> Any:
        """Load a model once per process; loader errors become ServiceErrors."""
        with self._model_lock:
            if key not in self._models:
                try:
                    self._models[key] = load()
                except ContraCLIPError as e:
                    raise ServiceError(str(e)) from e
            return self._models[key]

    def clean_outputs(self) -> int:
        """Delete generated files (anchors included) older than ``LIMITS['output_ttl_s']``; returns how many."""
        cutoff, removed = time.time() - LIMITS["output_ttl_s"], 0
        for f in list(self.outputs_dir.rglob("*")):
            try:
                if f.is_file() and f.stat().st_mtime < cutoff:
                    f.unlink(missing_ok=True)
                    removed += 1
            except OSError:
                continue  # removed meanwhile by another request's sweep
        return removed

    # --- training jobs --------------------------------------------------------------------------------------------
    def submit(self, kind: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Queue a training job of ``kind`` (a method's job kind: "paths", "edit", "mapper"); the other arguments
        are that method's ``submit``'s. Returns the job's row (and what the method adds, e.g. a ``warning``)."""
        if kind not in self.by_kind:
            raise ServiceError(f"unknown job kind {kind!r}; the kinds are {sorted(self.by_kind)}")
        return self.by_kind[kind].submit(*args, **kwargs)

    def enqueue(self, kind: str, request: dict[str, Any], total: int, visitor: Visitor = LOCAL) -> dict[str, Any]:
        """Put a checked request on the queue as ``visitor``'s job of ``kind`` (for the methods' ``submit``), within
        the visitor's quotas; its row."""
        limited = self.public and not visitor.admin
        if limited and total > LIMITS["visitor_max_iterations"]:
            raise ServiceError(f"{total} iterations is more than a visitor's job may train here (at most "
                               f"{LIMITS['visitor_max_iterations']}); ask for fewer")
        self.enforce_storage()
        try:
            job = self.queue.submit(request, total=total, kind=kind, owner=visitor.id,
                                    max_per_owner=LIMITS["max_active_per_visitor"] if limited else None)
        except ValueError as e:
            raise ServiceError(str(e)) from e
        return self.job_row(job)

    def _run_job(self, job: Job, report, device: str | None = None) -> str:
        try:
            return self.by_kind[job.kind].run_job(job, report, device)  # the store reads registered kinds only
        finally:
            self.enforce_storage()

    def train_chunk(self, job_id: str, visitor: Visitor = LOCAL, seconds: float | None = None,
                    device: str = "cuda") -> dict[str, Any]:
        """Advance the visitor's queued job for about ``seconds`` (``LIMITS['gpu_chunk_s']``) on ``device``, in this
        thread: on ZeroGPU the caller is a request wrapped in ``spaces.GPU`` (``zerogpu.chunk_runner``). It resumes
        from the job's checkpoint and stops with one, so chunk after chunk trains the very path one run would."""
        job = self._own(job_id, visitor, "trained")
        if job.status != "queued":
            return self.job_row(job)
        return self.job_row(self.queue.run_chunk(job.id, seconds or LIMITS["gpu_chunk_s"], device))

    def note(self, job_id: str, text: str) -> None:
        """Say on a waiting job's card where it stands (e.g. the GPU quota is used up); plain text."""
        def change(job: Job) -> bool:
            if job.status != "queued":
                return False
            job.note = text[:1000]
            return True

        try:
            self.queue.store.update(str(job_id), change)
        except (KeyError, RecordError):
            pass  # deleted meanwhile: nothing to say

    def job_bytes(self, job: Job) -> int:
        """What a job holds on disk: its folder and what it trained."""
        return folder_bytes(self.queue.store.folder(job.id)) + folder_bytes(self.data_dir / KINDS[job.kind].results
                                                                             / job.id)

    def enforce_storage(self) -> list[str]:
        """In a public app, remove finished jobs (with their results) until every visitor's jobs and all jobs fit
        their storage caps (``fairness.retention``: unshared and oldest first, never pinned, never the Space
        owner's); the removed ids."""
        if not self.public:
            return []
        mb = 1024 * 1024
        chosen = retention(self.queue.store.all(), self.job_bytes, LIMITS["visitor_storage_mb"] * mb,
                           LIMITS["storage_mb"] * mb, exempt=is_space_owner)
        for job in chosen:
            self._remove(job)
        return [j.id for j in chosen]

    def job(self, job_id: str, visitor: Visitor = LOCAL) -> dict[str, Any]:
        """The visitor's job's row (``ServiceError`` "no job …" for one that is not theirs or does not exist)."""
        return self.job_row(self._own(job_id, visitor, "read"))

    def _own(self, job_id: Any, visitor: Visitor, what: str) -> Job:
        """``visitor``'s job (any job for an admin); someone else's is answered as if it did not exist."""
        try:
            job = self.queue.store.load(str(job_id))
        except KeyError:
            raise ServiceError(f"no job {job_id!r}") from None
        except RecordError as e:
            raise ServiceError(f"job {job_id!r} cannot be {what}: {e}") from e
        if not (visitor.admin or job.owner == visitor.id):
            raise ServiceError(f"no job {job_id!r}")
        return job

    def _remove(self, job: Job) -> None:
        trained = self.data_dir / KINDS[job.kind].results / job.id
        if trained.is_dir():
            shutil.rmtree(trained)
        shutil.rmtree(self.queue.store.folder(job.id), ignore_errors=True)

    def loss_curve(self, job_id: str, visitor: Visitor = LOCAL) -> list[tuple[int, float]]:
        """A job's loss curve so far as (iteration, mean loss) pairs; [] when there is none (yet)."""
        try:
            return read_loss_curve(self.queue.store.folder(self._own(job_id, visitor, "read").id))
        except (KeyError, ServiceError):
            return []

    def jobs(self, visitor: Visitor = LOCAL) -> list[dict[str, Any]]:
        """The visitor's jobs (everybody's for an admin), newest first, then (for an admin) one row per unreadable
        record (status ``"unreadable"``, the reason in ``error``); an unreadable record is left on disk as it is."""
        jobs, unreadable = self.queue.store.scan()
        mine = [j for j in jobs if visitor.admin or j.owner == visitor.id]
        unreadable = unreadable if visitor.admin else []
        return [self.job_row(j) for j in reversed(mine)] + [
            {"id": u.id, "dipoles": "", "generator": "", "status": "unreadable", "iteration": None, "total": None,
             "loss": None, "eta_s": None, "error": u.reason, "resumed_from": None, "seconds": None, "preview": ""}
            for u in unreadable]

    def unreadable_jobs(self) -> list[dict[str, str]]:
        """Job records that could not be read: ``{"id", "file", "reason"}`` each (files are never deleted)."""
        return [{"id": u.id, "file": u.file, "reason": u.reason} for u in self.queue.store.unreadable()]

    def job_row(self, job: Job) -> dict[str, Any]:
        preview = self.queue.store.folder(job.id) / "preview.png"
        label = self.by_kind[job.kind].job_label(job)
        # Training time: start to finish of one uninterrupted run (a resumed job's span includes the time it was down)
        seconds = job.finished - job.started if job.status == "done" and job.started and job.finished \
            and not job.resumed_from else None
        return {"id": job.id, "dipoles": label, "generator": job.request.get("generator", ""),
                "status": job.status, "iteration": job.iteration, "total": job.total,
                "loss": None if job.loss is None or not math.isfinite(job.loss) else round(job.loss, 4),
                "eta_s": None if job.eta_s is None else round(job.eta_s, 1), "error": job.error,
                "resumed_from": job.resumed_from, "seconds": seconds, "shared": job.shared, "pinned": job.pinned,
                "note": job.note, "gpu_eta_s": self.gpu_eta(job),
                "preview": str(preview) if preview.is_file() else ""}

    def gpu_eta(self, job: Job) -> float | None:
        """For an unfinished job trained on a CPU: seconds its remaining iterations would take on a GPU (costs.py:
        its counted FLOPs per iteration at ``costs.GPU``'s rate); None on a GPU, when done, or before it has run."""
        if torch.device(self.device).type != "cpu" or job.status not in ("queued", "running"):
            return None
        seconds = costs.gpu_seconds(job.flops, job.total - job.iteration)
        return None if seconds is None else round(seconds, 1)

    def cancel(self, job_id: str, visitor: Visitor = LOCAL) -> dict[str, Any]:
        """Cancel the visitor's job: at once when queued, after its current iteration when running."""
        job = self._own(job_id, visitor, "cancelled")
        try:
            return self.job_row(self.queue.cancel(job.id))
        except KeyError:
            raise ServiceError(f"no job {job_id!r}") from None
        except RecordError as e:
            raise ServiceError(f"job {job_id!r} cannot be cancelled: {e}") from e

    def share(self, job_id: str, visitor: Visitor = LOCAL, shared: bool = True) -> dict[str, Any]:
        """Show (or stop showing) what the visitor's finished job trained to every visitor."""
        job = self._own(job_id, visitor, "shared")
        if job.status != "done":
            raise ServiceError(f"job {job_id} is {job.status}: only a finished job's result can be shared")
        return self.job_row(self.queue.store.update(job.id, lambda j: setattr(j, "shared", bool(shared))))

    def pin(self, job_id: str, visitor: Visitor = LOCAL, pinned: bool = True) -> dict[str, Any]:
        """Keep a job whatever the storage caps (the Space's owner only)."""
        if not visitor.admin:
            raise ServiceError("only the Space's owner can pin a job")
        job = self._own(job_id, visitor, "pinned")
        return self.job_row(self.queue.store.update(job.id, lambda j: setattr(j, "pinned", bool(pinned))))

    def delete_job(self, job_id: str, visitor: Visitor = LOCAL) -> dict[str, Any]:
        """Delete the visitor's finished (done, failed or cancelled) job: its folder and what it trained, whatever
        its kind. Returns the job as it was. Queued or running jobs are refused: cancel them first."""
        job = self._own(job_id, visitor, "deleted")
        row = self.job_row(job)
        if row["status"] in ("queued", "running"):
            raise ServiceError(f"job {job_id} is still {row['status']}: cancel it first, then delete it")
        self._remove(job)
        return row

    def close(self) -> None:
        """Stop the training worker (a running job is re-queued for the next start) and release the data folder."""
        self.queue.stop()
        self.data.close()
