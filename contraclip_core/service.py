"""The plain-typed facade the app (and scripts) call: generators, paths, traversals, training jobs.

Every public method takes and returns plain Python values (str, int, float, lists, dicts, file paths) and raises
``ServiceError`` with a sentence for the user when the input is wrong; nothing here knows about Gradio.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from . import hub, registry
from . import precision as precision_mod
from .anchors import AnchorsMixin
from .datadir import DataDir
from .errors import ContraCLIPError, RecordError
from .inputs import LIMITS, ServiceError, check_number, check_sentence, parse_seeds  # noqa: F401  (app, tests)
from .generators.base import Generator
from .jobs import Job, JobQueue, JobStore, PriorityGate
from . import pathset
from .pathset import META_NAME, PathSet
from . import objectives, presentation
from .live import read_loss_curve
from .pathset_meta import PathSetMeta
from .presentation import EXAMPLES, Example
from .profile import path_profile, plot_profile
from .traversal import save_frames, save_gif, save_mp4, strip, traverse_iter
from .vocabulary import vocabulary_warning  # noqa: F401  (the app imports it from here)

PRERENDERED = hub.PROJECT_ROOT / "checkpoints" / "shapes" / "example"  # EXAMPLES[0], by scripts/render_example.py
MAX_FRAME_SIZE = 512  # frame-by-frame images are at native resolution up to this size
HUB_PATHS_TTL_S = 600  # how long a Hub path-set listing (or the reason there is none) is reused
ORIGIN_TAGS = {"shipped": "shipped", "Hub": "hub", "trained here": "local"}
@dataclass
class PathChoice:
    id: str  # "<origin>:<set folder>:<index>"
    label: str  # "first sentence ↔ second sentence"
    origin: str  # "shipped" | "Hub" | "trained here"
    generator: str
    folder: Path
    index: int


def _device(device: str | None) -> str:
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class Service(AnchorsMixin):
    """One per process. ``data_dir`` holds jobs, locally trained paths and generated files; it is checked and
    locked on creation (``DataDirError``, a ``ContraCLIPError``, says in one sentence why it cannot be used) and
    released by ``close()``."""


    def __init__(self, data_dir: str | Path | None = None, device: str | None = None, start_worker: bool = True,
                 precision: str | None = None):
        self.data_dir = Path(data_dir or os.environ.get("CONTRACLIP_DATA", hub.PROJECT_ROOT / "checkpoints" / "local"))
        self.data = DataDir.open(self.data_dir)  # checked, writable and ours alone; DataDirError otherwise
        self.paths_dir = self.data_dir / "paths"
        self.outputs_dir = self.data_dir / "outputs"
        self.device = _device(device)
        try:  # None: $CONTRACLIP_PRECISION, else chosen per generator (precision.py)
            self.precision_override = precision if precision is None else (precision_mod.parse_override(precision)
                                                                           or "auto")
        except ValueError as e:
            raise ServiceError(str(e)) from e
        self._precisions: dict[str, precision_mod.Precision] = {}
        self._models: dict[str, Any] = {}
        self._hub_paths: dict[str, tuple[float, list[Path], str]] = {}  # generator → (when, folders, why none)
        self._hub_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self.gate = PriorityGate()
        # Job kinds: what a job of each kind runs (its record's request is checked by jobs.REQUEST_CHECKS).
        from .cfclip.service import EditActions
        from .path_training import PathTraining

        self.training = PathTraining(self)  # "Train": ContraCLIP / linear paths from two sentences
        self.edits = EditActions(self)  # "Edit by a sentence": CF-CLIP edit models, their edits and training
        self.job_kinds = {"paths": self.training.run_job, "mapper": self._run_mapper_job, "edit": self.edits.run_job}
        try:
            self.queue = JobQueue(JobStore(self.data_dir / "jobs"), self._run_job, LIMITS["max_queue"], self.gate)
        except BaseException:
            self.data.close()
            raise
        if start_worker:
            self.queue.start()

    # --- generators ---------------------------------------------------------------------------------------------
    def generators(self) -> list[dict[str, Any]]:
        """Every catalogue generator, grouped by domain, with its picker label and whether it can be used here."""
        rows = []
        for name in registry.canonical_names():
            preset = registry.GENERATORS[name]
            ok, reason = self._availability(name)
            rows.append({"name": name, "description": preset.description, "label": registry.generator_label(name),
                         "domain": preset.domain, "resolution": preset.resolution, "download_mb": preset.download_mb,
                         "available": ok, "reason": reason})
        return rows

    def _availability(self, name: str) -> tuple[bool, str]:
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

    def generator(self, name: str) -> Generator:
        from .generators import from_pretrained

        if name not in registry.GENERATORS:
            raise ServiceError(f"unknown generator {name!r}; choose one of {sorted(registry.GENERATORS)}")
        return self._cached(f"generator:{registry.GENERATORS[name].source}",
                            lambda: from_pretrained(name, device=self.device))

    def precision(self, name: str) -> precision_mod.Precision:
        """The precision ``name`` renders and trains in here: chosen (and measured where there is a candidate) on
        first use, logged, and reused."""
        g = self.generator(name)
        with self._model_lock:
            if name not in self._precisions:
                try:
                    self._precisions[name] = precision_mod.select(g, self.device, self.precision_override)
                except ValueError as e:  # a bad $CONTRACLIP_PRECISION
                    raise ServiceError(str(e)) from e
            return self._precisions[name]

    def clip(self, name: str):
        from .clip import load_clip

        return self._cached(f"clip:{name}", lambda: load_clip(name, device=self.device))

    def _cached(self, key: str, load) -> Any:
        """Load a model once per process; loader errors become ServiceErrors."""
        with self._model_lock:
            if key not in self._models:
                try:
                    self._models[key] = load()
                except ContraCLIPError as e:
                    raise ServiceError(str(e)) from e
            return self._models[key]

    # --- paths ----------------------------------------------------------------------------------------------------
    def _path_folders(self, generator: str | None) -> list[tuple[str, Path]]:
        shipped = [("shipped", f) for f in pathset.shipped_sets()]
        names = [generator] if generator in registry.GENERATORS else list(self._hub_paths)
        from_hub = [("Hub", f) for name in names for f in self.hub_paths(name)[0]]
        local = [("trained here", p.parent) for p in sorted(self.paths_dir.glob(f"*/{META_NAME}"),
                                                           key=lambda p: p.stat().st_mtime)]
        return shipped + from_hub + local

    def hub_paths(self, generator: str) -> tuple[list[Path], str]:
        """The generator's pre-trained path sets from the Hub (cached folders), and why there are none if so.

        Looked up once per ``HUB_PATHS_TTL_S``; an unreachable Hub with nothing cached is a note, not an error.
        """
        with self._hub_lock:
            cached = self._hub_paths.get(generator)
            if cached and time.monotonic() - cached[0] < HUB_PATHS_TTL_S:
                return cached[1], cached[2]
            try:
                folders, why = pathset.hub_sets(generator), ""
            except ContraCLIPError as e:
                folders, why = [], str(e)
            self._hub_paths[generator] = (time.monotonic(), folders, why)
            return folders, why

    def paths(self, generator: str | None = None) -> list[PathChoice]:
        """Every path usable with ``generator`` (all generators when None): shipped, then Hub, then trained here."""
        choices = []
        for origin, folder in self._path_folders(generator):
            try:
                meta = PathSetMeta.read(folder, META_NAME)
            except RecordError:
                continue  # a damaged path file is skipped, not fatal (loading it says why)
            gen, dipoles = meta.generator, meta.dipoles
            how = objectives.label_suffix(meta.settings.get("objective", "plain"), meta.method == "linear")
            if generator is not None and not pathset.same_generator(gen, generator):
                continue
            tag = ORIGIN_TAGS[origin]
            for k, (a, b) in enumerate(dipoles):
                label = f"{a} ↔ {b}{how}"  # e.g. "… (linear, PAE)"
                choices.append(PathChoice(f"{tag}:{folder.name}:{k}", label, origin, gen, folder, k))
        return presentation.distinct_labels(choices)

    def examples(self) -> list[tuple[Example, str]]:
        """The one-click examples (``presentation.EXAMPLES``) whose paths are here, each with its path's label."""
        labels = {p.id: p.label for gen in {e.generator for e in EXAMPLES} for p in self.paths(gen)}
        return [(e, labels[e.path_id]) for e in EXAMPLES if e.path_id in labels]

    def prerendered_example(self) -> dict[str, Any] | None:
        """The first example's GIF and strip rendered ahead of time (shown on the first screen), with its path's
        label and seeds; None when the files or the example's path are missing."""
        gif, strip_png = PRERENDERED / "example.gif", PRERENDERED / "example.png"
        examples = dict((e, label) for e, label in self.examples())
        if not (gif.is_file() and strip_png.is_file()) or EXAMPLES[0] not in examples:
            return None
        return {"gif": str(gif), "strip": str(strip_png), "label": examples[EXAMPLES[0]], "seeds": EXAMPLES[0].seeds}

    def _path(self, generator: str, path_id: str) -> PathChoice:
        for choice in self.paths(generator):
            if choice.id == path_id:
                return choice
        raise ServiceError(f"unknown path {path_id!r} for generator {generator!r}; pick one from the list")

    # --- traversal ------------------------------------------------------------------------------------------------
    def traverse(self, generator: str, path_id: str, seeds: Any = "0", truncation: Any = None, steps: Any = 8,
                 step_size: Any = None, anchor: Any = None) -> dict[str, Any]:
        """Render a path from each seed (or from ``anchor``, an id from ``anchor_from_text``/``anchor_from_image``,
        instead of the seeds): strip PNG, GIF, MP4 and per-step frame paths, the profile plot, how long it took, and
        in what precision."""
        for result in self.traverse_stream(generator, path_id, seeds, truncation, steps, step_size, anchor):
            pass
        return result

    def traverse_stream(self, generator: str, path_id: str, seeds: Any = "0", truncation: Any = None,
                        steps: Any = 8, step_size: Any = None, anchor: Any = None) -> Iterator[dict[str, Any]]:
        """``traverse``, streamed: yields ``{"stage": "rendering", "done", "total", "strip", "seconds"}`` once the
        anchors are rendered and after each further batch of frames (the strip PNG so far, unrendered frames grey),
        then the final result (``"stage": "done"``, as ``traverse`` returns)."""
        start = time.monotonic()
        seed_list = [0] if anchor else parse_seeds(seeds)
        steps = check_number(steps, "steps", 1, LIMITS["max_steps"], integer=True)
        if generator not in registry.GENERATORS:
            raise ServiceError(f"unknown generator {generator!r}; choose one of {sorted(registry.GENERATORS)}")
        preset = registry.GENERATORS[generator]
        eta = preset.step_size if step_size in (None, "") else check_number(step_size, "step size", 1e-3,
                                                                          20 * preset.step_size)
        choice = self._path(generator, str(path_id))
        with self.gate.interactive():
            g = self.generator(generator)
            pixels = len(seed_list) * (2 * steps + 1) * g.resolution**2
            if pixels > LIMITS["max_frame_pixels"]:
                raise ServiceError(f"{len(seed_list)} seeds × {2 * steps + 1} frames at {g.resolution}×{g.resolution} "
                                   "is more than one request may render; ask for fewer seeds or steps")
            try:
                path_set = PathSet.load(choice.folder, device=self.device)
                path_set.check_fits(g, f"the path set {choice.folder.name!r}", generator)
            except ContraCLIPError as e:
                raise ServiceError(str(e)) from e
            psi = path_set.truncation if truncation in (None, "") else check_number(truncation, "truncation ψ", 0, 1.5)
            anchors = self.anchor_in_space(generator, anchor, path_set.space) if anchor else None
            mode = self.precision(generator)
            slug = "".join(c if c.isalnum() else "-" for c in f"{generator}_{choice.label}".lower()).strip("-")
            slug = "-".join(filter(None, slug.split("-")))[:80]
            rows = f"anchor-{str(anchor)[:8]}" if anchor else f"seeds-{'-'.join(map(str, seed_list))}"
            stem = self.outputs_dir / f"{slug}_{rows}_{time.time_ns() % 10**9}"
            strip_path = stem.with_suffix(".png")
            # a request that renders quickly (≤ one chunk of pixels: all of Shapes) goes in one batch, unstreamed
            chunk = max(1, min(32, LIMITS["stream_chunk_pixels"] // g.resolution**2))
            total = len(seed_list) * (2 * steps + 1)
            stream = pixels > LIMITS["stream_chunk_pixels"]
            frames = traverse_iter(g, path_set, choice.index, seed_list, steps=steps, step_size=eta, truncation=psi,
                                   batch_size=chunk if stream else 32, anchors_first=stream, anchors=anchors)
            final = None
            while True:
                with mode.context(self.device):  # only around rendering: autocast must not leak into the consumer
                    t = next(frames, None)
                if t is None:
                    break
                final = t
                if t.rendered is not None:
                    partial = stem.with_name(f"{stem.name}_{t.rendered}.png")
                    strip(t, thumb=min(g.resolution, 128)).save(partial)
                    yield {"stage": "rendering", "done": t.rendered, "total": total, "strip": str(partial),
                           "seconds": round(time.monotonic() - start, 3)}
            self.clean_outputs()
            strip(final, thumb=min(g.resolution, 128)).save(strip_path)
            gif = save_gif(final, stem.with_suffix(".gif"), thumb=min(g.resolution, 256))
            mp4 = save_mp4(final, stem.with_suffix(".mp4"), thumb=min(g.resolution, 256))
            frames = [str(f) for f in save_frames(final, stem, thumb=min(g.resolution, MAX_FRAME_SIZE))]
            profile_path = stem.with_name(stem.name + "_profile.png")
            try:
                plot_profile(self.profile(generator, path_set, final)).save(profile_path)
            except ContraCLIPError:  # no CLIP here (e.g. it needs the Hub): the traversal itself still stands
                profile_path = None
        yield {"stage": "done", "strip": str(strip_path), "gif": str(gif), "mp4": str(mp4), "frames": frames,
               "steps": final.steps, "label": choice.label, "seeds": seed_list,
               "profile": str(profile_path) if profile_path else None, "seconds": round(time.monotonic() - start, 3),
               "precision": mode.describe()}

    def profile(self, generator: str, path_set: PathSet, t) -> Any:
        """What the traversal ``t`` changes per step: CLIP similarity to both sentences; Shapes: every attribute."""
        g = self.generator(generator)
        clip_name = path_set.settings.get("clip") or registry.GENERATORS[generator].clip
        clip = self.clip(clip_name)
        std = None
        if hasattr(g, "attributes"):
            from .evaluate import population_attributes

            key = f"population:{generator}:{path_set.view.space}:{path_set.truncation}"
            std = self._cached(key, lambda: {k: float(v.std()) for k, v in population_attributes(
                g, path_set.view.space, path_set.truncation, n=2000).items()})
        return path_profile(t, g, clip, path_set.view.space, std)

    def clean_outputs(self) -> int:
        """Delete generated files older than ``LIMITS['output_ttl_s']``; returns how many."""
        cutoff, removed = time.time() - LIMITS["output_ttl_s"], 0
        for f in self.outputs_dir.iterdir():
            if f.is_file() and f.stat().st_mtime < cutoff:
                f.unlink(missing_ok=True)
                removed += 1
        return removed

    # --- training jobs --------------------------------------------------------------------------------------------
    def submit_training(self, generator: str, first: Any = "", second: Any = "", corpus: str | None = None,
                        preset: str = "quick", iterations: Any = None, lr: Any = None, loss: str | None = None,
                        seed: Any = 0, objective: str | None = None) -> dict[str, Any]:
        """Queue a path-training job (``PathTraining.submit``): one typed dipole or a corpus."""
        return self.training.submit(generator, first, second, corpus, preset, iterations, lr, loss, seed, objective)

    def _run_job(self, job: Job, report) -> str:
        return self.job_kinds[job.kind](job, report)  # Job.from_json accepts registered kinds only

    def loss_curve(self, job_id: str) -> list[tuple[int, float]]:
        """A job's loss curve so far as (iteration, mean loss) pairs; [] when there is none (yet)."""
        try:
            return read_loss_curve(self.queue.store.folder(str(job_id)))
        except KeyError:
            return []

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, newest first, then one row per unreadable record (status ``"unreadable"``, the reason in
        ``error``); an unreadable record is left on disk as it is."""
        jobs, unreadable = self.queue.store.scan()
        return [self.job_row(j) for j in reversed(jobs)] + [
            {"id": u.id, "dipoles": "", "generator": "", "status": "unreadable", "iteration": None, "total": None,
             "loss": None, "eta_s": None, "error": u.reason, "resumed_from": None, "seconds": None, "preview": ""}
            for u in unreadable]

    def unreadable_jobs(self) -> list[dict[str, str]]:
        """Job records that could not be read: ``{"id", "file", "reason"}`` each (files are never deleted)."""
        return [{"id": u.id, "file": u.file, "reason": u.reason} for u in self.queue.store.unreadable()]

    def job_row(self, job: Job) -> dict[str, Any]:
        preview = self.queue.store.folder(job.id) / "preview.png"
        label = job.label + objectives.label_suffix(job.request.get("overrides", {}).get("objective", "plain"))
        # Training time: start to finish of one uninterrupted run (a resumed job's span includes the time it was down)
        seconds = job.finished - job.started if job.status == "done" and job.started and job.finished \
            and not job.resumed_from else None
        return {"id": job.id, "dipoles": label, "generator": job.request.get("generator", ""),
                "status": job.status, "iteration": job.iteration, "total": job.total,
                "loss": None if job.loss is None or not math.isfinite(job.loss) else round(job.loss, 4),
                "eta_s": None if job.eta_s is None else round(job.eta_s, 1), "error": job.error,
                "resumed_from": job.resumed_from, "seconds": seconds,
                "preview": str(preview) if preview.is_file() else ""}

    def cancel(self, job_id: str) -> dict[str, Any]:
        try:
            return self.job_row(self.queue.cancel(str(job_id)))
        except KeyError:
            raise ServiceError(f"no job {job_id!r}") from None
        except RecordError as e:
            raise ServiceError(f"job {job_id!r} cannot be cancelled: {e}") from e

    def delete_job(self, job_id: str) -> dict[str, Any]:
        """Delete a finished (done, failed or cancelled) job: its folder and the path set it trained. Returns the
        job as it was. Queued or running jobs are refused: cancel them first."""
        import shutil

        try:
            row = self.job_row(self.queue.store.load(str(job_id)))
        except KeyError:
            raise ServiceError(f"no job {job_id!r}") from None
        if row["status"] in ("queued", "running"):
            raise ServiceError(f"job {job_id} is still {row['status']}: cancel it first, then delete it")
        trained = self.paths_dir / row["id"]
        if trained.is_dir():
            shutil.rmtree(trained)
        shutil.rmtree(self.queue.store.folder(row["id"]), ignore_errors=True)
        return row

    def close(self) -> None:
        """Stop the training worker (a running job is re-queued for the next start) and release the data folder."""
        self.queue.stop()
        self.data.close()
