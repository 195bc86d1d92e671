"""Training a mapper data-free from the generator's own samples: CLIP2GAN's or CSLA's objective, resumable.

Each step: z ~ N(0, I) from one checkpointed CPU ``torch.Generator`` → latent w → x = G(w) → e = E_I(x) (no
gradient) → ŵ = f(ẽ) with ẽ the noise-augmented e → the objective's losses (the image and CLIP-consistency losses
re-render G(ŵ) for the first ``image_batch`` samples and backpropagate through G and CLIP into f). Checkpoints
(atomic, ``torch.load(weights_only=True)``) hold the mapper, the optimiser, the RNG, the losses and the objective's
state, so a resumed run continues exactly as an uninterrupted one.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ... import registry, training_loop
from ...clip import ClipModel, cached_text_embeddings
from ...generators.base import Generator, per_chunk
from ...training_loop import (
    Progress,
    read_checkpoint,
    save_checkpoint_file,
    step_decay_lr,
)
from .clip2gan import Clip2GanObjective, MapperBatch
from .csla import CslaObjective
from .artefact import MapperSet
from .model import LatentMapper, MapperConfig

OBJECTIVES: dict[str, type] = {"clip2gan": Clip2GanObjective, "csla": CslaObjective}  # name → objective class


@dataclass
class MapperTrainConfig:
    objective: str = "clip2gan"  # "clip2gan" or "csla"
    generator: str = registry.DEFAULT_GENERATOR  # registry name (or source) of the generator
    clip: str | None = None  # registry CLIP name; None → the generator preset's
    space: str | None = None  # "z" | "w" | "w+"; None → "w" when the generator has it, else "z"
    truncation: float | None = None  # ψ of the training samples; None → the preset's
    iterations: int = 400  # optimisation steps
    batch_size: int = 64  # samples per step (latent and relative losses)
    image_batch: int = 16  # of those, how many are re-rendered for the image and CLIP-consistency losses
    lr: float = 1e-3  # Adam learning rate
    lr_decay_at: float = 0.8  # ×0.1 after this fraction of the iterations
    hidden: int = 256  # mapper width
    depth: int = 3  # hidden layers (CLIP2GAN) or residual blocks (CSLA)
    noise: float | None = None  # norm of the Gaussian noise added to e before mapping; None → the objective's default
    losses: dict[str, float] | None = None  # loss weights (and τ for CSLA); None → the objective's defaults
    seed: int = 0
    checkpoint_every: int = 50  # iterations between checkpoints (when a checkpoint path is given)
    domain_samples: int = 256  # held-out renders that set the upload domain check (``domain_floor``)

    def resolved(self, generator: Generator) -> "MapperTrainConfig":
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {self.objective!r}")
        preset = registry.GENERATORS.get(self.generator)
        values = asdict(self)
        cls = OBJECTIVES[self.objective]
        values["clip"] = self.clip or (preset.clip if preset else "ViT-B-32/openai")
        values["space"] = self.space or ("w" if "w" in generator.spaces else "z")
        values["truncation"] = self.truncation if self.truncation is not None else (
            preset.default_truncation if preset else 0.7)
        values["noise"] = cls.defaults["noise"] if self.noise is None else self.noise
        weights = {k: v for k, v in cls.defaults.items() if k != "noise"}
        weights.update(self.losses or {})
        values["losses"] = weights
        out = MapperTrainConfig(**values)
        if out.iterations < 1 or out.batch_size < 2 or not 1 <= out.image_batch <= out.batch_size:
            raise ValueError("iterations must be ≥ 1, batch size ≥ 2 and 1 ≤ image batch ≤ batch size")
        if not math.isfinite(out.noise) or out.noise < 0:
            raise ValueError(f"noise must be a non-negative number, got {out.noise}")
        return out


def render_generator(generator: Generator, size: int) -> Generator:
    """A view of the generator that renders directly at CLIP's input size when it can draw at any resolution (the
    Shapes world: same weights, fewer pixels, embeddings within 3e-4 cosine of the downsampled full render);
    otherwise the generator itself (its renders are resized inside ``clip.preprocess``)."""
    from ...generators.shapes import ShapesGenerator

    if isinstance(generator, ShapesGenerator) and generator.resolution > size:
        view = copy.copy(generator)  # shares parameters and buffers; only the output size differs
        view.resolution = size
        return view
    return generator


def caption_set(generator: Generator, generator_name: str, latents: torch.Tensor, space: str,
                rng: torch.Generator) -> list[str]:
    """Sentences whose mean text embedding stands for "text" in the modality-gap shift: for the Shapes world,
    captions of the generator's own samples (from their ground truth); otherwise the generator's corpus."""
    from ...generators.shapes import ShapesGenerator

    if isinstance(generator, ShapesGenerator):
        from ...shapes_clip.captions import attribute_labels, random_captions

        labels = attribute_labels(generator.attributes(latents, space), generator.config)
        return random_captions(labels.cpu(), rng)[0]
    preset = registry.GENERATORS.get(generator_name)
    corpus = preset.corpus if preset else "attributes"
    template = preset.template if preset else registry.SENTENCE_TEMPLATE
    return [s for pair in registry.corpus_sentences(corpus, template) for s in pair]


class MapperTrainer:
    """Trains one mapper for one generator and one CLIP model."""

    def __init__(self, config: MapperTrainConfig, generator: Generator, clip: ClipModel):
        config = config.resolved(generator)
        self.config, self.generator, self.clip = config, generator, clip
        self.device = generator.device
        self.latent_shape = tuple(generator.latent_shape(config.space))
        self.renderer = render_generator(generator, clip.image_size)
        self.objective = OBJECTIVES[config.objective]({**config.losses})
        init_rng = torch.Generator().manual_seed(config.seed)
        with torch.no_grad():
            z = torch.randn(1024, generator.z_dim, generator=init_rng).to(self.device, generator.dtype)
            latents = generator.encode(z, config.space, config.truncation)
            flat = latents.reshape(len(z), -1).float()
            chunk = min(64, per_chunk(self.renderer.resolution))
            e = torch.cat([self._embed(part) for part in latents[:512].split(chunk)])  # (512, D)
            texts = caption_set(generator, config.generator, latents[:512], config.space, init_rng)
            t = F.normalize(cached_text_embeddings(clip, texts).float(), dim=-1)
        net = MapperConfig(clip_dim=e.shape[1], latent_dim=flat.shape[1], hidden=config.hidden, depth=config.depth,
                           residual=self.objective.residual)
        torch.manual_seed(config.seed)  # the mapper's initial weights
        self.mapper = LatentMapper(net).to(self.device)
        with torch.no_grad():
            self.mapper.latent_mean.copy_(flat.mean(0))
            self.mapper.latent_scale.copy_(flat.std(0).mean())
            self.mapper.image_mean.copy_(e.mean(0))
            self.mapper.text_mean.copy_(t.mean(0))
        self.optimizer = torch.optim.Adam(self.mapper.parameters(), lr=config.lr)
        self.rng = torch.Generator().manual_seed(config.seed + 1)
        self.iteration, self.resumed_from = 0, 0
        self.losses: list[float] = []
        self.parts: dict[str, float] = {}

    def _embed(self, latents: torch.Tensor) -> torch.Tensor:
        """Codes (B, *shape) → unit CLIP image embeddings (B, D) of their renders."""
        return F.normalize(self.clip.encode_images(self.renderer.synthesis(latents, self.config.space)).float(), dim=-1)

    def _clip_size(self, images: torch.Tensor) -> torch.Tensor:
        s = self.clip.image_size
        if images.shape[-1] == s:
            return images
        return F.interpolate(images, size=(s, s), mode="bilinear", antialias=True, align_corners=False)

    def sample(self) -> MapperBatch:
        c, g = self.config, self.generator
        z = torch.randn(c.batch_size, g.z_dim, generator=self.rng).to(self.device, g.dtype)
        noise = torch.randn(c.batch_size, self.mapper.config.clip_dim, generator=self.rng).to(self.device)
        with torch.no_grad():
            latents = g.encode(z, c.space, c.truncation)
            images = torch.cat([self.renderer.synthesis(part, c.space)  # (B, 3, H, W), a bounded batch at a time
                                for part in latents.split(per_chunk(self.renderer.resolution))])
            e = F.normalize(self.clip.encode_images(images).float(), dim=-1)
        inputs = F.normalize(e + c.noise * noise / math.sqrt(noise.shape[1]), dim=-1)
        return MapperBatch(latent=latents.reshape(len(z), -1).float(), embedding=e, inputs=inputs,
                           images=self._clip_size(images[: c.image_batch]).float())

    def step(self) -> float:
        c = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = step_decay_lr(c.lr, self.iteration, c.iterations, at=c.lr_decay_at)
        batch = self.sample()
        pred = self.mapper(batch.inputs)  # (B, d)
        head = pred[: c.image_batch].reshape(-1, *self.latent_shape).to(self.generator.dtype)
        rendered = self.renderer.synthesis(head, c.space)
        rendered_embedding = self.clip.encode_images(rendered).float()
        parts = self.objective(pred, batch, self.mapper.latent_scale, self._clip_size(rendered).float(),
                               rendered_embedding, latent_mean=self.mapper.latent_mean)
        self.optimizer.zero_grad(set_to_none=True)
        parts["total"].backward()
        self.optimizer.step()
        self.iteration += 1
        self.parts = {k: float(v.detach()) for k, v in parts.items()}
        self.losses.append(self.parts["total"])
        return self.losses[-1]

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"mapper": self.mapper.state_dict(),  # (saved on the CPU: training_loop)
                "optimizer": self.optimizer.state_dict(), "iteration": self.iteration, "rng": self.rng.get_state(),
                "losses": torch.tensor(self.losses), "objective": self.objective.state_dict()}

    def save_checkpoint(self, path: str | Path) -> None:
        save_checkpoint_file(self.state_dict(), path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint; ``WeightsError`` (one sentence) if it is damaged or is not this run's."""
        def restore(state: dict[str, Any]) -> None:
            self.mapper.load_state_dict(state["mapper"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.rng.set_state(state["rng"])
            self.objective.load_state_dict(state.get("objective", {}))

        self.iteration, self.losses = read_checkpoint(path, self.config.iterations, restore)

    # --- the loop -------------------------------------------------------------------------------------------------
    def train(self, checkpoint: str | Path | None = None, callback: Callable[[Progress], bool | None] | None = None,
              progress_bar: bool = False) -> MapperSet:
        """Run until ``config.iterations``, resuming from ``checkpoint`` if it exists and saving to it every
        ``checkpoint_every`` iterations; ``callback(progress)`` returning False stops early."""
        c = self.config
        training_loop.run(self, c.iterations, c.checkpoint_every, checkpoint, callback, progress_bar,
                          f"training a {c.objective} mapper",
                          postfix=lambda _: {k: f"{v:.3f}" for k, v in self.parts.items()})
        return self.mapper_set()

    @torch.no_grad()
    def domain_floor(self, n: int = 256) -> float:
        """The lowest re-render PSNR (dB) of the mapper's inversion over ``n`` of the generator's own full-resolution
        renders (held-out seeds), less 1 dB: an upload whose inversion falls below it is not from this domain."""
        from .evaluate import HELD_OUT, psnr

        g, c = self.generator, self.config
        self.mapper.eval()
        latents = g.encode(g.sample_z(range(2 * HELD_OUT, 2 * HELD_OUT + n)), c.space, c.truncation)
        values = []
        for chunk in latents.split(64):
            images = g.synthesis(chunk, c.space)
            e = F.normalize(self.clip.encode_images(images).float(), dim=-1)
            again = g.synthesis(self.mapper(e).reshape(len(e), *self.latent_shape).to(g.dtype), c.space)
            values.append(psnr(again, images))
        self.mapper.train()
        return round(float(torch.cat(values).min()) - 1.0, 2)

    def mapper_set(self, name: str = "") -> MapperSet:
        c = self.config
        settings = asdict(c)
        settings["relative"] = "row-softmax KL, current and previous batch" if c.objective == "csla" else None
        settings["final_losses"] = self.parts
        settings["domain_min_psnr_db"] = self.domain_floor(c.domain_samples)
        return MapperSet(mapper=self.mapper, objective=c.objective, generator=c.generator, space=c.space,
                         latent_shape=self.latent_shape, clip=c.clip, truncation=c.truncation, settings=settings,
                         iterations=self.iteration, name=name)
