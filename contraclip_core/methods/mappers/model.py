"""The one mapper abstraction: a CLIP embedding (unit vector) → a latent code of one generator space.

f(e) = latent_mean + latent_scale · net(e), with ``net`` an MLP (CLIP2GAN) or a stack of residual blocks (CSLA's
residual mapper); both are configurations of :class:`LatentMapper`. The latent statistics are measured on the
generator's own samples when training starts, so the network predicts a standardised code for every generator.

Text enters the same map after a *modality-gap shift*: CLIP's text and image embeddings occupy different cones, so
``map_text`` moves a text embedding by (mean image embedding − mean text embedding) and renormalises before
mapping (both means are measured data-free: images from the generator's samples, texts from a caption set). The
shift is stored with the weights and can be turned off (``gap_shift=False``) to measure the raw modality gap.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MapperConfig:
    clip_dim: int  # size of the CLIP embedding
    latent_dim: int  # size of the flattened latent code (w_dim for "w", num_ws·w_dim for "w+")
    hidden: int = 256  # width of the hidden layers
    depth: int = 3  # hidden layers (MLP) or residual blocks (residual=True)
    residual: bool = False  # residual blocks (CSLA) instead of a plain MLP (CLIP2GAN)


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.leaky_relu(self.fc1(self.norm(x)), 0.2))  # (B, H)


class LatentMapper(nn.Module):
    """CLIP embedding (B, clip_dim) → flat latent (B, latent_dim)."""

    def __init__(self, config: MapperConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.residual:
            self.net = nn.Sequential(nn.Linear(c.clip_dim, c.hidden), *[_Residual(c.hidden) for _ in range(c.depth)],
                                     nn.LayerNorm(c.hidden), nn.Linear(c.hidden, c.latent_dim))
        else:
            layers: list[nn.Module] = []
            width = c.clip_dim
            for _ in range(c.depth):
                layers += [nn.Linear(width, c.hidden), nn.LeakyReLU(0.2)]
                width = c.hidden
            self.net = nn.Sequential(*layers, nn.Linear(width, c.latent_dim))
        self.register_buffer("latent_mean", torch.zeros(c.latent_dim))  # mean flat code of the generator's samples
        self.register_buffer("latent_scale", torch.ones(()))  # their average per-coordinate std
        self.register_buffer("image_mean", torch.zeros(c.clip_dim))  # mean unit image embedding of G's samples
        self.register_buffer("text_mean", torch.zeros(c.clip_dim))  # mean unit text embedding of a caption set

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        e = F.normalize(embedding.float(), dim=-1)  # (B, clip_dim)
        return self.latent_mean + self.latent_scale * self.net(e)  # (B, latent_dim)

    def shift_text(self, text_embedding: torch.Tensor, gap_shift: bool = True) -> torch.Tensor:
        """Unit text embeddings (B, D) → where image embeddings of the same content lie (B, D), unit norm."""
        e = F.normalize(text_embedding.float(), dim=-1)
        if gap_shift and bool(self.text_mean.abs().sum() > 0):
            e = F.normalize(e - self.text_mean + self.image_mean, dim=-1)
        return e

    def map_text(self, text_embedding: torch.Tensor, gap_shift: bool = True) -> torch.Tensor:
        return self(self.shift_text(text_embedding, gap_shift))
