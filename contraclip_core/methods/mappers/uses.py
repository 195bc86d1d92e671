"""The three uses of a mapper: text → latent, image → latent (inversion), and edits by mapped text offsets.

All take a ``MapperSet`` and the CLIP model it was trained with, and return codes of the mapper's space, shaped
(B, *latent_shape), on the mapper's device. Randomness (the diversity of text → latent) comes from explicit seeds.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ...clip import ClipModel
from ...generators.base import seeded_normal
from .artefact import MapperSet


def _shape(ms: MapperSet, flat: torch.Tensor) -> torch.Tensor:
    return flat.reshape(len(flat), *ms.latent_shape)


@torch.no_grad()
def text_embeddings(ms: MapperSet, clip: ClipModel, texts: Sequence[str], gap_shift: bool = False) -> torch.Tensor:
    """Sentences → unit embeddings (N, D); with ``gap_shift``, moved across the modality gap into the image cone
    (off by default: on the Shapes world it measured worse for both objectives, docs/MAPPERS.md)."""
    device = ms.mapper.latent_mean.device
    return ms.mapper.shift_text(clip.encode_text(list(texts)).float().to(device), gap_shift)


@torch.no_grad()
def text_to_latent(ms: MapperSet, clip: ClipModel, texts: Sequence[str], seeds: Sequence[int] | None = None,
                   noise: float = 0.0, gap_shift: bool = False) -> torch.Tensor:
    """One code per sentence: f(shifted E_T(text)), with seeded noise of norm ≈ ``noise`` added to the embedding
    first when ``seeds`` are given (one seed per sentence) — what the sentence leaves unnamed then varies."""
    e = text_embeddings(ms, clip, texts, gap_shift)  # (N, D)
    if seeds is not None and noise > 0:
        if len(seeds) != len(e):
            raise ValueError(f"{len(seeds)} seeds for {len(e)} sentences")
        xi = seeded_normal([int(s) + 7919 for s in seeds], e.shape[1]).to(e)  # (N, D), its own stream per seed
        e = F.normalize(e + noise * xi / math.sqrt(e.shape[1]), dim=-1)
    return _shape(ms, ms.mapper(e))


@torch.no_grad()
def image_to_latent(ms: MapperSet, clip: ClipModel, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 3, H, W) in [-1, 1] → (codes (B, *latent_shape), unit image embeddings (B, D))."""
    e = F.normalize(clip.encode_images(images).float(), dim=-1).to(ms.mapper.latent_mean.device)
    return _shape(ms, ms.mapper(e)), e


def style_mixing_weights(delta: torch.Tensor) -> torch.Tensor:
    """Adaptive style mixing (CSLA): per style input, how much of the mapped change to take, from its size.

    delta (B, L, w_dim) → (B, L, 1) in [0, 1]: each layer's change norm over the largest; layers the text barely
    moves keep the source's styles. With one style input (W, or the Shapes world) the weights are all 1.
    """
    norms = delta.norm(dim=-1, keepdim=True)  # (B, L, 1)
    return norms / norms.amax(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def text_direction(ms: MapperSet, clip: ClipModel, target: str, neutral: str, gap_shift: bool = True) -> torch.Tensor:
    """CLIP2GAN's edit direction in latent space, unit norm (flat, (d,)): f(E_T(target)) − f(E_T(neutral))."""
    e = text_embeddings(ms, clip, [target, neutral], gap_shift)
    flat = ms.mapper(e)  # (2, d)
    delta = flat[0] - flat[1]
    return delta / delta.norm().clamp_min(1e-12)


@torch.no_grad()
def edit(ms: MapperSet, clip: ClipModel, latents: torch.Tensor, target: str, neutral: str, strengths: Sequence[float],
         form: str = "latent", images: torch.Tensor | None = None) -> torch.Tensor:
    """Edit codes toward ``target`` (away from ``neutral``); returns (B, len(strengths), *latent_shape).

    ``form="latent"`` (CLIP2GAN's edit): w′ = w + λ · unit(f(t_target) − f(t_neutral)), λ = each strength, in the
    generator's latent units. ``form="embedding"``: the offset is added in CLIP space and mapped, as a residual on
    the source code: w′ = w + f(unit(e_x + λ Δt)) − f(e_x), Δt = t_target − t_neutral (shifted, unit), e_x from
    ``images`` (the renders of ``latents``). In W+ the change is applied with adaptive style mixing weights.
    """
    b = len(latents)
    flat = latents.reshape(b, -1).float().to(ms.mapper.latent_mean.device)
    lam = torch.as_tensor(list(strengths), dtype=torch.float32, device=flat.device)  # (T,)
    if form == "latent":
        delta = text_direction(ms, clip, target, neutral)[None, None, :] * lam[None, :, None]  # (1, T, d)
        delta = delta.expand(b, -1, -1)
    elif form == "embedding":
        if images is None:
            raise ValueError("the embedding form needs the images of the codes")
        e_x = F.normalize(clip.encode_images(images).float(), dim=-1).to(flat.device)  # (B, D)
        t = text_embeddings(ms, clip, [target, neutral])
        dt = F.normalize(t[0] - t[1], dim=-1)  # (D,)
        moved = F.normalize(e_x[:, None, :] + lam[None, :, None] * dt, dim=-1)  # (B, T, D)
        delta = ms.mapper(moved.reshape(-1, moved.shape[-1])).reshape(b, len(lam), -1) - ms.mapper(e_x)[:, None, :]
    else:
        raise ValueError(f"form must be 'latent' or 'embedding', got {form!r}")
    if ms.space == "w+":
        d = delta.reshape(b * len(lam), *ms.latent_shape)
        delta = (d * style_mixing_weights(d)).reshape(b, len(lam), -1)
    out = flat[:, None, :] + delta  # (B, T, d)
    return out.reshape(b, len(lam), *ms.latent_shape)
