"""ContraCLIP losses: pure functions of tensors.

Δe (B, e): image-embedding shifts caused by the latent steps; Δt (B, e): the target CLIP-space shifts
ε_i u^T_{k_i}(e_i). Row i of the contrastive loss asks Δe_i to be closer (in cosine) to its own Δt_i than to the
other columns.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pairwise_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_j), (B, M)."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).t()


def contrastive_loss(
    delta_e: torch.Tensor,
    delta_t: torch.Tensor,
    tau: float = 0.07,
    paths: torch.Tensor | None = None,
    extra_negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy over cos(Δe_i, Δt_j)/τ with the diagonal as targets (the ContraCLIP paper's loss).

    Args:
        delta_e: (B, e) image-embedding shifts.
        delta_t: (B, e) target text-space shifts, row i for sample i.
        tau: temperature.
        paths: (B,) path index of each sample. When given, column j ≠ i with the same path as row i is masked out:
            it is not a negative but the same direction (a false negative), which happens whenever B > K.
        extra_negatives: (B, M, e) further negative directions for each row (e.g. other dipoles' CLIP directions at
            the same image), so a single path (K = 1) still has negatives.
    """
    logits = pairwise_cosine(delta_e, delta_t) / tau  # (B, B)
    if paths is not None:
        same = paths.unsqueeze(0) == paths.unsqueeze(1)
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    if extra_negatives is not None and extra_negatives.shape[1] > 0:
        extra = F.cosine_similarity(delta_e.unsqueeze(1), extra_negatives, dim=-1) / tau  # (B, M)
        logits = torch.cat([logits, extra], dim=1)
    targets = torch.arange(delta_e.shape[0], device=delta_e.device)
    return F.cross_entropy(logits, targets)


def cosine_loss(delta_e: torch.Tensor, delta_t: torch.Tensor) -> torch.Tensor:
    """mean(1 − cos(Δe_i, Δt_i))."""
    return (1.0 - F.cosine_similarity(delta_e, delta_t, dim=-1)).mean()


