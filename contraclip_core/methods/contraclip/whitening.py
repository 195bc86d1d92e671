"""Paths in whitened latent coordinates (issue 14's conditioning lever).

A latent space such as the Shapes world's W (covariance eigenvalue ratio ≈ 290) or StyleGAN2's W is far from
isotropic: a unit step in one direction changes the image much more than in another, and directions the generator
uses together are correlated. Paths can instead live in whitened coordinates u, with w = μ + L u per block of
``block`` coordinates (L the Cholesky factor of the covariance of w over the prior; one block per W+ style input,
all sharing W's statistics). A path's unit direction d(u) then steps w by L d(u): a step of ε is ε "standard
deviations" in every direction, and the attribute directions a generator has (orthonormal in u when its heads are
whitened, as in the Shapes world) stop dragging each other. The images, the CLIP and the attributes are unchanged —
only the coordinates the paths are trained and stepped in.
"""
from __future__ import annotations

import torch
from torch import nn


class LatentWhitening(nn.Module):
    """w = μ + L u per block of ``block`` coordinates: ``to_u`` maps latent points to u, ``lift`` maps a direction
    in u to the step it makes in w. Buffers: ``mean`` (block,), ``chol`` (block, block)."""

    def __init__(self, mean: torch.Tensor, chol: torch.Tensor):
        super().__init__()
        if mean.ndim != 1 or chol.shape != (len(mean), len(mean)):
            raise ValueError(f"whitening needs mean (b,) and chol (b, b), got {tuple(mean.shape)}, {tuple(chol.shape)}")
        self.register_buffer("mean", mean.float())
        self.register_buffer("chol", chol.float())

    def check(self) -> None:
        """ValueError unless this is a usable whitening: finite, L lower triangular with a positive diagonal."""
        ok = bool(torch.isfinite(self.mean).all() and torch.isfinite(self.chol).all())
        if not ok or not torch.equal(self.chol, self.chol.tril()) or not bool((self.chol.diagonal() > 0).all()):
            raise ValueError("its whitening is not a Cholesky factor (finite, lower triangular, positive diagonal)")

    @property
    def block(self) -> int:
        return len(self.mean)

    @classmethod
    def fit(cls, samples: torch.Tensor, block: int, ridge: float = 1e-9) -> LatentWhitening:
        """From prior samples (n, d), d a multiple of ``block``: the blocks' pooled mean and covariance (+ ridge·I
        relative to its mean eigenvalue, so a degenerate direction cannot blow up L⁻¹)."""
        n, d = samples.shape
        if d % block:
            raise ValueError(f"latent dimension {d} is not a multiple of the whitening block {block}")
        x = samples.detach().double().reshape(n * (d // block), block)
        cov = torch.cov(x.T)
        cov = cov + ridge * cov.diagonal().mean() * torch.eye(block, dtype=cov.dtype)
        return cls(x.mean(0).float(), torch.linalg.cholesky(cov).float())

    def to_u(self, w: torch.Tensor) -> torch.Tensor:
        """Latent points (B, d) → whitened coordinates (B, d): L⁻¹(w − μ) for every block, as one triangular solve."""
        rows = w.reshape(-1, self.block) - self.mean.to(w)  # (B·k, b)
        return torch.linalg.solve_triangular(self.chol.to(w), rows.T, upper=False).T.reshape(w.shape)

    def lift(self, v: torch.Tensor) -> torch.Tensor:
        """A direction in u (B, d) → the step it makes in w (B, d)."""
        return (v.reshape(len(v), -1, self.block) @ self.chol.to(v).T).reshape(len(v), -1)

    def condition_number(self) -> float:
        """Eigenvalue ratio of the covariance this whitening removes."""
        eig = torch.linalg.eigvalsh((self.chol.double() @ self.chol.double().T))
        return float(eig.max() / eig.min())
