"""Training anchors drawn from a fixed, seeded pool, each rendered and embedded by CLIP once.

A ContraCLIP step needs, for every sample, the anchor latent w and its CLIP image embedding e = E_I(G(w)); only the
shifted image carries gradients. Drawing a fresh anchor each time renders and embeds it for a single use. With a
pool of N seeded z codes, an anchor's latent and embedding are computed the first time it is drawn and reused
after that: once every pool entry has been drawn, a step renders and embeds only its shifted images. The pool is a
pure function of its seed, so a resumed run rebuilds it on the fly (no state in the checkpoint).
"""
from __future__ import annotations

from typing import Callable

import torch

BLOCK = 32  # pool entries computed together, always the same ones

class AnchorPool:
    """``size`` seeded anchors; ``draw(idx)`` returns their (latent, embedding), computing missing ones once.

    Args:
        size: N, the number of anchors.
        z: the pool's z codes, (N, z_dim), on the generator's device and dtype.
        compute: z (B, z_dim) → (latent (B, *latent_shape), embedding (B, E)), called without gradients.
    """

    def __init__(self, z: torch.Tensor, compute: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]):
        self.z, self.compute = z, compute
        self.latent: torch.Tensor | None = None  # (N, *latent_shape), allocated on the first draw
        self.embedding: torch.Tensor | None = None  # (N, E)
        self.ready = torch.zeros(len(z), dtype=torch.bool, device=z.device)

    @classmethod
    def seeded(cls, size: int, z_dim: int, seed: int, device: torch.device | str, dtype: torch.dtype,
               compute: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> AnchorPool:
        z = torch.randn(size, z_dim, generator=torch.Generator().manual_seed(seed))
        return cls(z.to(device=device, dtype=dtype), compute)

    def __len__(self) -> int:
        return len(self.z)

    @torch.no_grad()
    def draw(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(latent, embedding) of pool entries ``idx`` (B,), each computed at most once (repeats in one draw too).

        Entries are computed in fixed blocks of ``BLOCK`` consecutive ones (the whole block of any missing entry):
        an anchor's values then never depend on which others were drawn with it (a batched matrix product rounds
        differently in another batch), so a run resumed from a checkpoint — a ZeroGPU chunk after chunk — draws
        bit for bit what one uninterrupted run draws."""
        missing = idx[~self.ready[idx]]
        for block in (missing // BLOCK).unique().tolist():
            rows = torch.arange(block * BLOCK, min((block + 1) * BLOCK, len(self)), device=self.ready.device)
            latent, embedding = self.compute(self.z[rows])
            if self.latent is None or self.embedding is None:
                self.latent = latent.new_zeros((len(self), *latent.shape[1:]))
                self.embedding = embedding.new_zeros((len(self), *embedding.shape[1:]))
            self.latent[rows], self.embedding[rows] = latent, embedding
            self.ready[rows] = True
        return self.latent[idx], self.embedding[idx]  # type: ignore[index]
