"""Measuring mappers on the Shapes world's exact ground truth: (a) text → image, (b) inversion, (c) edits.

(a) Held-out captions (their own RNG stream; the mapper never trains on captions) → codes → ground-truth labels:
    accuracy = the fraction whose image agrees with *every* attribute the caption names; diversity = over the
    factors a caption leaves unnamed, how many distinct classes ``samples`` noise seeds give, (distinct − 1) /
    (possible − 1), beside the same number for independent prior samples.
(b) Held-out renders (seeds ≥ 10⁶) → E_I → f → G: per factor, the fraction whose class is recovered; the fraction
    with all six recovered; PSNR of the re-render; CLIP cosine between render and re-render.
(c) For each dipole of a ContraCLIP path set, on the same anchors: the ContraCLIP path (T Euler steps of η each
    way) and the mapper's edit (2T+1 strengths over the same latent distance the path covers), each reporting
    Spearman ρ of the target measure, its change and the largest off-target change in population std
    (``contraclip_core.methods.contraclip.evaluate``'s definitions).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from ...clip import ClipModel
from ...generators.shapes import ShapesGenerator
from ...groundtruth import (
    ATTRIBUTES,
    ROUND_OFF_ULPS,
    circular_distance,
    population_attributes,
    shapes_target,
    spearman,
)
from ...shapes_clip.captions import (
    BASE_FACTORS,
    FACTORS,
    attribute_labels,
    caption_matches,
    random_captions,
)
from ..contraclip.artefact import PathSet
from ..contraclip.traversal import euler_path
from .artefact import MapperSet
from .uses import edit, image_to_latent, text_to_latent

HELD_OUT = 10**6  # seeds (and RNG streams) at or above this are never used in training


def labels_of(g: ShapesGenerator, latents: torch.Tensor, space: str) -> torch.Tensor:
    """The classes of the six ``BASE_FACTORS`` the mappers are scored on, (B, 6)."""
    return attribute_labels(g.attributes(latents, space), g.config)[:, : len(BASE_FACTORS)].cpu()


@torch.no_grad()
def text_to_image(g: ShapesGenerator, clip: ClipModel, ms: MapperSet, n: int = 64, samples: int = 8,
                  noise: float = 0.0, seed: int = HELD_OUT, gap_shift: bool = False) -> dict[str, Any]:
    rng = torch.Generator().manual_seed(seed)
    truth = labels_of(g, g.encode(g.sample_z(range(seed, seed + n)), ms.space, ms.truncation), ms.space)
    texts, mentioned = random_captions(truth, rng, factors=BASE_FACTORS)
    latents = text_to_latent(ms, clip, texts, seeds=list(range(n)), noise=noise, gap_shift=gap_shift)
    got = labels_of(g, latents, ms.space)
    match = caption_matches(got, truth, mentioned).diagonal()  # (n,)
    per_factor = {f: float(((got[:, i] == truth[:, i]) | ~mentioned[:, i]).float()[mentioned[:, i]].mean())
                  for i, f in enumerate(BASE_FACTORS) if mentioned[:, i].any()}
    diversity, prior = [], []
    if samples > 1:
        reps = [t for t in texts for _ in range(samples)]
        many = labels_of(g, text_to_latent(ms, clip, reps, seeds=list(range(len(reps))), noise=noise,
                                           gap_shift=gap_shift), ms.space).reshape(n, samples, -1)
        ref = labels_of(g, g.encode(g.sample_z(range(seed + n, seed + n + n * samples)), ms.space, ms.truncation),
                        ms.space).reshape(n, samples, -1)
        for i in range(n):
            for j, f in enumerate(BASE_FACTORS):
                if not mentioned[i, j]:
                    top = min(samples, len(FACTORS[f])) - 1
                    diversity.append((len(set(many[i, :, j].tolist())) - 1) / top)
                    prior.append((len(set(ref[i, :, j].tolist())) - 1) / top)
    mean = lambda v: float(sum(v) / len(v)) if v else float("nan")  # noqa: E731
    return {"captions": n, "noise": noise, "gap_shift": gap_shift, "accuracy": float(match.float().mean()),
            "per_factor": per_factor, "diversity": mean(diversity), "prior_diversity": mean(prior),
            "examples": [(t, bool(m)) for t, m in zip(texts[:6], match[:6])]}


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1], (B, 3, H, W) → (B,), measured on [0, 1]."""
    mse = (((a.clamp(-1, 1) - b.clamp(-1, 1)) * 0.5) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


@torch.no_grad()
def inversion(g: ShapesGenerator, clip: ClipModel, ms: MapperSet, n: int = 64, seed: int = HELD_OUT) -> dict[str, Any]:
    source = g.encode(g.sample_z(range(seed, seed + n)), ms.space, ms.truncation)
    images = g.synthesis(source, ms.space)
    latents, e = image_to_latent(ms, clip, images)
    again = g.synthesis(latents, ms.space)
    e2 = torch.nn.functional.normalize(clip.encode_images(again).float(), dim=-1)
    truth, got = labels_of(g, source, ms.space), labels_of(g, latents, ms.space)
    same = got == truth  # (n, 6)
    return {"renders": n, "per_factor": {f: float(same[:, i].float().mean()) for i, f in enumerate(BASE_FACTORS)},
            "all_factors": float(same.all(1).float().mean()), "psnr_db": float(psnr(again, images).mean()),
            "clip_cosine": float((e * e2).sum(1).mean())}


def _measures(g: ShapesGenerator, latents: torch.Tensor, space: str, dipole, pop: dict[str, torch.Tensor]):
    """Codes (S, N, *shape) along an edit → (target ρ, target change, largest off-target change, its name)."""
    s, n = latents.shape[:2]
    attrs = {a: v.reshape(s, n).float().cpu() for a, v in g.attributes(latents.reshape(s * n, *latents.shape[2:]),
                                                                         space).items()}
    target = shapes_target(dipole)
    m = target.measure(attrs)  # (S, N)
    steps = torch.arange(n, dtype=torch.float32)
    off = {}
    for a in ATTRIBUTES:
        if a in target.owns:
            continue
        v = attrs[a]
        d = circular_distance(v[:, -1], v[:, 0]) if a == "hue" else (v[:, -1] - v[:, 0]).abs()
        off[a] = float(d.mean()) / max(float(pop[a].std()), 1e-9)
    worst = max(off, key=off.get)
    return (float(spearman(steps, m, ROUND_OFF_ULPS).mean()),
            float((m[:, -1] - m[:, 0]).mean()) / float(target.measure(pop).std()), off[worst], worst)


@torch.no_grad()
def edits(g: ShapesGenerator, clip: ClipModel, ms: MapperSet, path_set: PathSet, seeds: Sequence[int] = range(32),
          steps: int = 8, step_size: float = 0.25) -> list[dict[str, Any]]:
    space = path_set.space
    pop = population_attributes(g, space, path_set.truncation)
    anchor = g.encode(g.sample_z(list(seeds)), space, path_set.truncation)  # (S, *shape)
    images = g.synthesis(anchor, space)
    rows = []
    for k, dipole in enumerate(path_set.dipoles):
        if shapes_target(dipole) is None:
            continue
        flat = euler_path(path_set.lss, path_set.view.flat(anchor).float(), k, steps, step_size)  # (S, 2T+1, d)
        path = path_set.view.merge(flat.reshape(-1, flat.shape[-1]), anchor.repeat_interleave(flat.shape[1], 0))
        path = path.reshape(len(anchor), flat.shape[1], *anchor.shape[1:])
        reach = float((flat[:, -1] - flat[:, steps]).norm(dim=-1).mean())  # latent distance of T steps
        row = {"dipole": list(dipole), "latent_distance": reach,
               "contraclip": _measures(g, path, space, dipole, pop)}
        strengths = torch.linspace(-reach, reach, 2 * steps + 1).tolist()
        row["mapper_latent"] = _measures(g, edit(ms, clip, anchor, dipole[0], dipole[1], strengths), space, dipole, pop)
        emb = edit(ms, clip, anchor, dipole[0], dipole[1], torch.linspace(-1, 1, 2 * steps + 1).tolist(),
                   form="embedding", images=images)
        row["mapper_embedding"] = _measures(g, emb, space, dipole, pop)
        row["embedding_distance"] = float((emb[:, -1] - anchor).reshape(len(anchor), -1).norm(dim=-1).mean())
        rows.append(row)
    return rows


def passes_targets(t2i: dict[str, Any], inv: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets: ≥ 80% text → image accuracy; every factor recovered on ≥ 90% of renders."""
    return {"text_to_image_80": t2i["accuracy"] >= 0.8,
            "inversion_90_each": min(inv["per_factor"].values()) >= 0.9}


def fmt(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"
