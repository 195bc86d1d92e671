"""The service side of "Train": queue a path-training job for two typed sentences (or a corpus), run it in the
job worker (job kind "paths"), keep its live preview. Plain-typed like ``Service``; errors are ``ServiceError``.
"""
from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import objectives, presets, registry
from .generators.base import Generator
from .generators.loading import _atomic_write_bytes
from .inputs import LIMITS, ServiceError, check_number, check_sentence
from .live import LiveOutputs
from .pathset import PathSet
from .traversal import strip, traverse
from .vocabulary import vocabulary_warning

if TYPE_CHECKING:
    from .jobs import Job
    from .service import Service


class PathTraining:
    """Path training for one ``Service``: it shares the service's generators, CLIP models and job queue."""

    def __init__(self, service: "Service"):
        self.service = service

    def submit(self, generator: str, first: Any = "", second: Any = "", corpus: str | None = None,
                        preset: str = "quick", iterations: Any = None, lr: Any = None, loss: str | None = None,
                        seed: Any = 0, objective: str | None = None) -> dict[str, Any]:
        """Queue a training job for one typed dipole (or a pre-defined corpus); returns the job as a dict, with a
        ``warning`` ("" or a sentence: words the generator's CLIP does not know)."""
        if generator not in registry.GENERATORS:
            raise ServiceError(f"unknown generator {generator!r}; choose one of {sorted(registry.GENERATORS)}")
        ok, reason = self.service._availability(generator)
        if not ok:
            raise ServiceError(f"{generator} cannot be trained here: {reason}")
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
            overrides["objective"] = objective
        request = {"generator": generator, "dipoles": [list(d) for d in config.dipoles], "corpus": corpus or "",
                   "preset": preset, "seed": config.seed, "overrides": overrides}
        try:
            job = self.service.queue.submit(request, total=overrides.get("iterations", config.iterations))
        except ValueError as e:
            raise ServiceError(str(e)) from e
        row = self.service.job_row(job)
        row["warning"] = vocabulary_warning(generator, *(s for d in config.dipoles for s in d))
        return row

    def run_job(self, job: Job, report) -> str:
        req = job.request
        config = presets.train_config(req["generator"], req["preset"], dipoles=[tuple(d) for d in req["dipoles"]],
                                      seed=int(req.get("seed", 0)))
        for key, value in req.get("overrides", {}).items():
            setattr(config, key, value)
        from .trainer import Trainer

        generator = self.service.generator(req["generator"])
        clip = self.service.clip(config.resolved().clip)
        trainer = Trainer(config, generator, clip)
        folder = self.service.queue.store.folder(job.id)
        checkpoint = folder / "checkpoint.pt"
        live = LiveOutputs(folder, lambda out: self.preview(generator, trainer.path_set(), out))
        if not checkpoint.is_file():
            live.update(0, config.iterations, [])  # the preview appears before the first (slow) iteration

        def callback(p) -> bool:
            job.resumed_from = trainer.resumed_from
            live.update(p.iteration, p.total, trainer.losses)
            return report(p.iteration, p.total, p.loss_avg, p.eta_s)

        start = time.monotonic()
        with self.service.precision(req["generator"]).context(self.service.device):  # the worker thread's own autocast state
            path_set = trainer.train(checkpoint=checkpoint, callback=callback)
        if trainer.iteration < config.iterations:
            return ""  # cancelled or shutting down; the checkpoint stays for a resume
        path_set.name = job.label
        path_set.metrics["train_seconds"] = round(time.monotonic() - start, 1)
        out = path_set.save(self.service.paths_dir / job.id)
        return str(out)

    def preview(self, generator: Generator, path_set: PathSet, out: Path) -> None:
        with torch.no_grad():
            t = traverse(generator, path_set, 0, [0], steps=3, step_size=registry.GENERATORS.get(
                path_set.generator, registry.GENERATORS["shapes-128"]).step_size * 2)
        buffer = io.BytesIO()
        strip(t, thumb=96).save(buffer, format="PNG")
        _atomic_write_bytes(out, buffer.getvalue())  # a kill or a full disk never leaves half a preview

