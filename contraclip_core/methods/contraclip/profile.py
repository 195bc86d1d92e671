"""What a traversal changes besides its target: per step, the CLIP similarity of the frames to each of the path's two
sentences (any generator) and, on generators with ground truth (the Shapes world), every attribute.

``path_profile`` computes the numbers from a rendered ``Traversal`` (no re-rendering); ``plot_profile`` draws them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageDraw

from ...clip import ClipModel, cached_text_embeddings
from ...generators.base import Generator
from ...groundtruth import ATTRIBUTES, change_from_anchor
from ...media import Traversal

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (255, 187, 120)]


@dataclass
class Profile:
    steps: list[int]  # −T … T
    dipole: tuple[str, str]
    similarity: dict[str, list[float]]  # sentence → mean cosine similarity of the frames to it, per step
    attributes: dict[str, list[float]] = field(default_factory=dict)  # attribute → mean change from the anchor
    # (population std units; evaluate.change_from_anchor) per step; empty when the generator has no ground truth


@torch.no_grad()
def path_profile(traversal: Traversal, generator: Generator, clip: ClipModel, space: str,
                 population_std: dict[str, float] | None = None, batch_size: int = 32) -> Profile:
    """Mean over the traversal's seeds, per step. ``space``: the latent space of ``traversal.latents``.
    ``population_std`` (attribute → std) scales the attributes; the generator must have
    ``attributes(latent, space)`` for them to be reported."""
    s, n = traversal.images.shape[:2]
    frames = torch.from_numpy(traversal.images.reshape(s * n, *traversal.images.shape[2:])).permute(0, 3, 1, 2)
    embeddings = []
    for chunk in frames.split(batch_size):
        x = chunk.float() / 127.5 - 1.0
        embeddings.append(clip.encode_images(x, normalize=True).float().cpu())
    e = torch.cat(embeddings).reshape(s, n, -1)
    texts = cached_text_embeddings(clip, list(traversal.dipole)).float().cpu()
    texts = texts / texts.norm(dim=-1, keepdim=True)
    sims = (e @ texts.t()).mean(0)  # (n, 2)
    similarity = {traversal.dipole[0]: sims[:, 0].tolist(), traversal.dipole[1]: sims[:, 1].tolist()}
    attributes: dict[str, list[float]] = {}
    attrs_fn = getattr(generator, "attributes", None)
    if attrs_fn is not None and population_std is not None:
        latents = traversal.latents.reshape(s * n, *traversal.latents.shape[2:]).to(generator.device)
        values = attrs_fn(latents, space)
        anchor = traversal.anchor_column
        for a in ATTRIBUTES:
            if a not in values:
                continue
            v = values[a].float().cpu().reshape(s, n)
            scale = max(population_std.get(a, 1.0), 1e-9)
            attributes[a] = (change_from_anchor(a, v, anchor).mean(0) / scale).tolist()
    return Profile(list(traversal.steps), tuple(traversal.dipole), similarity, attributes)


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], steps: list[int],
           series: list[tuple[str, list[float], tuple[int, int, int]]], title: str, unit: str) -> None:
    x0, y0, x1, y1 = box
    lo = min([min(v) for _, v, _ in series] + [0.0 if unit == "std" else math.inf])
    hi = max([max(v) for _, v, _ in series] + [0.0 if unit == "std" else -math.inf])
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    px = lambda i: x0 + 48 + (x1 - x0 - 60) * i / max(len(steps) - 1, 1)  # noqa: E731
    py = lambda v: y0 + 22 + (y1 - y0 - 40) * (hi - v) / (hi - lo)  # noqa: E731
    draw.text((x0 + 6, y0 + 4), title, fill="black")
    draw.rectangle([px(0), py(hi), px(len(steps) - 1), py(lo)], outline=(210, 210, 210))
    anchor = steps.index(0) if 0 in steps else 0
    draw.line([px(anchor), py(hi), px(anchor), py(lo)], fill=(200, 200, 200))
    for v in (lo + pad, hi - pad):
        draw.text((x0 + 2, py(v) - 6), f"{v:+.2f}", fill="gray")
    draw.text((px(0) - 6, y1 - 16), str(steps[0]), fill="gray")
    draw.text((px(len(steps) - 1) - 10, y1 - 16), f"+{steps[-1]}", fill="gray")
    for _, values, color in series:
        draw.line([(px(i), py(v)) for i, v in enumerate(values)], fill=color, width=2)


def plot_profile(profile: Profile, width: int = 720, panel_height: int = 210) -> Image.Image:
    """One panel of CLIP similarity to each sentence per step; below it (Shapes) every attribute's change."""
    panels = [("clip", panel_height)] + ([("attrs", panel_height)] if profile.attributes else [])
    sentences = list(profile.similarity)
    legend = [(f"first: {sentences[0]}"[:40], (230, 120, 20)), (f"second: {sentences[1]}"[:40], (40, 90, 200))]
    legend += [(a, PALETTE[i % len(PALETTE)]) for i, a in enumerate(profile.attributes)]
    legend_h = 18 * math.ceil(len(legend) / 4) + 6
    canvas = Image.new("RGB", (width, sum(h for _, h in panels) + legend_h), "white")
    draw = ImageDraw.Draw(canvas)
    y = 0
    for kind, h in panels:
        if kind == "clip":
            series = [(s, profile.similarity[s], c) for s, (_, c) in zip(sentences, legend[:2])]
            _panel(draw, (0, y, width, y + h), profile.steps, series,
                   "CLIP similarity of the frames to each sentence (mean over seeds) vs step", "cos")
        else:
            series = [(a, v, PALETTE[i % len(PALETTE)]) for i, (a, v) in enumerate(profile.attributes.items())]
            _panel(draw, (0, y, width, y + h), profile.steps, series,
                   "Ground-truth attributes: change from the anchor (population std; hue + the way it turns toward +T) "
                   "vs step", "std")
        y += h
    for i, (name, color) in enumerate(legend):
        lx, ly = 8 + (i % 4) * (width // 4), y + 4 + 18 * (i // 4)
        draw.rectangle([lx, ly + 4, lx + 12, ly + 10], fill=color)
        draw.text((lx + 16, ly), name, fill="black")
    return canvas


def profile_table(profile: Profile) -> np.ndarray:
    """(2T+1, 1 + 2 + attributes) rows of step, similarities, attribute changes — for tests and downloads."""
    cols = [profile.steps] + [profile.similarity[s] for s in profile.similarity] + list(profile.attributes.values())
    return np.asarray(cols, dtype=np.float64).T
