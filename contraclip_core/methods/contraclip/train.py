"""ContraCLIP training: the step of DESIGN §2, Adam with step decay, checkpoints, exact resume, progress.

One step: sample z (B), map to the path's latent space; pick path indices (a permutation of the K paths when
B ≤ K, balanced otherwise) and signed magnitudes ε_i ∈ ±[ε_min, ε_max]; move w′ = w + ε_i u^L_{k_i}(w); embed both
images with CLIP (the original without gradient); Δe = e′ − e, Δt_i = ε_i u^T_{k_i}(e); contrastive (or cosine)
loss between them. All randomness comes from one CPU ``torch.Generator`` whose state is checkpointed, so a resumed
run continues exactly as an uninterrupted one.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ... import registry, training_loop
from ...clip import ClipModel, cached_text_embeddings
from ...generators.base import Generator, per_chunk
from ...training_loop import (  # noqa: F401  (Progress: callers)
    Progress,
    read_checkpoint,
    save_checkpoint_file,
    step_decay_lr,
)
from . import objectives, orientation, pae
from .anchor_pool import AnchorPool
from .artefact import PathSet
from .losses import contrastive_loss, cosine_loss
from .model import (
    CorpusSupportSets,
    LatentSupportSets,
    LatentView,
    LinearPaths,
    jung_radius,
)
from .whitening import LatentWhitening

WHITENING_SAMPLES = 10_000  # prior samples that estimate W's mean and covariance for whitened paths


@dataclass
class TrainConfig:
    dipoles: list[tuple[str, str]]  # (positive, negative) sentences; positive steps move toward the first
    generator: str = registry.DEFAULT_GENERATOR  # registry name or source of the generator
    clip: str | None = None  # registry CLIP name; None → the generator preset's CLIP
    method: str = "contraclip"  # "contraclip" (RBF paths) or "linear" (baseline: one fixed direction per path)
    space: str | None = None  # "z" | "w" | "w+"; None → the generator preset's
    layers: int | None = None  # ℓ for W+ (style inputs 0…ℓ move); None → preset's
    truncation: float | None = None  # ψ for sampling anchors; None → preset's
    num_pairs: int = 64  # D: antipodal support-vector pairs per path
    iterations: int = 20_000  # optimisation steps
    batch_size: int | None = None  # B; None → max(K, 8)
    loss: str = "contrastive"  # "contrastive" (τ) or "cosine"
    objective: str = "plain"  # CLIP-space target: "plain" (ContraCLIP's) or "pae" (CLIP-PAE); see objectives.py
    off_target_weight: float = 0.0  # weight of the penalty on Δe outside the dipole's attribute subspace
    pae_alpha: float = pae.DEFAULT_ALPHA  # α, PAE's augmentation power (recorded; the shift's direction ignores it)
    pae_components: int = pae.DEFAULT_COMPONENTS  # k, principal directions per attribute family
    pae_family: str = ""  # attribute family of every dipole; "" → chosen per dipole from the corpora
    tau: float = 0.07  # contrastive temperature
    negatives: list[tuple[str, str]] = field(default_factory=list)  # extra negative dipoles (CLIP side only)
    lr: float = 1e-4  # Adam learning rate
    lr_decay_at: float = 0.9  # ×0.1 after this fraction of the iterations
    eps_min: float | None = None  # smallest latent step ε during training; None → preset's
    eps_max: float | None = None  # largest; None → preset's
    beta_lss: float = 0.5  # RBF value at distance 2r for the initial latent widths
    beta_css: float = 0.5  # RBF value of one CLIP pole at the other
    radius_range: tuple[float, float] = (0.9, 1.25)  # path radii as multiples of the Jung radius
    seed: int = 0
    whiten: bool = False  # paths live in whitened latent coordinates (whitening.py): w = μ + L u, per W row
    anchor_pool: int = 0  # N > 0: anchors drawn from N seeded codes, each rendered and embedded once (anchor_pool.py)
    checkpoint_every: int = 100  # iterations between checkpoints (when a checkpoint path is given)

    def resolved(self) -> "TrainConfig":
        """A copy with every None replaced by the generator preset's default."""
        preset = registry.GENERATORS.get(self.generator)
        values = asdict(self)
        values["dipoles"] = [tuple(d) for d in self.dipoles]
        values["negatives"] = [tuple(d) for d in self.negatives]
        values["radius_range"] = tuple(self.radius_range)
        defaults = {
            "clip": preset.clip if preset else "ViT-B-32/openai",
            "space": preset.default_space if preset else "w+",
            "layers": preset.default_layers if preset else 11,
            "truncation": preset.default_truncation if preset else 0.7,
            "eps_min": preset.eps_range[0] if preset else 0.1,
            "eps_max": preset.eps_range[1] if preset else 0.2,
            "batch_size": max(len(self.dipoles), 8),
        }
        for key, value in defaults.items():
            if values[key] is None:
                values[key] = value
        return TrainConfig(**values)

    def validate(self) -> None:
        if not self.dipoles:
            raise ValueError("at least one dipole (two sentences) is needed")
        for pos, neg in self.dipoles + self.negatives:
            if not pos.strip() or not neg.strip():
                raise ValueError("a dipole's sentences must not be empty")
            if pos.strip().lower() == neg.strip().lower():
                raise ValueError(f"a dipole needs two different sentences, got {pos!r} twice")
        if self.method not in ("contraclip", "linear"):
            raise ValueError(f"method must be 'contraclip' or 'linear', got {self.method!r}")
        if self.objective not in objectives.OBJECTIVES:
            raise ValueError(f"objective must be one of {sorted(objectives.OBJECTIVES)}, got {self.objective!r}")
        if not (self.off_target_weight >= 0 and math.isfinite(self.off_target_weight)):
            raise ValueError("the off-target weight must be a finite number ≥ 0")
        if self.loss not in ("contrastive", "cosine"):
            raise ValueError(f"loss must be 'contrastive' or 'cosine', got {self.loss!r}")
        if self.iterations < 1 or (self.batch_size is not None and self.batch_size < 1):
            raise ValueError("iterations and batch size must be positive")
        if self.anchor_pool < 0:
            raise ValueError("the anchor pool size must be 0 (fresh anchors) or positive")


class Trainer:
    """Trains K paths for one generator and one CLIP model."""

    def __init__(self, config: TrainConfig, generator: Generator, clip: ClipModel):
        config = config.resolved()
        config.validate()
        self.config, self.generator, self.clip = config, generator, clip
        self.device = generator.device
        g = generator
        self.view = LatentView(config.space, g.latent_shape(config.space), config.layers)
        k = len(config.dipoles)
        init_rng = torch.Generator().manual_seed(config.seed)
        with torch.no_grad():
            z = torch.randn(1000, g.z_dim, generator=init_rng).to(self.device, g.dtype)
            samples = self.view.flat(g.encode(z, config.space, config.truncation)).float().cpu()
            whitening = None
            if config.whiten:  # W's statistics, one block per row a W+ path moves (each row repeats W)
                z = torch.randn(WHITENING_SAMPLES, g.z_dim, generator=init_rng).to(self.device, g.dtype)
                rows = g.encode(z, "z" if config.space == "z" else "w", config.truncation).float().cpu()
                whitening = LatentWhitening.fit(rows, block=rows.shape[1])
                samples = whitening.to_u(samples)
        self.jung_radius = jung_radius(samples)
        if config.method == "linear":
            self.paths: LatentSupportSets | LinearPaths = LinearPaths(k, self.view.dim, seed=config.seed)
        else:
            lo, hi = config.radius_range
            radii = torch.linspace(lo, hi, k) * self.jung_radius if k > 1 else torch.tensor([lo * self.jung_radius])
            self.paths = LatentSupportSets(k, config.num_pairs, self.view.dim, radii, config.beta_lss, config.seed)
        self.paths.whitening = whitening
        self.paths.to(self.device)
        with torch.no_grad():
            pos = cached_text_embeddings(clip, [d[0] for d in config.dipoles])
            neg = cached_text_embeddings(clip, [d[1] for d in config.dipoles])
            self.css = CorpusSupportSets(pos, neg, config.beta_css).to(self.device)
            self.neg_css = None
            if config.negatives:
                npos = cached_text_embeddings(clip, [d[0] for d in config.negatives])
                nneg = cached_text_embeddings(clip, [d[1] for d in config.negatives])
                self.neg_css = CorpusSupportSets(npos, nneg, config.beta_css).to(self.device)
        self.objective = objectives.build(
            config.objective, clip, self.css, pos.to(self.device), neg.to(self.device), generator=config.generator,
            off_target_weight=config.off_target_weight, components=config.pae_components, family=config.pae_family,
            alpha=config.pae_alpha)
        self.optimizer = torch.optim.Adam(self.paths.parameters(), lr=config.lr)
        self.rng = torch.Generator().manual_seed(config.seed + 1)
        self.pool = AnchorPool.seeded(config.anchor_pool, g.z_dim, config.seed + 2, self.device, g.dtype,
                                      self._anchor) if config.anchor_pool else None
        self.iteration = 0
        self.resumed_from = 0  # iteration of the checkpoint train() started from (0: a fresh start)
        self.losses: list[float] = []
        self.orientation: list[dict[str, Any]] = []  # per path, once trained: the orientation check's record
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=False)  # enabled under fp16 autocast (step)

    # --- one step -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _anchor(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, z_dim) → the anchors' latent codes and their CLIP image embeddings (B, E), rendered a bounded
        number at a time (``generators.base.per_chunk``: a pool block of 32 anchors at 1024 px in one batch would
        hold ~10 GB of activations); the chunks are fixed by B alone, so the same z always gives the same values."""
        c, g = self.config, self.generator
        latent = g.encode(z, c.space, c.truncation)
        embeddings = [self.clip.encode_images(g.synthesis_for(part, c.space, self.clip.image_size)).float()
                      for part in latent.split(per_chunk(g.resolution))]
        return latent, torch.cat(embeddings)

    def _sample(self) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One batch: the anchors (latent, CLIP embedding), each sample's path, and its signed step ε."""
        c, k = self.config, len(self.config.dipoles)
        b = c.batch_size
        reps = math.ceil(b / k)
        paths = torch.cat([torch.randperm(k, generator=self.rng) for _ in range(reps)])[:b]
        if self.pool is not None:
            anchors = self.pool.draw(torch.randint(len(self.pool), (b,), generator=self.rng).to(self.device))
        else:
            anchors = self._anchor(torch.randn(b, self.generator.z_dim, generator=self.rng).to(
                self.device, self.generator.dtype))
        sign = torch.where(torch.rand(b, generator=self.rng) < 0.5, -1.0, 1.0)
        eps = sign * (c.eps_min + (c.eps_max - c.eps_min) * torch.rand(b, generator=self.rng))
        return anchors, paths.to(self.device), eps.to(self.device)

    def loss(self, anchors: tuple[torch.Tensor, torch.Tensor], paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        c, g = self.config, self.generator
        latent, e = anchors
        flat = self.view.flat(latent)
        shifted = flat + eps.unsqueeze(1).to(flat.dtype) * self.paths.direction(flat, paths)
        image = g.synthesis_for(self.view.merge(shifted, latent), c.space, self.clip.image_size)
        e_shifted = self.clip.encode_images(image).float()
        delta_e = e_shifted - e  # (B, E)
        delta_t = self.objective.target_shift(e, paths, eps)  # (B, E)
        penalty = self.objective.penalty(delta_e, paths)
        if c.loss == "cosine":
            return cosine_loss(delta_e, delta_t) + penalty
        extra = None
        if self.neg_css is not None:
            m = self.neg_css.num_dipoles
            idx = torch.arange(m, device=self.device)
            dirs = torch.stack([self.neg_css.direction(e, idx[j].expand(len(e))) for j in range(m)], dim=1)
            extra = eps.view(-1, 1, 1) * dirs  # (B, M, E)
        return contrastive_loss(delta_e, delta_t, c.tau, paths=paths, extra_negatives=extra) + penalty

    def step(self) -> float:
        c = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = step_decay_lr(c.lr, self.iteration, c.iterations, at=c.lr_decay_at)
        loss = self.loss(*self._sample())
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self._loss_scaler()
        scaler.scale(loss).backward()
        scaler.step(self.optimizer)  # skipped (and the scale lowered) when a scaled gradient overflowed
        scaler.update()
        self.iteration += 1
        self.losses.append(loss.item())
        return self.losses[-1]

    def _loss_scaler(self) -> torch.amp.GradScaler:
        """Under fp16 autocast (what a T4 trains in) the loss is scaled before the backward pass, so gradients below
        fp16's smallest value are not flushed to zero (torch.amp's recipe); bf16 and fp32 need no scaling (the
        scaler is then a pass-through)."""
        kind = self.device.type
        fp16 = torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind) == torch.float16
        if self.scaler.is_enabled() != fp16:
            self.scaler = torch.amp.GradScaler(kind, enabled=fp16)
        return self.scaler

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "paths": self.paths.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "rng": self.rng.get_state(),
            "losses": torch.tensor(self.losses),
        }

    def save_checkpoint(self, path: str | Path) -> None:
        save_checkpoint_file(self.state_dict(), path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint; ``WeightsError`` (one sentence) if it is damaged or is not this run's."""
        def restore(state: dict[str, Any]) -> None:
            self.paths.load_state_dict(state["paths"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.rng.set_state(state["rng"])

        self.iteration, self.losses = read_checkpoint(path, self.config.iterations, restore)

    # --- the loop -------------------------------------------------------------------------------------------------
    def train(
        self,
        checkpoint: str | Path | None = None,
        callback: Callable[[Progress], bool | None] | None = None,
        progress_bar: bool = False,
    ) -> PathSet:
        """Run until ``config.iterations``. Resumes from ``checkpoint`` if it exists and saves to it every
        ``checkpoint_every`` iterations. ``callback(progress)`` returning False stops early (cancel)."""
        c = self.config
        training_loop.run(self, c.iterations, c.checkpoint_every, checkpoint, callback, progress_bar, "training paths")
        if self.iteration >= c.iterations and not self.orientation:
            self.orient()
        return self.path_set()

    def orient(self) -> list[dict[str, Any]]:
        """The check every finished training ends with (orientation.py): each path's CLIP-space movement along its
        dipole, with this training's CLIP and sentences; a path that goes the wrong way is flipped. Recorded in the
        path set's ``metrics["orientation"]``. (The checkpoint keeps the paths as trained: a resume from it checks
        and flips again, to the same result.)"""
        c = self.config
        self.orientation = orientation.orient(
            self.paths, self.view, self.generator, self.clip, self.css.support_sets[:, 0], self.css.support_sets[:, 1],
            c.truncation, registry.step_size_for(c.generator))
        return self.orientation

    def path_set(self, name: str = "") -> PathSet:
        c = self.config
        paths = self.paths
        settings = asdict(c)
        settings["jung_radius"] = self.jung_radius
        settings["objective_record"] = self.objective.record()  # PAE: family per dipole, corpus, basis, α
        return PathSet(
            lss=paths, dipoles=list(c.dipoles), generator=c.generator, space=c.space, layers=c.layers,
            truncation=c.truncation, latent_shape=self.generator.latent_shape(c.space), settings=settings,
            iterations=self.iteration, name=name,
            metrics={"orientation": list(self.orientation)} if self.orientation else {},
        )
