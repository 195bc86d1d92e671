"""ContraCLIP's service actions: the paths usable with a generator (shipped, Hub, trained here), traversals of a
path from seeds or an anchor, and path-training jobs (job kind "paths") for two typed sentences or a corpus, with a
live preview. Plain-typed like ``Service``; errors are ``ServiceError`` sentences.
"""
from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch

from ... import hub, registry
from ...artefact import ORIGIN_TAGS, picker_label, same_generator
from ...atomic import atomic_write_bytes
from ...errors import ContraCLIPError, RecordError
from ...examples import EXAMPLES, Example
from ...generators.base import Generator
from ...inputs import LIMITS, ServiceError, check_generator, check_number, check_sentence, parse_seeds
from ...jobs import MAX_ITERATIONS
from ...live import LiveOutputs
from ...media import save_frames, save_gif, save_mp4, strip
from ...records import Fields
from ...visitors import LOCAL, Visitor
from ...vocabulary import sentence_warning, vocabulary_warning
from . import artefact, objectives, presets
from .artefact import META_NAME, PathSet
from .profile import path_profile, plot_profile
from .record import PathSetMeta
from .traversal import traverse, traverse_iter

if TYPE_CHECKING:
    from ...jobs import Job
    from ...service import Service

RESULTS = "paths"  # <data>/paths/<job id>/: the path set a job trained
PRERENDERED = hub.PROJECT_ROOT / "checkpoints" / "shapes" / "example"  # EXAMPLES[0], by scripts/render_example.py
MAX_FRAME_SIZE = 512  # frame-by-frame images are at native resolution up to this size
HUB_PATHS_TTL_S = 600  # how long a Hub path-set listing (or the reason there is none) is reused
MAX_DIPOLES = 256  # dipoles one job record may hold
OVERRIDES = {"iterations", "lr", "loss", "objective"}  # the training settings a request may override


@dataclass
class PathChoice:
    id: str  # "<origin tag>:<set folder>:<index>"
    label: str  # "first sentence ↔ second sentence"
    origin: str  # "shipped" | "Hub" | "trained here"
    generator: str
    folder: Path
    index: int


def check_request(obj: Any, source: str) -> dict[str, Any]:
    """A path-training request as stored in a job record (see ``PathActions.submit``), checked field by field."""
    f = Fields(obj, source)
    request = {
        "generator": f.text("generator", max_chars=1000, nonempty=True),
        "dipoles": [list(d) for d in f.sentence_pairs("dipoles", min_len=1, max_len=MAX_DIPOLES)],
        "corpus": f.text("corpus", max_chars=200, default=""),
        "preset": f.text("preset", choices=("quick", "paper")),
        "seed": f.number("seed", 0, 2**63 - 1, integer=True, default=0),
    }
    o = f.sub("overrides", default={})
    unknown = sorted(set(o.obj) - OVERRIDES)
    if unknown:
        raise RecordError(f"{source}: 'overrides' has unknown setting(s) {unknown}; known: {sorted(OVERRIDES)}")
    overrides: dict[str, Any] = {}
    if "iterations" in o.obj:
        overrides["iterations"] = o.number("iterations", 1, MAX_ITERATIONS, integer=True)
    if "lr" in o.obj:
        overrides["lr"] = o.number("lr", 1e-12, 10.0)
    if "loss" in o.obj:
        overrides["loss"] = o.text("loss", choices=("contrastive", "cosine"))
    if "objective" in o.obj:
        overrides["objective"] = o.text("objective", choices=tuple(objectives.OBJECTIVES))
    request["overrides"] = overrides
    return request


def distinct_labels(choices: list[PathChoice]) -> list[PathChoice]:
    """Picker choices where a path whose sentences an earlier entry of the same origin already has — a single-dipole
    red/blue set after the corpus set's red/blue, two trainings of one dipole — gets its set's folder name after the
    label, so the dropdown tells them apart; the first keeps its plain label, and the picker's [origin] tag separates
    the rest."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c in choices:
        key = (c.label, c.origin)
        out.append(replace(c, label=f"{c.label} · {c.folder.name}") if key in seen else c)
        seen.add(key)
    return out


class PathActions:
    """ContraCLIP for one ``Service``: it shares the service's generators, CLIP models, gate and job queue."""

    kind = "paths"

    def __init__(self, service: "Service"):
        self.service = service
        self.results = service.data_dir / RESULTS
        self._hub_paths: dict[str, tuple[float, list[Path], str]] = {}  # generator → (when, folders, why none)
        self._hub_lock = threading.Lock()

    # --- paths ----------------------------------------------------------------------------------------------------
    def hub_paths(self, generator: str) -> tuple[list[Path], str]:
        """The generator's pre-trained path sets from the Hub (cached folders), and why there are none if so.

        Looked up once per ``HUB_PATHS_TTL_S``; an unreachable Hub with nothing cached is a note, not an error.
        """
        with self._hub_lock:
            cached = self._hub_paths.get(generator)
            if cached and time.monotonic() - cached[0] < HUB_PATHS_TTL_S:
                return cached[1], cached[2]
            try:
                folders, why = artefact.hub_sets(generator), ""
            except ContraCLIPError as e:
                folders, why = [], str(e)
            self._hub_paths[generator] = (time.monotonic(), folders, why)
            return folders, why

    def _folders(self, generator: str | None, visitor: Visitor) -> list[tuple[str, Path]]:
        shipped = [("shipped", f) for f in PathSet.shipped()]
        names = [generator] if generator in registry.GENERATORS else list(self._hub_paths)
        from_hub = [("Hub", f) for name in names for f in self.hub_paths(name)[0]]
        return shipped + from_hub + self.service.trained_here(PathSet, self.results, visitor)

    def paths(self, generator: str | None = None, visitor: Visitor = LOCAL) -> list[PathChoice]:
        """Every path usable with ``generator`` (all generators when None) by ``visitor``: shipped, then Hub, then
        trained here (theirs, then the ones other visitors shared). Sentences that were typed (every origin but
        shipped) have their square brackets shown as parentheses, so no label can carry a fake origin tag."""
        choices = []
        for origin, folder in self._folders(generator, visitor):
            try:
                meta = PathSetMeta.read(folder, META_NAME)
            except RecordError:
                continue  # a damaged path file is skipped, not fatal (loading it says why)
            if generator is not None and not same_generator(meta.generator, generator):
                continue
            how = objectives.label_suffix(meta.settings.get("objective", "plain"), meta.method == "linear",
                                          usual=presets.quick_objective(meta.generator))
            for k, (a, b) in enumerate(meta.dipoles):
                choices.append(PathChoice(f"{ORIGIN_TAGS[origin]}:{folder.name}:{k}",
                                          picker_label(f"{a} ↔ {b}{how}", origin), origin, meta.generator, folder, k))
        return distinct_labels(choices)

    def path(self, generator: str, path_id: str, visitor: Visitor = LOCAL) -> PathChoice:
        for choice in self.paths(generator, visitor):
            if choice.id == path_id:
                return choice
        raise ServiceError(f"unknown path {path_id!r} for generator {generator!r}; pick one from the list")

    def examples(self) -> list[tuple[Example, str]]:
        """The one-click examples (``examples.EXAMPLES``) whose paths are here, each with its path's label."""
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

    # --- traversal ------------------------------------------------------------------------------------------------
    def traverse(self, generator: str, path_id: str, seeds: Any = "0", truncation: Any = None, steps: Any = 8,
                 step_size: Any = None, anchor: Any = None, visitor: Visitor = LOCAL) -> dict[str, Any]:
        """Render a path from each seed (or from ``anchor``, an id of ``service.anchors``: a sentence's, a
        picture's, a projection's, instead of the seeds): strip PNG, GIF, MP4 and per-step frame paths, the profile
        plot, how long it took, and in what precision."""
        for result in self.traverse_stream(generator, path_id, seeds, truncation, steps, step_size, anchor, visitor):
            pass
        return result

    def traverse_stream(self, generator: str, path_id: str, seeds: Any = "0", truncation: Any = None,
                        steps: Any = 8, step_size: Any = None, anchor: Any = None,
                        visitor: Visitor = LOCAL) -> Iterator[dict[str, Any]]:
        """``traverse``, streamed: yields ``{"stage": "rendering", "done", "total", "strip", "seconds"}`` once the
        anchors are rendered and after each further batch of frames (the strip PNG so far, unrendered frames grey),
        then the final result (``"stage": "done"``, as ``traverse`` returns)."""
        service = self.service
        start = time.monotonic()
        seed_list = [0] if anchor else parse_seeds(seeds)
        steps = check_number(steps, "steps", 1, LIMITS["max_steps"], integer=True)
        preset = registry.GENERATORS[check_generator(generator)]
        eta = preset.step_size if step_size in (None, "") else check_number(step_size, "step size", 1e-3,
                                                                          20 * preset.step_size)
        choice = self.path(generator, str(path_id), visitor)
        with service.interactive(visitor):
            g = service.generator(generator)
            pixels = len(seed_list) * (2 * steps + 1) * g.resolution**2
            if pixels > LIMITS["max_frame_pixels"]:
                raise ServiceError(f"{len(seed_list)} seeds × {2 * steps + 1} frames at {g.resolution}×{g.resolution} "
                                   "is more than one request may render; ask for fewer seeds or steps")
            try:
                path_set = PathSet.load(choice.folder, device=service.device)
                path_set.check_fits(g, f"the path set {choice.folder.name!r}", generator)
            except ContraCLIPError as e:
                raise ServiceError(str(e)) from e
            psi = path_set.truncation if truncation in (None, "") else check_number(truncation, "truncation ψ", 0, 1.5)
            anchors = service.anchors.in_space(generator, anchor, path_set.space) if anchor else None
            mode = service.precision(generator)
            slug = "".join(c if c.isalnum() else "-" for c in f"{generator}_{choice.label}".lower()).strip("-")
            slug = "-".join(filter(None, slug.split("-")))[:80]
            rows = f"anchor-{str(anchor)[:8]}" if anchor else f"seeds-{'-'.join(map(str, seed_list))}"
            stem = service.outputs_dir / f"{slug}_{rows}_{time.time_ns() % 10**9}"
            strip_path = stem.with_suffix(".png")
            # a request that renders quickly (≤ one chunk of pixels: all of Shapes) goes in one batch, unstreamed
            chunk = max(1, min(32, LIMITS["stream_chunk_pixels"] // g.resolution**2))
            total = len(seed_list) * (2 * steps + 1)
            stream = pixels > LIMITS["stream_chunk_pixels"]
            frames = traverse_iter(g, path_set, choice.index, seed_list, steps=steps, step_size=eta, truncation=psi,
                                   batch_size=chunk if stream else 32, anchors_first=stream, anchors=anchors)
            final = None
            while True:
                with mode.context(service.device):  # only around rendering: autocast must not leak into the consumer
                    t = next(frames, None)
                if t is None:
                    break
                final = t
                if t.rendered is not None:
                    partial = stem.with_name(f"{stem.name}_{t.rendered}.png")
                    strip(t, thumb=min(g.resolution, 128)).save(partial)
                    yield {"stage": "rendering", "done": t.rendered, "total": total, "strip": str(partial),
                           "seconds": round(time.monotonic() - start, 3)}
            service.clean_outputs()
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
        g = self.service.generator(generator)
        clip = self.service.clip(path_set.settings.get("clip") or registry.GENERATORS[generator].clip)
        std = None
        if hasattr(g, "attributes"):
            from ...groundtruth import population_attributes

            key = f"population:{generator}:{path_set.view.space}:{path_set.truncation}"
            std = self.service.cached(key, lambda: {k: float(v.std()) for k, v in population_attributes(
                g, path_set.view.space, path_set.truncation, n=2000).items()})
        return path_profile(t, g, clip, path_set.view.space, std)

    # --- training jobs (job kind "paths") -------------------------------------------------------------------------
    def submit(self, generator: str, first: Any = "", second: Any = "", corpus: str | None = None,
               preset: str = "quick", iterations: Any = None, lr: Any = None, loss: str | None = None,
               seed: Any = 0, objective: str | None = None, visitor: Visitor = LOCAL) -> dict[str, Any]:
        """Queue ``visitor``'s training job for one typed dipole (or a pre-defined corpus); returns the job as a
        dict, with a ``warning`` ("" or sentences: words the generator's CLIP does not know, words past its
        context). Two sentences its CLIP reads as the same are refused."""
        self.service.check_trainable(generator)
        if preset not in ("quick", "paper"):
            raise ServiceError(f"preset must be 'quick' or 'paper', got {preset!r}")
        if corpus:
            if corpus not in registry.CORPORA:
                raise ServiceError(f"unknown corpus {corpus!r}; choose one of {sorted(registry.CORPORA)}")
            dipoles = None
        else:
            a, b = check_sentence(first, "the first sentence"), check_sentence(second, "the second sentence")
            if a.lower() == b.lower():
                raise ServiceError("the two sentences are the same: a path needs two contrasting sentences")
            dipoles = [(a, b)]
        config = presets.train_config(generator, preset, dipoles=dipoles, corpus=corpus or None,
                                      seed=check_number(seed, "seed", 0, LIMITS["max_seed"], integer=True))
        overrides: dict[str, Any] = {}
        blank = lambda v: v is None or (isinstance(v, str) and not v.strip())  # noqa: E731
        if not blank(iterations):
            overrides["iterations"] = check_number(iterations, "iterations", 1, LIMITS["max_iterations"], integer=True)
        if not blank(lr):
            overrides["lr"] = check_number(lr, "learning rate", 1e-6, 1.0)
        if loss:
            if loss not in ("contrastive", "cosine"):
                raise ServiceError(f"loss must be 'contrastive' or 'cosine', got {loss!r}")
            overrides["loss"] = loss
        if objective:
            if objective not in objectives.OBJECTIVES:
                raise ServiceError(f"objective must be one of {sorted(objectives.OBJECTIVES)}, got {objective!r}")
            try:
                objectives.OBJECTIVES[objective].check(generator)  # refused now, not as a failed job later
            except ValueError as e:
                raise ServiceError(str(e)) from None
            overrides["objective"] = objective
        request = {"generator": generator, "dipoles": [list(d) for d in config.dipoles], "corpus": corpus or "",
                   "preset": preset, "seed": config.seed, "overrides": overrides}
        past = sentence_warning(generator, dipoles or [])  # ServiceError when the two read the same
        row = self.service.enqueue(self.kind, request, total=overrides.get("iterations", config.iterations),
                                   visitor=visitor)
        row["warning"] = " ".join(filter(None, [vocabulary_warning(generator, *(s for d in config.dipoles for s in d)),
                                                past]))
        return row

    @staticmethod
    def dipoles_label(job: "Job") -> str:
        return "; ".join(f"{a} ↔ {b}" for a, b in job.request.get("dipoles") or []) or job.request.get("corpus", "")

    def job_label(self, job: "Job") -> str:
        """The job's dipoles, and the objective when it is neither plain nor the generator's usual one (as the path
        picker names it)."""
        usual = presets.quick_objective(job.request.get("generator", ""))
        return self.dipoles_label(job) + objectives.label_suffix(
            job.request.get("overrides", {}).get("objective", "plain"), usual=usual)

    def run_job(self, job: "Job", report, device: str | None = None) -> str:
        """Job kind "paths": train on ``device`` (None: the app's), resuming from the job's checkpoint; save the path
        set to ``<data>/paths/<job id>``; "" when stopped early (the checkpoint stays for the next run)."""
        req = job.request
        config = presets.train_config(req["generator"], req["preset"], dipoles=[tuple(d) for d in req["dipoles"]],
                                      seed=int(req.get("seed", 0)))
        for key, value in req.get("overrides", {}).items():
            setattr(config, key, value)
        from .train import Trainer

        generator = self.service.generator(req["generator"], device)
        clip = self.service.clip(config.resolved().clip, device)
        trainer = Trainer(config, generator, clip)
        folder = self.service.queue.store.folder(job.id)
        checkpoint = folder / "checkpoint.pt"
        live = LiveOutputs(folder, lambda out: self.preview(generator, trainer.path_set(), out))
        if not checkpoint.is_file():
            live.update(0, config.iterations, [])  # the preview appears before the first (slow) iteration

        def callback(p) -> bool:
            job.resumed_from = trainer.resumed_from
            live.update(p.iteration, p.total, trainer.losses)
            return report(p.iteration, p.total, p.loss_avg, p.eta_s, p.flops)

        start = time.monotonic()
        with self.service.precision(req["generator"], device).context(device or self.service.device):
            path_set = trainer.train(checkpoint=checkpoint, callback=callback)
        if trainer.iteration < config.iterations:
            return ""  # cancelled or shutting down; the checkpoint stays for a resume
        path_set.name = self.dipoles_label(job)
        path_set.metrics["train_seconds"] = round(time.monotonic() - start, 1)
        return str(path_set.save(self.results / job.id))

    @staticmethod
    def preview(generator: Generator, path_set: PathSet, out: Path) -> None:
        with torch.no_grad():
            t = traverse(generator, path_set, 0, [0], steps=3, step_size=registry.GENERATORS.get(
                path_set.generator, registry.GENERATORS["shapes-128"]).step_size * 2)
        buffer = io.BytesIO()
        strip(t, thumb=96).save(buffer, format="PNG")
        atomic_write_bytes(out, buffer.getvalue())  # a kill or a full disk never leaves half a preview
