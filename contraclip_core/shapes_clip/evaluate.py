"""Zero-shot attribute accuracy of a Shapes CLIP on held-out renders.

For each factor, every image is classified by the prompt ("a red shape", "a circle", …) whose text embedding is most
cosine-similar to the image embedding, and compared with the ground-truth label from ``G.attributes``. A factor is
scored on the images it applies to (saturation: coloured foregrounds; rotation: squares and triangles).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..clip import ClipModel
from ..generators.shapes import ShapesGenerator
from .captions import FACTOR_NAMES, FACTORS, NOT_APPLICABLE, attribute_labels, prompts

EVAL_SEED_START = 1_000_000  # held-out seeds start here (training uses seeds below its pool size)
# DESIGN.md §5 quality bars; issue 29's for the factors added then (and the colour words: each ≥ 90% too)
BARS = {"colour": 0.90, "shape": 0.90, "size": 0.85, "horizontal": 0.85, "brightness": 0.90, "saturation": 0.90,
        "rotation": 0.90}


@dataclass
class ZeroShotResult:
    """Per-factor accuracy (fraction in [0, 1]) over ``num_images`` held-out renders, and the confusion counts."""

    accuracy: dict[str, float]  # factor → accuracy (over the images the factor applies to)
    confusion: dict[str, torch.Tensor]  # factor → (classes, classes) counts, rows = truth, columns = prediction
    num_images: int

    def class_accuracy(self, factor: str) -> dict[str, float]:
        """Per class of ``factor``: the fraction of its images classified right (recall); NaN for an empty class."""
        counts = self.confusion[factor].float()
        return {name: float(counts[i, i] / counts[i].sum()) if counts[i].sum() else math.nan
                for i, name in enumerate(FACTORS[factor])}

    def table(self) -> str:
        """A Markdown table: factor, classes, chance, accuracy, bar."""
        lines = ["| factor | classes | chance | zero-shot accuracy | bar |", "|---|---|---|---|---|"]
        for factor in FACTOR_NAMES:
            bar = BARS.get(factor)
            status = f"≥ {bar:.0%} {'✓' if self.accuracy[factor] >= bar else '✗'}" if bar else "—"
            names = "/".join(FACTORS[factor])
            lines.append(
                f"| {factor} | {names} | {1 / len(FACTORS[factor]):.0%} | {self.accuracy[factor]:.1%} | {status} |"
            )
        words = ", ".join(f"{name} {acc:.1%}" for name, acc in self.class_accuracy("colour").items())
        lines += ["", f"Colour words (the fraction of each colour's renders named right): {words}."]
        return "\n".join(lines)


@torch.inference_mode()
def zero_shot(
    clip: ClipModel, generator: ShapesGenerator, num_images: int = 2000, seed_start: int = EVAL_SEED_START,
    chunk: int = 250,
) -> ZeroShotResult:
    """Zero-shot accuracy per factor on renders of seeds ``seed_start … seed_start + num_images - 1``."""
    device = next(clip.model.parameters()).device
    text = {f: clip.encode_text(prompts(f), normalize=True) for f in FACTOR_NAMES}  # factor → (C, D)
    features, labels = [], []
    for start in range(seed_start, seed_start + num_images, chunk):
        seeds = list(range(start, min(start + chunk, seed_start + num_images)))
        w = generator.mapping(generator.sample_z(seeds))  # (b, w_dim)
        features.append(clip.encode_images(generator(w, "w"), normalize=True).to(device))  # (b, D)
        labels.append(attribute_labels(generator.attributes(w, "w"), generator.config).to(device))  # (b, 9)
    image_features, truth = torch.cat(features), torch.cat(labels)  # (N, D), (N, 9)
    accuracy, confusion = {}, {}
    for i, factor in enumerate(FACTOR_NAMES):
        applies = truth[:, i] != NOT_APPLICABLE
        predicted = (image_features[applies] @ text[factor].T).argmax(1)  # (N',)
        accuracy[factor] = (predicted == truth[applies, i]).float().mean().item()
        classes = len(FACTORS[factor])
        confusion[factor] = torch.bincount(truth[applies, i] * classes + predicted, minlength=classes**2).view(classes, -1)
    return ZeroShotResult(accuracy, {k: v.cpu() for k, v in confusion.items()}, num_images)


@torch.inference_mode()
def rank_captions(clip: ClipModel, images: torch.Tensor, candidates: list[str]) -> list[tuple[str, float]]:
    """For each image (B, 3, H, W) in [-1, 1], the candidate caption CLIP ranks first and its cosine similarity."""
    image_features = clip.encode_images(images, normalize=True)  # (B, D)
    text_features = clip.encode_text(candidates, normalize=True)  # (C, D)
    best = (image_features @ text_features.T).max(dim=1)
    return [(candidates[j], s) for j, s in zip(best.indices.tolist(), best.values.tolist())]
