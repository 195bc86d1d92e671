"""CSLA's objective (Zhu et al., arXiv 2210.04506): data-free latent alignment with temporal relative consistency.

The mapper (a residual MLP) is trained on the generator's samples like CLIP2GAN's, with latent reconstruction and
CLIP consistency, plus a **relative consistency** term against the distribution bias between CLIP space and the
latent space: the *relative* structure of a batch — each sample's similarities to the others, as a softmax over
the row — must be the same among the CLIP embeddings as among the mapped latent codes (KL divergence per row).
**Temporal**: the comparison set is the current batch *and the previous step's* (embeddings and the mapped codes
of that step, kept without gradient), so the structure is also held consistent across training steps. This is the
minimal faithful form named in ../shared/METHODS.md; the exact form of the paper was not checked against its code
(a code search here found none) and is recorded in the mapper's JSON as ``relative: "row-softmax KL, previous batch"``.

Adaptive style mixing (the paper's refinement in S space) applies to generators with several style inputs; it is
in ``uses.edit`` (per-layer weights from the mapped change), and is the identity on a one-style generator (Shapes).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .clip2gan import MapperBatch, clip_consistency, latent_loss


def relative_consistency(anchor_e: torch.Tensor, others_e: torch.Tensor, anchor_w: torch.Tensor,
                         others_w: torch.Tensor, tau: float, exclude_diagonal: bool) -> torch.Tensor:
    """KL(softmax(cos(e_i, e_j)/τ) ‖ softmax(cos(w_i, w_j)/τ)) over j, averaged over i.

    anchor_e (B, D), others_e (M, D): CLIP embeddings; anchor_w (B, d), others_w (M, d): centred latent codes.
    With ``exclude_diagonal`` (others = anchors), each sample's similarity to itself is left out.
    """
    s_e = F.normalize(anchor_e, dim=-1) @ F.normalize(others_e, dim=-1).T / tau  # (B, M)
    s_w = F.normalize(anchor_w, dim=-1) @ F.normalize(others_w, dim=-1).T / tau  # (B, M)
    if exclude_diagonal:
        mask = torch.eye(len(anchor_e), dtype=torch.bool, device=s_e.device)
        s_e, s_w = s_e.masked_fill(mask, -1e4), s_w.masked_fill(mask, -1e4)
    p_e = F.log_softmax(s_e, dim=-1)
    p_w = F.log_softmax(s_w, dim=-1)
    return F.kl_div(p_w, p_e, log_target=True, reduction="batchmean")


class CslaObjective:
    """Latent reconstruction + CLIP consistency + temporal relative consistency; remembers the previous batch."""

    name = "csla"
    residual = True  # CSLA's residual mapper
    defaults: dict[str, Any] = {"w_latent": 1.0, "w_clip": 1.0, "w_relative": 0.5, "tau": 0.1, "noise": 0.5}

    def __init__(self, settings: dict[str, Any]) -> None:
        self.w_latent = float(settings["w_latent"])
        self.w_clip = float(settings["w_clip"])
        self.w_relative = float(settings["w_relative"])
        self.tau = float(settings["tau"])
        self.memory_e: torch.Tensor | None = None  # (B, D) previous step's embeddings
        self.memory_w: torch.Tensor | None = None  # (B, d) previous step's mapped codes (centred), no gradient

    def __call__(self, pred: torch.Tensor, batch: MapperBatch, scale: torch.Tensor, rendered: torch.Tensor,
                 rendered_embedding: torch.Tensor, latent_mean: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        b = len(rendered)
        centred = pred - (latent_mean if latent_mean is not None else 0.0)  # (B, d)
        relative = relative_consistency(batch.embedding, batch.embedding, centred, centred, self.tau, True)
        if self.memory_e is not None and len(self.memory_e) and self.memory_e.shape[1] == batch.embedding.shape[1]:
            relative = 0.5 * (relative + relative_consistency(batch.embedding, self.memory_e.to(pred.device), centred,
                                                              self.memory_w.to(pred.device), self.tau, False))
        self.memory_e, self.memory_w = batch.embedding.detach().cpu(), centred.detach().cpu()
        parts = {
            "latent": latent_loss(pred, batch.latent, scale),
            "clip": clip_consistency(rendered_embedding, batch.embedding[:b]),
            "relative": relative,
        }
        parts["total"] = (self.w_latent * parts["latent"] + self.w_clip * parts["clip"]
                          + self.w_relative * parts["relative"])
        return parts

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.memory_e is None:
            return {}
        return {"memory_e": self.memory_e, "memory_w": self.memory_w}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.memory_e, self.memory_w = state.get("memory_e"), state.get("memory_w")
