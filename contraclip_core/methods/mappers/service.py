"""The mappers' service actions (CLIP2GAN, CSLA): a traversal's anchor from a sentence or an uploaded image, and
mapper-training jobs (job kind ``"mapper"``). The anchors go to ``service.anchors`` (``contraclip_core/anchors.py``),
which a traversal or an edit reads by id; the mappers' first guess of a picture's code (``guess.first_guess``) is
what a projection starts from.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch

from ... import registry
from ...artefact import ORIGIN_TAGS, same_generator
from ...errors import ContraCLIPError
from ...inputs import LIMITS, ServiceError, check_generator, check_number, check_sentence
from ...jobs import MAX_ITERATIONS
from ...visitors import LOCAL, Visitor
from ...records import Fields
from ...uploads import read_image
from .artefact import MapperSet

if TYPE_CHECKING:
    from ...jobs import Job
    from ...service import Service

RESULTS = "mappers"  # <data>/mappers/<job id>/: the mapper a job trained


class MapperActions:
    """Mappers for one ``Service``: they share its generators, CLIP models, model cache, priority gate and job
    queue."""

    kind = "mapper"

    def __init__(self, service: "Service"):
        self.service = service
        self.results = service.data_dir / RESULTS

    # --- mappers --------------------------------------------------------------------------------------------------
    def models(self, generator: str, visitor: Visitor = LOCAL) -> list[dict[str, Any]]:
        """The mappers usable with ``generator``: shipped first (the best recorded Shapes inversion first: that one
        is the default), then trained here (oldest first)."""
        check_generator(generator)
        rows = []
        shipped = [("shipped", f) for f in MapperSet.shipped(generator)]
        for group in (shipped, self.service.trained_here(MapperSet, self.results, visitor)):
            found = []
            for origin, folder in group:
                try:
                    f = MapperSet.fields(folder)
                    if not same_generator(MapperSet.header_of(f).generator, generator):
                        continue
                    objective = f.text("objective")
                    score = float(f.mapping("metrics", default={}).get("shapes_eval", {}).get("inversion", {})
                                  .get("all_factors", 0.0))
                except (ContraCLIPError, ValueError, TypeError, AttributeError):
                    continue  # a damaged mapper is skipped, not fatal
                found.append(({"id": f"{ORIGIN_TAGS[origin]}:{folder.name}", "objective": objective,
                               "origin": origin, "folder": str(folder)}, score))
            if group is shipped:
                found.sort(key=lambda item: -item[1])
            rows += [row for row, _ in found]
        return rows

    def mapper(self, generator: str, mapper_id: str | None, visitor: Visitor = LOCAL) -> MapperSet:

        rows = self.models(generator, visitor)
        if not rows:
            raise ServiceError(f"there is no mapper for {generator!r} yet: train one (a mapper job) to "
                               "start from a sentence or a picture")
        row = rows[0] if not mapper_id else next((r for r in rows if r["id"] == mapper_id), None)
        if row is None:
            raise ServiceError(f"unknown mapper {mapper_id!r} for {generator!r}; choose one of {[r['id'] for r in rows]}")
        g = self.service.generator(generator)

        def load() -> MapperSet:
            ms = MapperSet.load(row["folder"], device=self.service.device)
            ms.check_fits(g, f"the mapper {row['id']!r}", generator)
            return ms

        return self.service.cached(f"mapper:{row['folder']}", load)

    # --- anchors (``service.anchors``) ---------------------------------------------------------------------------
    def anchor_from_text(self, generator: str, sentence: Any, seed: Any = 0, mapper: str | None = None,
                         visitor: Visitor = LOCAL) -> dict[str, Any]:
        """A sentence → a latent code (through the mapper) and its image. ``seed`` varies what the sentence leaves
        unnamed (seeded noise on the text embedding; seed 0: none)."""
        from .uses import text_to_latent

        text = check_sentence(sentence, "the sentence")
        seed = check_number(seed, "seed", 0, LIMITS["max_seed"], integer=True)
        with self.service.interactive(visitor):
            ms = self.mapper(generator, mapper, visitor)
            clip = self.service.clip(ms.clip)
            noise = float(ms.settings.get("noise", 0.5)) if seed else 0.0
            latent = text_to_latent(ms, clip, [text], seeds=[seed], noise=noise)
            g = self.service.generator(generator)
            with torch.no_grad():
                image = g.synthesis(latent, ms.space)
            made = self.service.anchors.save(generator, ms.space, latent, image, {"made_by": "mapper"})
            return {**made, "sentence": text, "mapper": ms.name or ms.objective}

    def anchor_from_image(self, generator: str, image_path: Any, mapper: str | None = None,
                          visitor: Visitor = LOCAL) -> dict[str, Any]:
        """An uploaded image → a latent code (inversion through the mapper), its reconstruction, and how similar the
        two are (CLIP cosine; PSNR). Refuses, with a sentence, files that are not images, too large, or pictures
        unlike the generator's (reconstructed worse than any of its own renders: ``domain_min_psnr_db``)."""
        from .evaluate import psnr
        from .uses import image_to_latent

        if not image_path:
            raise ServiceError("upload an image first")
        with self.service.interactive(visitor):
            g = self.service.generator(generator)
            ms = self.mapper(generator, mapper, visitor)
            clip = self.service.clip(ms.clip)
            try:
                upload = read_image(str(image_path), g.resolution).to(g.device, g.dtype)
            except ContraCLIPError as e:
                raise ServiceError(str(e)) from e
            with torch.no_grad():
                latent, e = image_to_latent(ms, clip, upload)
                image = g.synthesis(latent, ms.space)
                e2 = torch.nn.functional.normalize(clip.encode_images(image).float(), dim=-1)
            quality = float(psnr(image, upload))
            floor = ms.settings.get("domain_min_psnr_db")
            if isinstance(floor, (int, float)) and quality < floor:
                raise ServiceError(f"this picture does not look like {generator}'s images: its reconstruction reaches "
                                   f"{quality:.1f} dB PSNR, the generator's own renders at least {floor:.1f} dB; "
                                   "upload a picture of the same kind")
            out = self.service.anchors.save(generator, ms.space, latent, image, {"made_by": "mapper"})
            upload_png = self.service.outputs_dir / f"upload_{out['anchor']}.png"
            from PIL import Image

            from ...media import to_uint8

            Image.fromarray(to_uint8(upload)[0]).save(upload_png)
            return {**out, "upload": str(upload_png), "similarity": round(float((e * e2).sum()), 4),
                    "psnr_db": round(quality, 2), "mapper": ms.name or ms.objective}

    # --- mapper training jobs (job kind "mapper") -----------------------------------------------------------------
    def submit(self, generator: str, objective: str = "csla", iterations: Any = 400, seed: Any = 0,
               visitor: Visitor = LOCAL) -> dict[str, Any]:
        """Queue a background job that trains a mapper data-free from the generator's own samples."""
        from .train import OBJECTIVES

        self.service.check_trainable(generator)
        if objective not in OBJECTIVES:
            raise ServiceError(f"objective must be one of {sorted(OBJECTIVES)}, got {objective!r}")
        iterations = check_number(iterations, "iterations", 1, LIMITS["max_iterations"], integer=True)
        request = {"generator": generator, "objective": objective, "corpus": f"{objective} mapper",
                   "seed": check_number(seed, "seed", 0, LIMITS["max_seed"], integer=True), "iterations": iterations}
        return self.service.enqueue(self.kind, request, total=iterations, visitor=visitor)

    def job_label(self, job: "Job") -> str:
        return str(job.request.get("corpus", ""))

    def run_job(self, job: "Job", report, device: str | None = None) -> str:
        from .train import MapperTrainConfig, MapperTrainer

        req = job.request
        generator = self.service.generator(str(req["generator"]), device)
        config = MapperTrainConfig(objective=str(req["objective"]), generator=str(req["generator"]),
                                   iterations=int(req["iterations"]), seed=int(req.get("seed", 0)))
        preset = registry.GENERATORS.get(config.generator)
        clip = self.service.clip(config.clip or (preset.clip if preset else "ViT-B-32/openai"), device)
        trainer = MapperTrainer(config, generator, clip)
        checkpoint = self.service.queue.store.folder(job.id) / "checkpoint.pt"

        def callback(p) -> bool:
            job.resumed_from = trainer.resumed_from
            return report(p.iteration, p.total, p.loss_avg, p.eta_s, p.flops)

        start = time.monotonic()
        result = trainer.train(checkpoint=checkpoint, callback=callback)
        if trainer.iteration < trainer.config.iterations:
            return ""  # cancelled or shutting down; the checkpoint stays for a resume
        result.name = f"{config.objective}-{job.id}"
        result.metrics["train_seconds"] = round(time.monotonic() - start, 1)
        return str(result.save(self.results / job.id))


def check_mapper_request(obj: Any, source: str) -> dict[str, Any]:
    """The request of a mapper job as stored in its record (see ``MapperActions.submit``), checked field by field."""
    from .train import OBJECTIVES

    f = Fields(obj, source)
    return {
        "generator": f.text("generator", max_chars=1000, nonempty=True),
        "objective": f.text("objective", choices=tuple(OBJECTIVES)),
        "corpus": f.text("corpus", max_chars=200, default=""),
        "seed": f.number("seed", 0, 2**63 - 1, integer=True, default=0),
        "iterations": f.number("iterations", 1, MAX_ITERATIONS, integer=True),
    }

