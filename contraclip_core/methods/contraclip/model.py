"""Support sets: the RBF fields whose normalised gradients are ContraCLIP's directions.

Both fields have the form f(x) = Σ_i α_i exp(−γ ‖x − s_i‖²), with gradient ∇f(x) = −2γ Σ_i α_i exp(−γ‖x − s_i‖²)(x − s_i).

- ``LatentSupportSets`` (trainable): K paths in a latent space of dimension d; path k has D antipodal pairs
  (v, −v) with α = (+1, −1, +1, −1, …) and one learnable log-width. Its normalised gradient u^L_k(w) is the
  (non-linear, position-dependent) direction of path k at w.
- ``CorpusSupportSets`` (fixed): K dipoles in CLIP space, s⁺ = E_T(t⁺), s⁻ = E_T(t⁻) with α = (+1, −1) and
  γ_k = −ln β / ‖s⁻ − s⁺‖². Its normalised gradient u^T_k(e) at an image embedding e points toward t⁺.

Latent codes are handled as flat vectors here; ``LatentView`` maps a generator's latent (z, w, or the first ℓ+1
rows of w+) to and from that flat vector.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from .whitening import LatentWhitening

EPS = 1e-12


def rbf_gradient(x: torch.Tensor, support: torch.Tensor, alpha: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """∇f at x. x (B, d), support (B, N, d), alpha (N,) or (B, N), gamma (B,) → (B, d)."""
    diff = x.unsqueeze(1) - support  # (B, N, d)
    weights = alpha * torch.exp(-gamma.unsqueeze(1) * diff.square().sum(-1))  # (B, N)
    return -2.0 * gamma.unsqueeze(1) * (weights.unsqueeze(-1) * diff).sum(1)  # (B, d)


def in_fp32(direction):
    """A path's ``direction(x, index)`` in fp32 whatever autocast is on (a T4 trains in fp16): its squared distances,
    exponentials, norms and whitening products cost nothing next to the generator, and in fp16 they overflow
    (squared distances between W+ codes pass 65504) or flush the 1e-12 guards to zero."""
    @functools.wraps(direction)
    def wrapper(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return direction(self, x.float() if x.dtype in (torch.float16, torch.bfloat16) else x, index)
    return wrapper


def normalise(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(EPS)


def jung_radius(samples: torch.Tensor) -> float:
    """Jung's bound on the radius of the smallest ball holding the samples (n, d): diam · sqrt(d / (2(d+1)))."""
    d = samples.shape[1]
    diameter = torch.cdist(samples, samples).max().item()
    return diameter * math.sqrt(d / (2 * (d + 1)))


class LatentSupportSets(nn.Module):
    """K trainable RBF paths in a d-dimensional latent space.

    Args:
        num_paths: K.
        num_pairs: D, antipodal support-vector pairs per path (paper: 64).
        dim: d, the flat latent dimension.
        radii: (K,) the radius r_k each path's support vectors start on (spread over [0.9, 1.25]·r_Jung).
        beta: β_lss, the RBF value at distance 2r (sets the initial width γ = −ln β / (2r)²).
        seed: seeds the random support vectors.
    """

    def __init__(self, num_paths: int, num_pairs: int, dim: int, radii: torch.Tensor | list[float],
                 beta: float = 0.5, seed: int = 0):
        super().__init__()
        radii = torch.as_tensor(radii, dtype=torch.float32).reshape(num_paths)
        g = torch.Generator().manual_seed(seed)
        v = torch.randn(num_paths, num_pairs, dim, generator=g)  # (K, D, d)
        v = radii.view(-1, 1, 1) * normalise(v)
        pairs = torch.stack([v, -v], dim=2).reshape(num_paths, 2 * num_pairs, dim)  # v₁, −v₁, v₂, −v₂, …
        self.support_sets = nn.Parameter(pairs)  # (K, 2D, d)
        self.log_gamma = nn.Parameter(torch.log(-math.log(beta) / (2 * radii) ** 2))  # (K,)
        self.register_buffer("alpha", torch.tensor([1.0, -1.0]).repeat(num_pairs))  # (2D,)
        self.num_paths, self.num_pairs, self.dim = num_paths, num_pairs, dim
        self.whitening: LatentWhitening | None = None  # set: the support sets live in whitened coordinates

    def gradient(self, w: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
        """Unnormalised ∇f_{k_i}(w_i). w (B, d), paths (B,) long → (B, d) (in whitened coordinates if whitened)."""
        return rbf_gradient(w, self.support_sets[paths], self.alpha, self.log_gamma.exp()[paths])

    @in_fp32
    def direction(self, w: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
        """u^L_k(w): the unit direction of path k_i at w_i, (B, d); whitened: the step L·u^L_k(u) a unit step in
        whitened coordinates makes in w."""
        if self.whitening is None:
            return normalise(self.gradient(w, paths))
        return self.whitening.lift(normalise(self.gradient(self.whitening.to_u(w), paths)))

    def forward(self, w: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
        return self.direction(w, paths)


class CorpusSupportSets(nn.Module):
    """K fixed CLIP-space dipoles.

    Args:
        positive: (K, e) text embeddings of the first sentences (as E_T returns them, unnormalised).
        negative: (K, e) text embeddings of the second sentences.
        beta: β_css, the RBF value of one pole at the other (γ_k = −ln β / ‖s⁻ − s⁺‖²).
    """

    def __init__(self, positive: torch.Tensor, negative: torch.Tensor, beta: float = 0.5):
        super().__init__()
        if positive.shape != negative.shape or positive.ndim != 2:
            raise ValueError(f"positive and negative must both be (K, e), got {positive.shape} and {negative.shape}")
        self.register_buffer("support_sets", torch.stack([positive, negative], dim=1).float())  # (K, 2, e)
        self.register_buffer("alpha", torch.tensor([1.0, -1.0]))
        gap = (negative - positive).float().square().sum(-1).clamp_min(EPS)  # (K,)
        self.register_buffer("gamma", -math.log(beta) / gap)

    @property
    def num_dipoles(self) -> int:
        return self.support_sets.shape[0]

    def gradient(self, e: torch.Tensor, dipoles: torch.Tensor) -> torch.Tensor:
        return rbf_gradient(e.float(), self.support_sets[dipoles], self.alpha, self.gamma[dipoles])

    @in_fp32
    def direction(self, e: torch.Tensor, dipoles: torch.Tensor) -> torch.Tensor:
        """u^T_k(e): unit direction toward t⁺_k at image embedding e_i, (B, e)."""
        return normalise(self.gradient(e, dipoles))

    def forward(self, e: torch.Tensor, dipoles: torch.Tensor) -> torch.Tensor:
        return self.direction(e, dipoles)


@dataclass(frozen=True)
class LatentView:
    """Where a path lives: ``space`` of a generator, and for W+ the first ``layers + 1`` style inputs.

    ``flat`` and ``merge`` convert between the generator's latent code and the path's flat coordinate.
    """

    space: str  # "z", "w" or "w+"
    shape: tuple[int, ...]  # one code's shape in that space, e.g. (18, 512)
    layers: int = 0  # ℓ, for W+: the path acts on style inputs 0…ℓ

    def __post_init__(self) -> None:
        if self.space == "w+" and not 0 <= self.layers < self.shape[0]:
            raise ValueError(f"layers must be in [0, {self.shape[0] - 1}] for this W+ space, got {self.layers}")

    @property
    def dim(self) -> int:
        if self.space == "w+":
            return (self.layers + 1) * self.shape[1]
        return self.shape[0]

    def flat(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, *shape) → (B, dim)."""
        if self.space == "w+":
            return latent[:, : self.layers + 1].flatten(1)
        return latent

    def merge(self, flat: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """Put a moved flat coordinate back into a full latent code (the other W+ rows are unchanged)."""
        if self.space == "w+":
            moved = flat.view(flat.shape[0], self.layers + 1, self.shape[1])
            return torch.cat([moved, latent[:, self.layers + 1 :].expand(flat.shape[0], -1, -1)], dim=1)
        return flat


class LinearPaths(nn.Module):
    """Baseline: one learned fixed direction per path, the same at every point (a linear path)."""

    num_pairs = 0

    def __init__(self, num_paths: int, dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.directions = nn.Parameter(normalise(torch.randn(num_paths, dim, generator=g)))  # (K, d)
        self.num_paths, self.dim = num_paths, dim
        self.whitening: LatentWhitening | None = None  # set: the directions are unit vectors in whitened coordinates

    @in_fp32
    def direction(self, w: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
        d = normalise(self.directions[paths])  # (B, d)
        return d if self.whitening is None else self.whitening.lift(d)

    def forward(self, w: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
        return self.direction(w, paths)
