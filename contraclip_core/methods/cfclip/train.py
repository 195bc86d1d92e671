"""Training a CF-CLIP mapper: data-free, from the generator's own samples, with CLIP-NCE and the latent L2.

One step: sample z (B), map to the edit space (W+ for StyleGAN2 as the paper, W for Shapes, Z for ProgGAN); give
each row a target sentence drawn from ``targets`` (one sentence: a single-text mapper as the authors train; many:
a text-conditioned mapper over a vocabulary); w′ = w + λ·mapper(w, t); e = E_I(G(w)) without gradient,
e′ = E_I(G(w′)); loss = nce_λ·CLIP-NCE + l2_λ·‖w′ − w‖² (+ clip_λ·(1 − cos(e′, t̄)), 0 by default: not in CF-CLIP).
Adam, checkpoints with the optimiser and RNG state, so a resumed run continues exactly as an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ... import registry, training_loop
from ...clip import ClipModel, cached_text_embeddings
from ...generators.base import Generator
from ...training_loop import Progress, cosine_lr, read_checkpoint, save_checkpoint_file
from .artefact import EditSet, codes_of
from .losses import (
    clip_batch_contrastive_loss,
    clip_keep_loss,
    clip_nce_loss,
    clip_rival_loss,
    clip_similarity_loss,
    latent_l2,
)
from .model import TEXT_INPUTS, MapperConfig, TextConditionedMapper, text_input, text_table
from .rivals import factor_tables, rival_pool

# The neutral description of each generator family's domain ("source class"), by the preset's corpus.
SOURCE_CLASSES = {"attributes": "a face", "expressions": "a face", "complex": "a face", "dogs": "a dog",
                  "cats": "a cat", "cars": "a car", "shapes": "a shape"}
# Prompt templates the text embeddings are averaged over (ImageNet-style, as the authors'; "{}" for the Shapes
# world, whose CLIP only knows its caption grammar).
PHOTO_TEMPLATES = ("a photo of {}.", "a bad photo of {}.", "a good photo of {}.", "a close-up photo of {}.",
                   "a bright photo of {}.", "a cropped photo of {}.", "a rendering of {}.", "a blurry photo of {}.")


@dataclass
class EditTrainConfig:
    targets: list[str]  # target sentences; one → a single-text mapper, many → text-conditioned over them
    generator: str = registry.DEFAULT_GENERATOR  # registry name or source of the generator
    clip: str | None = None  # registry CLIP name; None → the generator preset's
    space: str | None = None  # "z" | "w" | "w+"; None → the preset's (W+ for StyleGAN2, as the paper)
    truncation: float | None = None  # ψ of the sampled codes; None → the preset's
    source_class: str | None = None  # neutral domain description; None → SOURCE_CLASSES of the preset's corpus
    templates: list[str] | None = None  # prompt templates; None → ["{}"] for Shapes, PHOTO_TEMPLATES otherwise
    iterations: int = 2000
    batch_size: int = 16
    lr: float = 0.5  # Adam step size (the authors: Ranger, 0.5; equalised layers with lr_mul 0.01)
    lr_schedule: str = "constant"  # "constant" (the authors') or "cosine": decays to 0 over ``iterations``
    nce_lambda: float = 0.3  # weight of CLIP-NCE (authors' default)
    l2_lambda: float = 0.8  # weight of the latent L2 (authors' default)
    clip_lambda: float = 0.0  # weight of the optional global CLIP loss (not part of CF-CLIP)
    clip_loss: str = "cosine"  # that loss: "cosine" (1 − cos(e′, t̄), StyleCLIP's) or "contrastive" (over the batch)
    tau: float = 0.1  # InfoNCE temperature (authors' default)
    nce_min_norm: float = 0.0  # CLIP-NCE's query q = Δe / max(‖Δe‖, this); 0 = n(Δe), the authors'
    nce_negatives: str = "own"  # CLIP-NCE negatives from each row's own source image, or "first": the batch's first
    #                             row's, as the authors' code (docs/EDITS.md, departure 7, measures both)
    rival_tau: float = 0.07  # temperature of the "rivals" CLIP loss
    keep_lambda: float = 0.0  # weight of the CLIP keep loss on the factors a Shapes caption leaves unnamed
    residual_scale: float = 0.1  # λ in w′ = w + λ·Δw (authors' 0.1)
    text_input: str = "embedding"  # the mapper's text input: "embedding" (t̄), "direction" (p₁ = n(t̄ − t̄_source))
    #                               or "offset" (t̄ − t̄_source, unnormalised: adds over factors)
    depth: int = 4  # layers per mapper MLP
    text_skip: bool = False  # add a linear text → residual term beside the fused path (not in CF-CLIP)
    skip_lr_mul: float = 0.01  # that term's equalised learning-rate multiplier
    gate_rank: int = 0  # R > 0: a text-gated linear map of the code beside them (not in CF-CLIP; model.py)
    lr_mul: float = 0.01  # equalised learning-rate multiplier
    seed: int = 0
    checkpoint_every: int = 100  # iterations between checkpoints (when a checkpoint path is given)

    def resolved(self) -> "EditTrainConfig":
        """A copy with every None replaced by the generator preset's default."""
        preset = registry.GENERATORS.get(self.generator)
        values = asdict(self)
        shapes = preset is not None and preset.arch == "shapes"
        defaults = {
            "clip": preset.clip if preset else "ViT-B-32/openai",
            "space": preset.default_space if preset else "w+",
            "truncation": preset.default_truncation if preset else 0.7,
            "source_class": SOURCE_CLASSES.get(preset.corpus, "an image") if preset else "an image",
            "templates": ["{}"] if shapes else list(PHOTO_TEMPLATES),
        }
        for key, value in defaults.items():
            if values[key] is None:
                values[key] = value
        return EditTrainConfig(**values)

    def validate(self) -> None:
        if not self.targets or any(not isinstance(t, str) or not t.strip() for t in self.targets):
            raise ValueError("give at least one target sentence, and no empty ones")
        if self.templates is not None and any("{}" not in t for t in self.templates):
            raise ValueError("every prompt template needs a {} where the sentence goes")
        if self.nce_min_norm < 0:
            raise ValueError(f"nce_min_norm must be 0 or more, got {self.nce_min_norm}")
        if self.nce_negatives not in ("own", "first"):
            raise ValueError(f"nce_negatives must be 'own' or 'first', got {self.nce_negatives!r}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError("iterations and batch size must be positive")
        if self.clip_loss not in ("cosine", "contrastive", "rivals"):
            raise ValueError(f"clip_loss must be 'cosine', 'contrastive' or 'rivals', got {self.clip_loss!r}")
        if self.text_input not in TEXT_INPUTS:
            raise ValueError(f"text_input must be one of {TEXT_INPUTS}, got {self.text_input!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.gate_rank < 0:
            raise ValueError(f"gate_rank must be 0 or more, got {self.gate_rank}")
        if self.space not in (None, "z", "w", "w+"):
            raise ValueError(f"space must be 'z', 'w' or 'w+', got {self.space!r}")


def render_generator(generator: Generator, size: int) -> Generator:
    """The generator to render training images with: for the Shapes world, the same weights rasterised at CLIP's
    input size (same attributes, ~4× fewer pixels than 128 px rendered then resized); otherwise ``generator``."""
    from dataclasses import replace

    from ...generators.shapes import ShapesGenerator

    if not isinstance(generator, ShapesGenerator) or generator.resolution <= size:
        return generator
    small = ShapesGenerator(replace(generator.config, resolution=size))
    small.load_state_dict(generator.state_dict())
    return small.to(device=generator.device, dtype=generator.dtype).eval().requires_grad_(False)


class EditTrainer:
    """Trains one CF-CLIP mapper for one generator and one CLIP model."""

    def __init__(self, config: EditTrainConfig, generator: Generator, clip: ClipModel):
        config = config.resolved()
        config.validate()
        self.config, self.generator, self.clip, self.device = config, generator, clip, generator.device
        self.render = render_generator(generator, clip.image_size)  # what CLIP sees, rendered at its input size
        shape = generator.latent_shape(config.space)
        num_layers, dim = (shape[0], shape[1]) if config.space == "w+" else (1, shape[0])
        with torch.no_grad():
            self.targets = text_table(clip, config.targets, config.templates).to(self.device)  # (N, E)
            self.sources = F.normalize(cached_text_embeddings(
                clip, [t.format(config.source_class) for t in config.templates]).float(), dim=-1).to(self.device)
            self.directions = F.normalize(self.targets - self.sources.mean(0, keepdim=True), dim=-1)  # (N, E)
            self.text_inputs = text_input(self.targets, self.sources.mean(0, keepdim=True), config.text_input)
        if config.clip_lambda > 0 and config.clip_loss == "rivals":  # built only for the losses that use them
            pool, rivals = rival_pool(config.targets)  # the targets, then grammar rivals; (N, P) bool
            with torch.no_grad():
                self.pool = text_table(clip, pool, config.templates).to(self.device)  # (P, E), first N = targets
            self.rivals = rivals.to(self.device)
        if config.keep_lambda > 0:
            prompts, unnamed = factor_tables(clip, config.targets, config.templates)
            self.factor_prompts, self.unnamed = [t.to(self.device) for t in prompts], unnamed.to(self.device)
        self.mapper_config = MapperConfig(dim, self.targets.shape[1], num_layers, config.depth, config.lr_mul,
                                          config.residual_scale, text_skip=config.text_skip,
                                          skip_lr_mul=config.skip_lr_mul, gate_rank=config.gate_rank)
        self.mapper = TextConditionedMapper(self.mapper_config, seed=config.seed).to(self.device)
        self.optimizer = torch.optim.Adam(self.mapper.parameters(), lr=config.lr)
        self.rng = torch.Generator().manual_seed(config.seed + 1)
        self.iteration, self.resumed_from = 0, 0
        self.losses: list[float] = []

    def _sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        z = torch.randn(c.batch_size, self.generator.z_dim, generator=self.rng)
        which = torch.randint(len(c.targets), (c.batch_size,), generator=self.rng)
        return z.to(self.device, self.generator.dtype), which.to(self.device)

    def loss(self, z: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        c, g = self.config, self.generator
        with torch.no_grad():
            latent = g.encode(z, c.space, c.truncation)
            e = F.normalize(self.clip.encode_images(self.render.synthesis(latent, c.space)).float(), dim=-1)  # (B, E)
        codes = codes_of(latent, c.space)  # (B, L, D)
        edited = self.mapper(codes, self.text_inputs[which])  # (B, L, D)
        images = self.render.synthesis(edited.reshape(latent.shape), c.space)
        e_edit = F.normalize(self.clip.encode_images(images).float(), dim=-1)  # (B, E)
        loss = c.nce_lambda * clip_nce_loss(e, e_edit, self.targets[which], self.directions[which], self.sources,
                                            c.tau, c.nce_min_norm, c.nce_negatives)
        loss = loss + c.l2_lambda * latent_l2(codes, edited)
        if c.keep_lambda > 0:
            loss = loss + c.keep_lambda * clip_keep_loss(e, e_edit, self.factor_prompts, self.unnamed[which],
                                                         c.rival_tau)
        if c.clip_lambda > 0 and c.clip_loss == "rivals":
            loss = loss + c.clip_lambda * clip_rival_loss(e_edit, self.pool, which, self.rivals, c.rival_tau)
        elif c.clip_lambda > 0 and c.clip_loss == "contrastive":
            loss = loss + c.clip_lambda * clip_batch_contrastive_loss(e_edit, self.targets[which], which)
        elif c.clip_lambda > 0:
            loss = loss + c.clip_lambda * clip_similarity_loss(e_edit, self.targets[which])
        return loss

    def learning_rate(self) -> float:
        """Adam's step size at this iteration: ``lr`` throughout, or cosine-decayed from it to 0 at the end."""
        c = self.config
        if c.lr_schedule == "cosine":
            return cosine_lr(c.lr, 0.0, self.iteration / c.iterations)
        return c.lr

    def step(self) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        loss = self.loss(*self._sample())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        self.losses.append(loss.item())
        return self.losses[-1]

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"mapper": self.mapper.state_dict(),  # (saved on the CPU: training_loop)
                "optimizer": self.optimizer.state_dict(), "iteration": self.iteration, "rng": self.rng.get_state(),
                "losses": torch.tensor(self.losses)}

    def save_checkpoint(self, path: str | Path) -> None:
        save_checkpoint_file(self.state_dict(), path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint; ``WeightsError`` (one sentence) if it is damaged or is not this run's."""
        def restore(state: dict[str, Any]) -> None:
            self.mapper.load_state_dict(state["mapper"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.rng.set_state(state["rng"])

        self.iteration, self.losses = read_checkpoint(path, self.config.iterations, restore)

    # --- the loop -------------------------------------------------------------------------------------------------
    def train(self, checkpoint: str | Path | None = None, callback: Callable[[Progress], bool | None] | None = None,
              progress_bar: bool = False) -> EditSet:
        """Run until ``config.iterations``, resuming from ``checkpoint`` if it exists and saving to it every
        ``checkpoint_every`` iterations. ``callback(progress)`` returning False stops early (cancel)."""
        c = self.config
        training_loop.run(self, c.iterations, c.checkpoint_every, checkpoint, callback, progress_bar,
                          "training edit mapper")
        return self.edit_set()

    def edit_set(self, name: str = "") -> EditSet:
        c = self.config
        return EditSet(mapper=self.mapper, generator=c.generator, space=c.space, truncation=c.truncation,
                       text_input=c.text_input,
                       latent_shape=tuple(self.generator.latent_shape(c.space)), clip=c.clip, targets=list(c.targets),
                       source_class=c.source_class, templates=list(c.templates), settings=asdict(c),
                       iterations=self.iteration, name=name)


# The Shapes world's settings, chosen by measurement on held-out sentences with tuning seeds 3000–3047 (docs/EDITS.md
# lists the runs and says why each departs from the authors'): λ = 5 (the Shapes W space is standardised and a label
# changes only after several std along a head); the mapper reads the text offset t̄ − t̄_source (a three-factor
# sentence's offset is about the sum of its factors', so the linear terms compose; the normalised direction shrinks
# each factor's share) and has, beside CF-CLIP's fused MLPs, a linear text → residual term (without it the edits stay
# near chance: 40%) and a text-gated linear map of the code (the middle classes, "medium", "in the centre", "in the
# middle", are a pull toward the middle whose sign depends on the code: without it they stay at chance); the CLIP loss
# is the "rivals" classification (the sentence against the captions naming the same factors otherwise) plus the keep
# loss on unnamed factors; CLIP-NCE keeps the authors' weight, its query floored (nce_min_norm: with the authors' n(Δe)
# and a mapper starting at the identity edit, even ×0.03 left the edits at 44%); latent L2 ×1.5 holds down what CLIP
# barely sees. A cosine-decayed step, and for a mapper over many sentences (the caption vocabulary: 234) 10 000
# iterations: CLIP's gradient toward a middle class is weak and often wrong far from the middle, and with a constant
# step or 2000 iterations the middle classes wander between runs (39–99%). A few typed sentences keep 2000.
SHAPES_SETTINGS: dict[str, Any] = {"iterations": 2000, "batch_size": 16, "residual_scale": 5.0, "lr_mul": 0.01,
                                   "lr_schedule": "cosine", "text_input": "offset", "text_skip": True,
                                   "skip_lr_mul": 0.02, "gate_rank": 32, "clip_lambda": 1.0, "clip_loss": "rivals",
                                   "rival_tau": 0.07, "keep_lambda": 3.0, "nce_lambda": 0.3, "nce_min_norm": 0.1,
                                   "l2_lambda": 1.5}


MANY_TARGETS = 32  # a Shapes mapper over more sentences than this trains for MANY_TARGETS_ITERATIONS
MANY_TARGETS_ITERATIONS = 10000


def edit_config(generator: str, targets: list[str], seed: int = 0) -> EditTrainConfig:
    """The settings the app and the CLI train a new mapper with: the measured ones for the Shapes world (longer for
    a mapper over many sentences), the authors' (``EditTrainConfig``'s defaults) for real generators."""
    preset = registry.GENERATORS.get(generator)
    extra = dict(SHAPES_SETTINGS) if preset is not None and preset.arch == "shapes" else {}
    if extra and len(targets) > MANY_TARGETS:
        extra["iterations"] = MANY_TARGETS_ITERATIONS
    return EditTrainConfig(targets=list(targets), generator=generator, seed=seed, **extra)
