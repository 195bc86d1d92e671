"""The projection's service actions (``service.method("projection")``) and what the CLI shares with them.

A visitor's picture (uploaded; aligned as FFHQ's faces were for a face generator) becomes a code of the generator,
either by optimisation (``project``: streamed, with progress, the time left and the reconstruction so far) or in one
pass by an e4e / pSp encoder (``encode``) where the generator has one. The code is stored as an anchor
(``service.anchors``), which Explore's traversals and the Edit tab start from, with a copy to download; the original
and its reconstruction come back side by side with the PSNR between them.

The projection starts from the best first guess there is: the generator's encoder, else the methods' guesses the
registry hands in (``GUESSES``: the mappers' inversion), else the mean code. It is not a job kind (docs/PROJECTION.md):
it takes seconds to minutes, and a public app bounds it (``LIMITS["max_projection_s"]``: it stops there and keeps the
best code so far).
"""
from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch

from ... import registry
from ...clip import ClipModel, load_clip
from ...errors import ContraCLIPError
from ...generators import from_pretrained
from ...generators.base import Generator
from ...inputs import LIMITS, ServiceError, check_generator
from ...method import Guess
from ...visitors import LOCAL, Visitor
from .losses import psnr
from .model import default_space
from .train import ProjectionConfig, Projector, updates

if TYPE_CHECKING:
    from ...encoders import StyleEncoder
    from ...service import Service

FACE_DOMAINS = ("faces", "art faces")  # generators trained on FFHQ-aligned faces: an upload is aligned first
PREVIEW_SIDE = 256  # the streamed reconstructions' size at most (the result is full size)
PREVIEW_EVERY_S = 15.0  # a preview at least this often when steps are slow (a large generator on a CPU)
FROM_THE_MEAN = {"steps": 600, "search_steps": 0, "lr": 0.1}  # no guess: W+ from the mean code (docs/PROJECTION.md)


def clip_for(generator_name: str, clip_name: str | None = None, device: str = "cpu") -> ClipModel | None:
    """The generator's CLIP (its preset's, or ``clip_name``) when it can be loaded here; None otherwise (the
    perceptual term is then off)."""
    preset = registry.GENERATORS.get(generator_name)
    name = clip_name or (preset.clip if preset else None)
    if not name:
        return None
    try:
        return load_clip(name, device=device)
    except ContraCLIPError:
        return None  # e.g. ViT-B-32/openai without the Hub: project with pixels alone


def load_generator_and_clip(generator_name: str, clip_name: str | None = None,
                            device: str = "cpu") -> tuple[Generator, ClipModel | None]:
    return from_pretrained(generator_name, device=device), clip_for(generator_name, clip_name, device)


def start_for(generator: Generator, generator_name: str, pictures: torch.Tensor, guesses: Sequence[Guess],
              space: str | None = None, clip=None) -> tuple[torch.Tensor | None, str]:
    """The projection's start for ``pictures``: the first of ``guesses`` that has codes for them (``clip(name)``
    loads the CLIP a guess needs; None: each loads its own), else None (the mean code); and a few words saying
    which."""
    space = space or default_space(generator)
    why = "no first guess for this generator"
    for guess in guesses:
        codes, why = guess(generator, generator_name, pictures, space, clip)
        if codes is not None:
            return codes, why
    return None, f"the mean code ({why})"


def settings_for(start: torch.Tensor | None, search: bool = True) -> ProjectionConfig:
    """From a semantic guess (a mapper's, which may sit in the wrong basin): the multi-start search around it, then
    the refinement (the defaults); from the mean code, or from an encoder's code (``search=False``: already close in
    pixels): the StyleGAN2 refinement alone (docs/PROJECTION.md, both measured)."""
    return ProjectionConfig() if start is not None and search else ProjectionConfig(**FROM_THE_MEAN)


class ProjectionActions:
    """Projections and encodings for one ``Service``; ``guesses``: the registry's first guesses, best first."""

    def __init__(self, service: "Service", guesses: Sequence[Guess] = ()):
        self.service, self.guesses = service, tuple(guesses)
        self._no_encoder: set[str] = set()  # sources found to hold no usable encoder

    # --- what a generator offers ------------------------------------------------------------------------------------
    def encoder(self, generator: str) -> "StyleEncoder | None":
        """The generator's e4e / pSp encoder: the catalogue's for it, else the one inside its own checkpoint (an e4e
        file added with ``--generator``); None when it has none. Loaded once."""
        from ...encoders import load_encoder

        preset = registry.GENERATORS[check_generator(generator)]
        sources = [e.source for e in registry.ENCODERS.values() if e.generator == generator]
        if preset.domain == "yours":
            sources.append(preset.source)
        for source in sources:
            key = f"encoder:{source}"
            if key in self._no_encoder:
                continue
            try:
                encoder = self.service.cached(key, lambda: load_encoder(source, device=self.service.device))
                encoder.check_fits(self.service.generator(generator))
                return encoder
            except ContraCLIPError:
                self._no_encoder.add(key)  # not an encoder checkpoint, or one for another generator
        return None

    def ways(self, generator: str) -> list[str]:
        """How a picture can become a code here: "projection" always, "encoder" where the generator has one."""
        return ["projection"] + (["encoder"] if self.encoder(generator) is not None else [])

    def aligns(self, generator: str) -> bool:
        """Whether uploads for ``generator`` are aligned as FFHQ's faces by default (face generators)."""
        return registry.GENERATORS[check_generator(generator)].domain in FACE_DOMAINS

    # --- a picture --------------------------------------------------------------------------------------------------
    def picture(self, generator: str, upload: Any, align: bool | None = None) -> tuple[torch.Tensor, str]:
        """An upload → (1, 3, R, R) in [-1, 1] as the generator draws, and a note: aligned as FFHQ's faces
        (``align``; None: for face generators) or centre-cropped. A sentence (``ServiceError``) for a file that is
        not a usable image, or a photo with no face when aligning."""
        from ...faces import align_face
        from ...uploads import open_image, square_tensor

        if not upload:
            raise ServiceError("upload a picture first")
        g = self.service.generator(generator)
        align = self.aligns(generator) if align is None else bool(align)
        try:
            rgb = open_image(str(upload))
            if not align:
                return square_tensor(rgb, g.resolution), "centre-cropped"
            face = align_face(rgb, size=g.resolution)
        except ContraCLIPError as e:  # UploadError, FaceError, NoFaceError: one sentence each
            raise ServiceError(str(e)) from e
        found = f"{face.faces} faces found, the clearest" if face.faces > 1 else "face"
        return square_tensor(face.image, g.resolution), f"{found} aligned as FFHQ's faces were"

    def _png(self, image: torch.Tensor, stem: str, side: int | None = None) -> str:
        """The first image as ``<outputs>/<stem>.png``; previews at most ``side`` pixels (a 1024-px render streamed
        every few steps would otherwise write megabytes a second)."""
        from PIL import Image

        from ...media import to_uint8

        path = self.service.outputs_dir / f"{stem}.png"
        picture = Image.fromarray(to_uint8(image[:1])[0])
        if side is not None and picture.width > side:
            picture = picture.resize((side, side), Image.LANCZOS)
        picture.save(path)
        return str(path)

    def _finish(self, generator: str, space: str, latent: torch.Tensor, image: torch.Tensor, picture: torch.Tensor,
                made_by: str, token: str, shown: str | None = None) -> dict[str, Any]:
        quality = float(psnr(image.float().cpu(), picture.float().cpu())[0])
        out = self.service.anchors.save(generator, space, latent, image,
                                        {"made_by": made_by, "psnr_db": f"{quality:.3f}"})
        self.service.clean_outputs()
        shown = shown or self._png(picture, f"picture_{token}")
        return {**out, "stage": "done", "picture": shown, "psnr_db": round(quality, 2),
                "code": str(self.service.anchors.export(generator, out["anchor"]))}

    # --- the two ways -----------------------------------------------------------------------------------------------
    def encode(self, generator: str, upload: Any, align: bool | None = None,
               visitor: Visitor = LOCAL) -> dict[str, Any]:
        """The generator's encoder in one pass: {"anchor", "image" (reconstruction), "picture" (as the generator
        sees it), "psnr_db", "code" (download), "note"}."""
        with self.service.interactive(visitor):
            encoder = self.encoder(generator)
            if encoder is None:
                raise ServiceError(f"{generator} has no e4e / pSp encoder: use the projection (or add an e4e "
                                   "checkpoint as your generator with --generator)")
            picture, note = self.picture(generator, upload, align)
            g = self.service.generator(generator)
            start = time.monotonic()
            with torch.no_grad():
                latent = encoder.encode(picture.to(encoder.device, encoder.dtype)).float()
                image = g.synthesis(latent.to(g.device, g.dtype), "w+").float().clamp(-1, 1)
            out = self._finish(generator, "w+", latent, image, picture, f"{encoder.config.kind} encoder",
                               uuid.uuid4().hex[:12])
        return {**out, "note": note, "way": "encoder", "seconds": round(time.monotonic() - start, 3)}

    def project(self, generator: str, upload: Any, align: bool | None = None, visitor: Visitor = LOCAL,
                config: ProjectionConfig | None = None, preview_every: int = 10) -> Iterator[dict[str, Any]]:
        """Optimise the picture's code, streamed: yields {"stage": "search" | "refine" | "polish", "done", "total",
        "eta_s", "psnr_db", "image" (the reconstruction so far), "picture", "start", "note"} every ``preview_every``
        steps (or ``PREVIEW_EVERY_S`` seconds), then the result ({"stage": "done", "anchor", "image", "picture",
        "psnr_db", "code", "seconds", "stopped"}: stopped when ``LIMITS["max_projection_s"]`` ran out first, checked
        after every step)."""
        with self.service.interactive(visitor):
            picture, note = self.picture(generator, upload, align)
            g = self.service.generator(generator)
            space = default_space(g)
            encoder = self.encoder(generator) if space == "w+" else None
            if encoder is not None:
                with torch.no_grad():
                    start = encoder.encode(picture.to(encoder.device, encoder.dtype)).float().to(g.device)
                words = f"the {encoder.config.kind} encoder's code"
            else:
                start, words = start_for(g, generator, picture.to(g.device), self.guesses, space, self.service.clip)
            config = config or settings_for(start, search=encoder is None)
            try:
                projector = Projector(g, picture.to(g.device), config, start)
            except ContraCLIPError as e:  # a setting that cannot run here (e.g. LPIPS without its weights)
                raise ServiceError(str(e)) from e
            token, result = uuid.uuid4().hex[:12], None
            shown = self._png(picture, f"picture_{token}")
            for update in updates(projector, preview_every, PREVIEW_EVERY_S, LIMITS["max_projection_s"]):
                if update.result is not None:
                    result = update.result
                    break
                p = update.progress
                yield {"stage": update.phase, "done": p.iteration, "total": p.total, "picture": shown,
                       "eta_s": round(p.eta_s, 1), "start": words, "note": note,
                       "psnr_db": round(float(update.psnr_db[0]), 2),
                       "image": self._png(update.image, f"projection_{token}_{p.iteration}", PREVIEW_SIDE)}
            stopped = projector.iteration < projector.total  # the time limit ran out first
            out = self._finish(generator, result.space, result.latent[:1], result.image[:1], picture, "projection",
                               token, shown)
        yield {**out, "start": words, "note": note, "way": "projection", "seconds": round(result.seconds, 3),
               "stopped": stopped, "done": projector.iteration, "total": projector.total}
