"""Measuring edits on the Shapes world, whose ground truth is exact.

For each target sentence (in the caption grammar, so its named factor classes are known) and N seeded anchors:
- reached: the fraction of (image, named factor) pairs whose ground-truth label equals the class the sentence names
  (and ``all_reached``: the fraction of images with every named factor right);
- unnamed: the mean |change| of the attributes the sentence does not name, in population std (hue circular),
  averaged over those attributes (and the largest of them, ``unnamed_max``).
The same is reported for the unedited anchors (chance: how often the sentence is already true) and for ContraCLIP
paths: for each named factor, the shipped path that moves it is followed from −T to +T steps, and the step whose
image CLIP finds closest to the sentence is kept (factors in turn); no ground truth is used to choose.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ...generators.base import Generator
from ...groundtruth import ATTRIBUTES, circular_distance, population_attributes
from ...shapes_clip.captions import FACTOR_NAMES, FACTORS, attribute_labels
from ..contraclip.artefact import PathSet
from ..contraclip.traversal import euler_path
from .artefact import EditSet
from .vocab import parse

OWNS = {"size": ("size",), "colour": ("hue", "saturation"),
        "shape": ("shape_circle", "shape_square", "shape_triangle"), "horizontal": ("x",), "vertical": ("y",),
        "background": ("bg_lightness",)}


@dataclass
class EditScore:
    reached: float  # fraction of (image, named factor) pairs reaching the named class
    all_reached: float  # fraction of images with every named factor right
    unnamed: float  # mean |change| of unnamed attributes, population std units
    unnamed_max: float  # the largest mean |change| among them
    unnamed_worst: str  # which attribute that is


@dataclass
class EditReport:
    sentence: str
    named: dict[str, str]  # factor → class the sentence names
    edited: EditScore
    unedited: EditScore
    path: EditScore | None  # ContraCLIP paths moving the named factors (None: no path for some factor)


def score(generator: Generator, space: str, before: torch.Tensor, after: torch.Tensor, named: dict[str, str],
          pop_std: dict[str, float]) -> EditScore:
    """Ground-truth score of edited codes ``after`` against their anchors ``before`` for the named classes."""
    a0 = {k: v.float().cpu() for k, v in generator.attributes(before, space).items()}  # type: ignore[attr-defined]
    a1 = {k: v.float().cpu() for k, v in generator.attributes(after, space).items()}  # type: ignore[attr-defined]
    labels = attribute_labels(a1, generator.config)  # type: ignore[attr-defined]  # (N, 6)
    hits = torch.stack([labels[:, FACTOR_NAMES.index(f)] == FACTORS[f].index(c) for f, c in named.items()], 1)
    owned = {a for f in named for a in OWNS[f]}
    change = {}
    for a in ATTRIBUTES:
        if a in owned:
            continue
        d = circular_distance(a1[a], a0[a]) if a == "hue" else (a1[a] - a0[a]).abs()
        change[a] = float(d.mean()) / max(pop_std[a], 1e-9)
    worst = max(change, key=change.get)
    return EditScore(float(hits.float().mean()), float(hits.all(1).float().mean()),
                     sum(change.values()) / len(change), change[worst], worst)


def factor_paths(path_sets: Sequence[PathSet]) -> dict[str, tuple[PathSet, int]]:
    """For each Shapes factor, the first shipped path whose two sentences name that factor only."""
    out: dict[str, tuple[PathSet, int]] = {}
    for ps in path_sets:
        for k, dipole in enumerate(ps.dipoles):
            a, b = parse(dipole[0]), parse(dipole[1])
            if a and b and len(a) == 1 and a.keys() == b.keys():
                out.setdefault(next(iter(a)), (ps, k))
    return out


@torch.no_grad()
def path_edit(generator: Generator, clip: Any, sentence_embedding: torch.Tensor, anchor: torch.Tensor,
              paths: list[tuple[PathSet, int]], steps: int, step_size: float) -> torch.Tensor:
    """Follow each path in turn from −T to +T, keeping per image the step CLIP ranks closest to the sentence."""
    w = anchor
    for ps, k in paths:
        view = ps.view
        flat = euler_path(ps.lss, view.flat(w).float(), k, steps, step_size)  # (S, 2T+1, d)
        s, n, d = flat.shape
        full = view.merge(flat.reshape(s * n, d), w.repeat_interleave(n, dim=0))
        e = F.normalize(clip.encode_images(generator.synthesis(full, view.space)).float(), dim=-1)
        best = (e @ sentence_embedding.T.to(e)).view(s, n).argmax(1)  # (S,)
        w = full.view(s, n, *full.shape[1:])[torch.arange(s), best]
    return w


@torch.no_grad()
def evaluate_edits(generator: Generator, edit_set: EditSet, clip: Any, sentences: Sequence[str],
                   seeds: Sequence[int] = range(64), path_sets: Sequence[PathSet] = (), path_steps: int = 8,
                   path_step_size: float = 0.25, strength: float = 1.0,
                   log: Callable[[str], None] | None = None) -> list[EditReport]:
    """Score the edit model (and the unedited anchors, and ContraCLIP paths) on Shapes target sentences."""
    space = edit_set.space
    pop = population_attributes(generator, space, edit_set.truncation)
    pop_std = {k: float(v.std()) for k, v in pop.items()}
    anchor = generator.encode(generator.sample_z(list(seeds)), space, edit_set.truncation)
    by_factor = factor_paths(path_sets)
    reports = []
    for sentence in sentences:
        named = parse(sentence)
        if named is None:
            raise ValueError(f"{sentence!r} is not a Shapes caption; its ground truth is unknown")
        text = edit_set.text_embedding(clip, sentence)
        edited = edit_set.edit(anchor, text, strength)
        path_score = None
        if all(f in by_factor for f in named):
            moved = path_edit(generator, clip, text, anchor, [by_factor[f] for f in named], path_steps,
                              path_step_size)
            path_score = score(generator, space, anchor, moved, named, pop_std)
        reports.append(EditReport(sentence, named, score(generator, space, anchor, edited, named, pop_std),
                                  score(generator, space, anchor, anchor, named, pop_std), path_score))
        if log is not None:
            r = reports[-1]
            log(f"{sentence}: edited {r.edited.reached:.2f}/{r.edited.unnamed:.2f}, chance {r.unedited.reached:.2f}"
                + (f", path {r.path.reached:.2f}/{r.path.unnamed:.2f}" if r.path else ""))
    return reports


MIDDLE_CLASSES = {"size": "medium", "horizontal": "centre", "vertical": "middle"}  # the classes between two poles


@torch.no_grad()
def reached_by_class(generator: Generator, edit_set: EditSet, clip: Any, sentences: Sequence[str],
                     seeds: Sequence[int], classes: dict[str, str] = MIDDLE_CLASSES) -> dict[str, float]:
    """For each ``factor → class`` of ``classes`` that some sentence names: the share of (sentence, anchor) pairs
    whose edited image has that class, over the sentences naming it (the middle classes by default)."""
    anchor = generator.encode(generator.sample_z(list(seeds)), edit_set.space, edit_set.truncation)
    hits: dict[str, list[torch.Tensor]] = {}
    for sentence in sentences:
        for factor, name in (parse(sentence) or {}).items():
            if classes.get(factor) != name:
                continue
            edited = edit_set.edit(anchor, edit_set.text_embedding(clip, sentence))
            labels = attribute_labels(generator.attributes(edited, edit_set.space),  # type: ignore[attr-defined]
                                      generator.config)[:, FACTOR_NAMES.index(factor)]  # type: ignore[attr-defined]
            hits.setdefault(f"{factor} = {name}", []).append(labels == FACTORS[factor].index(name))
    return {key: float(torch.cat(h).float().mean()) for key, h in hits.items()}


def summary(reports: Sequence[EditReport]) -> dict[str, Any]:
    """Means over sentences for each method, plus every report as plain data (for ``edit.json`` metrics)."""
    def mean(key: str, which: str) -> float | None:
        values = [getattr(getattr(r, which), key) for r in reports if getattr(r, which) is not None]
        return round(sum(values) / len(values), 4) if values else None

    return {
        "sentences": len(reports),
        **{f"{which}_{key}": mean(key, which) for which in ("edited", "unedited", "path")
           for key in ("reached", "all_reached", "unnamed")},
        "per_sentence": [asdict(r) for r in reports],
    }
