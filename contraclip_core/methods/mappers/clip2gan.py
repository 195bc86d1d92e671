"""CLIP2GAN's objective (Wang et al., arXiv 2211.15045), trained self-supervised on the generator's own samples.

z → w → x = G(w) → e = E_I(x) → ŵ = f(ẽ), ẽ = e plus Gaussian noise (the remedy for the image–text modality gap:
the mapper must tolerate embeddings off the image manifold). Losses, each a pure function of tensors:

- latent reconstruction ‖ŵ − w‖² (in units of the generator's latent scale);
- image reconstruction: L2 between G(ŵ) and x at CLIP's input resolution (not LPIPS: its VGG16 backbone is not
  shipped, see projection/lpips.py);
- CLIP consistency 1 − cos(E_I(G(ŵ)), e).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class MapperBatch:
    """One training batch drawn from the generator (everything without gradient except what the mapper makes)."""

    latent: torch.Tensor  # (B, d) flat target codes w
    embedding: torch.Tensor  # (B, D) unit CLIP image embeddings e of G(w)
    inputs: torch.Tensor  # (B, D) what the mapper sees: e with noise, renormalised
    images: torch.Tensor  # (b, 3, S, S) G(w) at CLIP's resolution, for the first b ≤ B samples (image losses)


def latent_loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Mean squared error of flat codes (B, d), in units of the generator's latent scale."""
    return ((pred - target) / scale).pow(2).mean()


def image_loss(rendered: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean squared pixel error (b, 3, S, S), images in [-1, 1]."""
    return (rendered - images).pow(2).mean()


def clip_consistency(rendered_embedding: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """1 − cos between the embeddings (b, D) of the re-rendered images and of the originals, averaged."""
    return (1.0 - F.cosine_similarity(rendered_embedding, embedding, dim=-1)).mean()


class Clip2GanObjective:
    """Weighted sum of the three losses; stateless."""

    name = "clip2gan"
    residual = False  # CLIP2GAN's mapper: a plain MLP
    defaults: dict[str, Any] = {"w_latent": 1.0, "w_image": 10.0, "w_clip": 2.0, "noise": 0.5}

    def __init__(self, settings: dict[str, Any]) -> None:
        self.w_latent = float(settings["w_latent"])
        self.w_image = float(settings["w_image"])
        self.w_clip = float(settings["w_clip"])

    def __call__(self, pred: torch.Tensor, batch: MapperBatch, scale: torch.Tensor, rendered: torch.Tensor,
                 rendered_embedding: torch.Tensor, latent_mean: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        b = len(rendered)
        parts = {
            "latent": latent_loss(pred, batch.latent, scale),
            "image": image_loss(rendered, batch.images[:b]),
            "clip": clip_consistency(rendered_embedding, batch.embedding[:b]),
        }
        parts["total"] = self.w_latent * parts["latent"] + self.w_image * parts["image"] + self.w_clip * parts["clip"]
        return parts

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass
