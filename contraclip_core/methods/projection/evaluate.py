"""Measuring projections where the true code is known: renders of the Shapes world (PSNR of the re-render, and the
share of renders whose every ground-truth factor the projected code recovers) and samples of a random-weights
StyleGAN2 (PSNR), each beside the CLIP → latent mapper alone where one exists.

Seeds: the settings were chosen on ``TUNING`` seeds; reports use ``HELD_OUT`` seeds (never used in tuning, and
disjoint from the mappers' training and evaluation seeds, which lie below 2·10⁶).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import torch

from ...clip import ClipModel
from ...generators.base import Generator, seeded_normal
from ...generators.shapes import ShapesGenerator
from ...generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from ...shapes_clip.captions import BASE_FACTORS, FACTOR_NAMES, attribute_labels
from .losses import psnr
from .train import ProjectionConfig, project

TUNING = 2_000_000  # seeds TUNING … TUNING + 999: what the settings were chosen on
HELD_OUT = 3_000_000  # seeds HELD_OUT …: what is reported (scripts/projection_quality.py, tests)
PSNR_BAR_DB = 30.0  # issue #30's bars
FACTOR_BAR = 0.98


def labels(g: ShapesGenerator, codes: torch.Tensor, space: str, factors: Sequence[str] = BASE_FACTORS) -> torch.Tensor:
    """The ground-truth classes of codes' renders, (B, len(factors)): by default the six factors issue 30's bar
    names (brightness, saturation and rotation, named since, are continuous attributes the PSNR already holds to);
    ``FACTOR_NAMES`` for all nine (a rotation that does not apply, a circle's, is -1 on both sides: counted right)."""
    return attribute_labels(g.attributes(codes, space), g.config)[:, [FACTOR_NAMES.index(f) for f in factors]].cpu()


def psnr_summary(values: torch.Tensor) -> dict[str, float]:
    v = values.float()
    return {"psnr_mean_db": float(v.mean()), "psnr_median_db": float(v.median()), "psnr_min_db": float(v.min()),
            "share_30db": float((v >= PSNR_BAR_DB).float().mean())}


def factor_summary(got: torch.Tensor, truth: torch.Tensor, factors: Sequence[str] = BASE_FACTORS) -> dict[str, Any]:
    same = got == truth  # (B, F)
    return {"per_factor": {f: float(same[:, i].float().mean()) for i, f in enumerate(factors)},
            "all_factors": float(same.all(1).float().mean())}


def shapes_quality(g: ShapesGenerator, seeds: Sequence[int], config: ProjectionConfig | None = None,
                   guess: Callable[[torch.Tensor], torch.Tensor | None] | None = None,
                   clip: ClipModel | None = None, batch: int = 16,
                   factors: Sequence[str] = BASE_FACTORS) -> dict[str, Any]:
    """Project renders of prior samples (W codes, truncation 1) of ``seeds``; returns the projection's figures and,
    with ``guess`` (pictures → first-guess codes, e.g. a mapper's), the guess's alone (it is the projection's
    start). ``clip``: for the perceptual term; ``factors``: which ground-truth factors are scored (``labels``)."""
    config = config or ProjectionConfig()
    space = config.space or "w"
    seeds = list(seeds)
    with torch.no_grad():
        truth_codes = g.encode(g.sample_z(seeds), space)
    projected, scores, guesses, guess_scores, seconds = [], [], [], [], 0.0
    for i in range(0, len(seeds), batch):
        codes = truth_codes[i : i + batch]
        with torch.no_grad():
            pictures = g.synthesis(codes, space)
        first = guess(pictures) if guess is not None else None
        start = time.monotonic()
        result = project(g, pictures, config, start=first, clip=clip)
        seconds += time.monotonic() - start
        projected.append(result.latent)
        scores.append(result.psnr_db)
        if first is not None:
            guesses.append(first.cpu())
            with torch.no_grad():
                guess_scores.append(psnr(g.synthesis(first, space), pictures).cpu())
    truth = labels(g, truth_codes, space, factors)
    out = {"renders": len(seeds), "seeds": [seeds[0], seeds[-1]], "space": space,
           "seconds_per_projection": seconds / len(seeds),
           "projection": {**psnr_summary(torch.cat(scores)), **factor_summary(
                       labels(g, torch.cat(projected), space, factors), truth, factors)}}
    if guesses:
        out["mapper_alone"] = {**psnr_summary(torch.cat(guess_scores)),
                               **factor_summary(labels(g, torch.cat(guesses), space, factors), truth, factors)}
    return out


@torch.no_grad()
def random_stylegan2(size: int = 64, style_dim: int = 512, channels: int | None = None, seed: int = 0) -> StyleGAN2Generator:
    """A StyleGAN2 with seeded random weights (as bench/bench.py builds one): config-f channels, or ``channels`` at
    every resolution for a narrow, fast one; its mean w measured over 2,000 seeded z."""
    table = None if channels is None else {str(2**i): channels for i in range(2, size.bit_length())}
    torch.manual_seed(seed)
    g = StyleGAN2Generator(StyleGAN2Config(size=size, style_dim=style_dim, n_mlp=8, channel_multiplier=2,
                                           channels=table)).eval().requires_grad_(False)
    g.latent_avg.copy_(g.encode(seeded_normal(range(10**7, 10**7 + 2000), style_dim), "w").mean(0))
    return g


def generator_quality(g: Generator, seeds: Sequence[int], config: ProjectionConfig | None = None,
                      batch: int = 4) -> dict[str, Any]:
    """Project a generator's own samples (prior z of ``seeds``, no truncation) from the mean code; PSNR figures."""
    config = config or ProjectionConfig()
    seeds = list(seeds)
    scores, seconds = [], 0.0
    for i in range(0, len(seeds), batch):
        with torch.no_grad():
            pictures = g.synthesis(g.sample_z(seeds[i : i + batch]), "z").clamp(-1, 1)
        start = time.monotonic()
        scores.append(project(g, pictures, config).psnr_db)
        seconds += time.monotonic() - start
    return {"samples": len(seeds), "seeds": [seeds[0], seeds[-1]], "space": config.space or "w+",
            "seconds_per_projection": seconds / len(seeds), "projection": psnr_summary(torch.cat(scores))}
