"""The generator protocol every GAN (and the Shapes world) implements.

A generator maps a latent code to an image in ≈[-1, 1], shape (B, 3, H, W). Latent spaces:

- ``"z"``  — the prior, N(0, I), shape (B, z_dim).
- ``"w"``  — the mapped space (StyleGAN-like generators), shape (B, w_dim); one style for every layer.
- ``"w+"`` — one style per synthesis input, shape (B, num_ws, w_dim).

Generators without a mapping network (ProgGAN) support only ``"z"``. Device and dtype are those of the
module's parameters; CPU/fp32 is the default everywhere.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import torch
from torch import nn

SPACES = ("z", "w", "w+")
RENDER_PIXELS = 2**21  # output pixels a batch of training renders holds at once: 128 at 128 px, 32 at 256, 2 at 1024


def per_chunk(resolution: int, pixels: int = RENDER_PIXELS) -> int:
    """How many images of ``resolution``² pixels to render together (at least one) so that a large batch of
    renders without gradients — anchors, a mapper's samples — never holds more than ``pixels`` pixels of
    activations at once: 64 images at 1024 px in one batch held more than 18 GB."""
    return max(1, pixels // (resolution * resolution))


def seeded_normal(seeds: Sequence[int], dim: int) -> torch.Tensor:
    """One N(0, I) vector per seed, (len(seeds), dim), identical on every machine.

    Each row comes from its own CPU ``torch.Generator`` seeded with that seed, so a code depends only on its seed,
    not on the batch it is drawn in (hysts' ``RandomState(seed)`` habit, but on torch's portable CPU generator).
    """
    rows = []
    for seed in seeds:
        seed = int(seed)
        if not 0 <= seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {seed}")
        g = torch.Generator(device="cpu").manual_seed(seed)
        rows.append(torch.randn(dim, generator=g, dtype=torch.float32))
    if not rows:
        return torch.empty(0, dim)
    return torch.stack(rows)


class Generator(nn.Module):
    """Base class: subclasses set the class/instance attributes below and implement the three hooks.

    Attributes:
        arch: architecture name stored in config.json (``"stylegan2"``, ``"pggan"``, ``"shapes"``).
        z_dim: size of z.
        w_dim: size of one style vector; 0 when there is no W space.
        num_ws: number of style inputs of the synthesis network (W+ rows); 0 when there is no W space.
        resolution: output height and width in pixels (square).
    """

    arch: ClassVar[str] = ""
    supports_wplus: ClassVar[bool] = True  # False for generators whose W space has a single style input
    z_dim: int
    w_dim: int
    num_ws: int
    resolution: int

    # --- hooks for subclasses -------------------------------------------------------------------------------------
    def _map(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, z_dim) → w (B, w_dim). Only for generators with a W space."""
        raise NotImplementedError(f"{type(self).__name__} has no W space")

    def _synthesize_z(self, z: torch.Tensor) -> torch.Tensor:
        """Image from z for generators without a W space."""
        raise NotImplementedError

    def _synthesize_ws(self, ws: torch.Tensor) -> torch.Tensor:
        """Image from per-layer styles ws (B, num_ws, w_dim)."""
        raise NotImplementedError

    def w_avg(self) -> torch.Tensor:
        """The average w (w_dim,), centre of truncation."""
        raise NotImplementedError(f"{type(self).__name__} has no W space")

    # --- the public protocol --------------------------------------------------------------------------------------
    @property
    def spaces(self) -> tuple[str, ...]:
        if self.num_ws == 0:
            return ("z",)
        return ("z", "w", "w+") if self.supports_wplus else ("z", "w")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def latent_shape(self, space: str) -> tuple[int, ...]:
        """Shape of one latent code (without the batch dimension) in ``space``."""
        self.check_space(space)
        if space == "z":
            return (self.z_dim,)
        if space == "w":
            return (self.w_dim,)
        return (self.num_ws, self.w_dim)

    def check_space(self, space: str) -> None:
        if space not in self.spaces:
            raise ValueError(
                f"{type(self).__name__} supports the latent spaces {list(self.spaces)}, not {space!r}"
            )

    def sample_z(self, seeds: Sequence[int] | int) -> torch.Tensor:
        """Seeded z codes (B, z_dim) on this generator's device and dtype; same seed → same z everywhere."""
        if isinstance(seeds, int):
            seeds = [seeds]
        return seeded_normal(seeds, self.z_dim).to(device=self.device, dtype=self.dtype)

    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """z (B, z_dim) → w (B, w_dim), truncated toward the average w: w_avg + ψ (w − w_avg)."""
        w = self._map(z)
        if truncation != 1.0:
            w_avg = self.w_avg().to(w)
            w = w_avg + truncation * (w - w_avg)
        return w

    def encode(self, z: torch.Tensor, space: str, truncation: float = 1.0) -> torch.Tensor:
        """z → the latent code of ``space`` (truncation applies to W and W+)."""
        self.check_space(space)
        if space == "z":
            return z
        w = self.mapping(z, truncation)
        if space == "w":
            return w
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)  # (B, num_ws, w_dim)

    def synthesis(self, latent: torch.Tensor, space: str) -> torch.Tensor:
        """Image (B, 3, H, W), ≈[-1, 1], from a latent code of ``space``. Differentiable."""
        self.check_space(space)
        expected = self.latent_shape(space)
        if tuple(latent.shape[1:]) != expected:
            raise ValueError(
                f"a {space!r} code for this generator has shape (B, {', '.join(map(str, expected))}), "
                f"got {tuple(latent.shape)}"
            )
        latent = latent.to(device=self.device, dtype=self.dtype)
        if space == "z":
            if self.num_ws > 0:
                return self._synthesize_ws(self.mapping(latent).unsqueeze(1).repeat(1, self.num_ws, 1))
            return self._synthesize_z(latent)
        if space == "w":
            latent = latent.unsqueeze(1).repeat(1, self.num_ws, 1)
        return self._synthesize_ws(latent)

    def synthesis_for(self, latent: torch.Tensor, space: str, size: int) -> torch.Tensor:
        """An image for a consumer that looks at it at ``size`` × ``size`` pixels (CLIP during training).

        A generator that can draw natively at a lower resolution may override this to save the work of pixels the
        consumer would average away; by default (and for every generator today) it renders at full resolution and
        the consumer resizes. Differentiable, like ``synthesis``."""
        return self.synthesis(latent, space)

    def forward(self, latent: torch.Tensor, space: str = "z") -> torch.Tensor:
        return self.synthesis(latent, space)
