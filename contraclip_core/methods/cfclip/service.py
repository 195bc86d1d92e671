"""The service side of "Edit by a sentence": list CF-CLIP edit models, edit seeds toward a sentence, train a new
mapper as a background job (job kind "edit"). Plain-typed like ``Service``; errors are ``ServiceError`` sentences.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ... import registry
from ...artefact import ORIGIN_TAGS, Header, picker_label, same_generator
from ...errors import ContraCLIPError
from ...inputs import LIMITS, ServiceError, check_generator, check_number, check_sentence, parse_seeds
from ...jobs import MAX_ITERATIONS
from ...visitors import LOCAL, Visitor
from ...media import Traversal, save_gif, strip, to_uint8
from ...records import Fields
from .artefact import EditSet
from .train import EditTrainer, edit_config
from .vocab import training_sentences

if TYPE_CHECKING:
    from ...jobs import Job
    from ...service import Service

RESULTS = "edits"  # <data>/edits/<job id>/: the edit model a job trained
SHAPES_VOCABULARY = "shapes-captions"  # train on every one- and two-factor Shapes caption but the held-out ones
MAX_TARGETS = 256  # target sentences per training job
MAX_FRAMES = 32  # strength steps of one edit animation


class EditActions:
    """Edit models for one ``Service``: they share its generators, CLIP models, priority gate and job queue."""

    kind = "edit"

    def __init__(self, service: "Service"):
        self.service = service
        self.results = service.data_dir / RESULTS

    # --- models ---------------------------------------------------------------------------------------------------
    def models(self, generator: str, visitor: Visitor = LOCAL) -> list[dict[str, Any]]:
        """Edit models usable with ``generator`` (every one for a name outside the catalogue): shipped first, then
        trained here. Damaged folders are skipped."""
        rows = []
        for origin, folder in [("shipped", f) for f in EditSet.shipped()] + \
                              self.service.trained_here(EditSet, self.results, visitor):
            try:
                f = EditSet.fields(folder)  # read once: the header and the targets
                header: Header = EditSet.header_of(f)
                targets = f.sentences("targets", min_len=1, max_len=4096)
            except ContraCLIPError:
                continue
            if generator in registry.GENERATORS and not same_generator(header.generator, generator):
                continue
            what = targets[0] if len(targets) == 1 else f"{len(targets)} sentences"
            rows.append({"id": f"{ORIGIN_TAGS[origin]}:{folder.name}",
                         "label": picker_label(f"{header.name or folder.name} ({what})", origin),
                         "origin": origin, "generator": header.generator, "folder": str(folder),
                         "targets": len(targets)})
        return rows

    def _folder(self, generator: str, model_id: str, visitor: Visitor) -> Path:
        for row in self.models("", visitor):  # every model: one made for another generator is refused by name in load()
            if row["id"] == model_id:
                return Path(row["folder"])

        raise ServiceError(f"unknown edit model {model_id!r} for {generator!r}; pick one from the list")

    def load(self, generator: str, model_id: str, visitor: Visitor = LOCAL) -> EditSet:
        """The edit model, checked against the generator (a model for another generator is refused)."""

        folder = self._folder(generator, str(model_id), visitor)
        g = self.service.generator(generator)
        try:
            edit_set = EditSet.load(folder, device=self.service.device)
            edit_set.check_fits(g, f"the edit model {folder.name!r}", generator)
        except ContraCLIPError as e:
            raise ServiceError(str(e)) from e
        return edit_set

    # --- editing --------------------------------------------------------------------------------------------------
    def edit(self, generator: str, model_id: str, seeds: Any = "0", sentence: Any = "", strength: Any = 1.0,
             frames: Any = 8, visitor: Visitor = LOCAL, anchor: Any = None) -> dict[str, Any]:
        """Edit each seed's code (or the ``anchor``'s, an id of ``service.anchors`` — e.g. your picture's projection
        — instead of the seeds) toward ``sentence``: a before/after image at ``strength``, the strip and GIF of the
        strength going 0 → 1 (the mapper's residual scaled), and how long it took."""

        start = time.monotonic()
        sentence = check_sentence(sentence, "the target sentence")
        anchor_id = str(anchor).strip() if anchor else ""
        seed_list = [0] if anchor_id else parse_seeds(seeds)
        strength = check_number(strength, "strength", 0.0, 1.0)
        frames = check_number(frames, "frames", 2, MAX_FRAMES, integer=True)
        check_generator(generator)
        with self.service.interactive(visitor):
            g = self.service.generator(generator)
            if len(seed_list) * (frames + 2) * g.resolution**2 > LIMITS["max_frame_pixels"]:
                raise ServiceError("that many seeds and frames at this resolution is more than one request may "
                                   "render; ask for fewer")
            edit_set = self.load(generator, model_id, visitor)
            clip = self.service.clip(edit_set.clip)
            try:
                text = edit_set.text_embedding(clip, sentence)
            except ContraCLIPError as e:
                raise ServiceError(str(e)) from e
            with torch.no_grad():
                if anchor_id:
                    anchor = self.service.anchors.in_space(generator, anchor_id, edit_set.space).to(g.device)
                else:
                    anchor = g.encode(g.sample_z(seed_list), edit_set.space, edit_set.truncation)
                levels = torch.linspace(0.0, 1.0, frames + 1).tolist()
                latents = torch.stack([edit_set.edit(anchor, text, s) for s in levels], 1)  # (S, F+1, *shape)
                s, n = latents.shape[:2]
                flat = latents.reshape(s * n, *latents.shape[2:])
                images = np.concatenate([to_uint8(g.synthesis(c, edit_set.space)) for c in flat.split(32)])
                after = to_uint8(g.synthesis(edit_set.edit(anchor, text, strength), edit_set.space))
            sweep = Traversal(seeds=seed_list, steps=list(range(n)), latents=latents.cpu(),
                              images=images.reshape(s, n, *images.shape[1:]), path_index=0,
                              dipole=(sentence, "unedited"))
            pair = Traversal(seeds=seed_list, steps=[0, 1], latents=torch.stack([anchor, anchor], 1).cpu(),
                             images=np.stack([sweep.images[:, 0], after], 1), path_index=0,
                             dipole=(sentence, "unedited"))
            self.service.clean_outputs()
            slug = "-".join("".join(c if c.isalnum() else " " for c in f"{generator} {sentence}".lower()).split())
            rows = f"anchor-{anchor_id[:8]}" if anchor_id else f"seeds-{'-'.join(map(str, seed_list))}"
            stem = self.service.outputs_dir / f"edit_{slug[:80]}_{rows}_{time.time_ns() % 10**9}"
            thumb = min(g.resolution, 256)
            pair_path = stem.with_name(stem.name + "_before-after.png")
            strip(pair, thumb=thumb).save(pair_path)
            strip_path = stem.with_suffix(".png")
            strip(sweep, thumb=min(g.resolution, 128)).save(strip_path)
            gif = save_gif(sweep, stem.with_suffix(".gif"), thumb=thumb)
        return {"before_after": str(pair_path), "strip": str(strip_path), "gif": str(gif), "sentence": sentence,
                "strength": strength, "seeds": seed_list, "anchor": anchor_id,
                "seconds": round(time.monotonic() - start, 3)}

    # --- training -------------------------------------------------------------------------------------------------
    def submit(self, generator: str, sentences: Any = "", vocabulary: str = "", iterations: Any = None,
               seed: Any = 0, visitor: Visitor = LOCAL) -> dict[str, Any]:
        """Queue a job training a mapper for the typed sentences (one per line or separated by “;”), or for a
        vocabulary (``"shapes-captions"``); returns the job as a dict."""

        self.service.check_trainable(generator)
        if vocabulary:
            if vocabulary != SHAPES_VOCABULARY or registry.GENERATORS[generator].arch != "shapes":
                raise ServiceError(f"the vocabulary {vocabulary!r} exists only for the Shapes world "
                                   f"({SHAPES_VOCABULARY!r})")
            targets = training_sentences()
        else:
            if not isinstance(sentences, str):
                raise ServiceError("the target sentences must be text")
            parts = [p for p in sentences.replace(";", "\n").splitlines() if p.strip()]
            if not parts:
                raise ServiceError("the target sentence is empty: type what the image should become, "
                                   "e.g. “a green square”")
            targets = list(dict.fromkeys(check_sentence(p, "a target sentence") for p in parts))
            if len(targets) > MAX_TARGETS:
                raise ServiceError(f"{len(targets)} sentences; at most {MAX_TARGETS} per edit model")
        blank = iterations is None or (isinstance(iterations, str) and not iterations.strip())
        config = edit_config(generator, targets, seed=check_number(seed, "seed", 0, LIMITS["max_seed"], integer=True))
        if not blank:
            config.iterations = check_number(iterations, "iterations", 1, LIMITS["max_iterations"], integer=True)
        label = "edit → " + (f"{len(targets)} Shapes captions" if vocabulary else "; ".join(targets))[:160]
        request = {"generator": generator, "targets": targets, "vocabulary": vocabulary or "", "seed": config.seed,
                   "iterations": config.iterations, "label": label}
        return self.service.enqueue(self.kind, request, total=config.iterations, visitor=visitor)

    def job_label(self, job: "Job") -> str:
        return str(job.request.get("label", ""))

    def run_job(self, job: "Job", report, device: str | None = None) -> str:
        """Job kind "edit": train (resuming from the job's checkpoint), save to ``<data>/edits/<job id>``."""
        req = job.request
        config = edit_config(str(req["generator"]), [str(t) for t in req["targets"]], seed=int(req.get("seed", 0)))
        config.iterations = int(req.get("iterations", config.iterations))
        generator = self.service.generator(config.generator, device)
        trainer = EditTrainer(config, generator, self.service.clip(config.resolved().clip, device))
        folder = self.service.queue.store.folder(job.id)
        preview_every = max(config.iterations // 4, 1)

        def callback(p) -> bool:
            job.resumed_from = trainer.resumed_from
            if p.iteration % preview_every == 0:
                self._preview(trainer, folder / "preview.png")
            return report(p.iteration, p.total, p.loss_avg, p.eta_s, p.flops)

        start = time.monotonic()
        edit_set = trainer.train(checkpoint=folder / "checkpoint.pt", callback=callback)
        if trainer.iteration < config.iterations:
            return ""  # cancelled or shutting down; the checkpoint stays for a resume
        edit_set.name = str(req.get("label", ""))
        edit_set.metrics["train_seconds"] = round(time.monotonic() - start, 1)
        return str(edit_set.save(self.results / job.id))

    @staticmethod
    def _preview(trainer: EditTrainer, out: Path) -> None:
        """Seed 0 before and after the edit toward the first target sentence."""
        g, edit_set = trainer.generator, trainer.edit_set()
        with torch.no_grad():
            anchor = g.encode(g.sample_z([0]), edit_set.space, edit_set.truncation)
            edited = edit_set.edit(anchor, trainer.text_inputs[:1])
            images = to_uint8(g.synthesis(torch.cat([anchor, edited]), edit_set.space))
        tmp = out.with_name(out.name + ".tmp.png")  # a kill or a full disk never leaves half a preview
        Image.fromarray(np.concatenate(list(images), axis=1)).resize((128, 64)).save(tmp)
        os.replace(tmp, out)


def check_edit_request(obj: Any, source: str) -> dict[str, Any]:
    """The request of an edit-model job as stored in its record (see ``EditActions.submit``), checked field
    by field."""
    f = Fields(obj, source)
    return {
        "generator": f.text("generator", max_chars=1000, nonempty=True),
        "targets": f.sentences("targets", min_len=1, max_len=MAX_TARGETS),
        "vocabulary": f.text("vocabulary", max_chars=200, default=""),
        "seed": f.number("seed", 0, 2**63 - 1, integer=True, default=0),
        "iterations": f.number("iterations", 1, MAX_ITERATIONS, integer=True),
        "label": f.text("label", max_chars=1000, default=""),
    }

