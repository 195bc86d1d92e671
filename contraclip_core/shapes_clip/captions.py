"""Discrete labels of Shapes-world attributes, and the templated captions the tiny CLIP learns from.

A caption mentions any subset of nine *factors*, always in this order and wording:
``"a {size} {brightness} {saturation} {colour} {rotation} {shape|'shape'} {horizontal} {vertical} on a {background}
background"`` ("an" before a vowel), for example "a large red circle on the left", "an upright square" or "a dim pale
shape at the top on a dark background". Zero-shot prompts are captions that mention one factor only ("a red shape",
"a circle", "a shape on the left", "a bright shape").

The first six factors are those of the first Shapes CLIP (``BASE_FACTORS``: what the edit model's captions and the
mappers' scores name); brightness (the foreground's HSV value), saturation (of coloured foregrounds) and rotation
(of squares and triangles, modulo their symmetry) were added for issue 29, so that a path has words for everything
the world draws. A factor that does not apply to an image (the saturation of a grey, the rotation of a circle) has
the label ``NOT_APPLICABLE``: no caption names it for that image, and a caption naming it is not true of it.
"""
from __future__ import annotations

import math

import torch

from ..colour_names import COLOUR_NAMES, GREY, colour_class
from ..generators.shapes import ShapesConfig

# Factor → its class names, in label order (the label columns follow this order).
FACTORS: dict[str, tuple[str, ...]] = {
    "size": ("small", "medium", "large"),
    "colour": COLOUR_NAMES,
    "shape": ("circle", "square", "triangle"),
    "horizontal": ("left", "centre", "right"),
    "vertical": ("top", "middle", "bottom"),
    "background": ("dark", "light"),
    "brightness": ("dim", "bright"),
    "saturation": ("pale", "vivid"),
    "rotation": ("upright", "tilted"),
}
FACTOR_NAMES = tuple(FACTORS)
BASE_FACTORS = FACTOR_NAMES[:6]  # the first CLIP's factors: the edit model's captions and the mappers' scores
NOT_APPLICABLE = -1  # the label of a factor that does not apply to an image (a grey's saturation, a circle's rotation)
BRIGHT_VALUE = 0.85  # foreground HSV value from this up is "bright" (the middle of the generator's value range)
VIVID_SATURATION = 0.7  # a coloured foreground's saturation from this up is "vivid" (about the prior's median)
SYMMETRY = {"square": math.pi / 2, "triangle": 2 * math.pi / 3}  # rotations that draw the same shape
# word order of a caption: the adjectives before the shape word, the phrases after it
_BEFORE = ("size", "brightness", "saturation", "colour", "rotation")
_PHRASES = {
    "horizontal": {"left": "on the left", "centre": "in the centre", "right": "on the right"},
    "vertical": {"top": "at the top", "middle": "in the middle", "bottom": "at the bottom"},
}


def _thirds(value: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """0, 1, 2 for the lower, middle, upper third of [low, high]. (B,) → (B,) long."""
    step = (high - low) / 3.0
    return (value > low + step).long() + (value > low + 2.0 * step).long()


def symmetry_period(shape: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The turn that draws each shape again (``SYMMETRY``), NaN for circles: shape class index (B,) long → (B,) in
    ``like``'s dtype and device."""
    period = torch.full_like(like, math.nan)
    for name, turn in SYMMETRY.items():
        period = torch.where(shape == FACTORS["shape"].index(name), torch.full_like(like, turn), period)
    return period


def tilt(rotation: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """How far a shape is turned from its upright pose, as a fraction of the furthest it can be (0 upright, 1 the
    most tilted: 45° for a square, 60° for a triangle, then it is upright again); NaN for circles. shape: class
    index (B,) long, rotation radians (B,)."""
    period = symmetry_period(shape, rotation)
    phase = torch.remainder(rotation, period) / period  # [0, 1)
    return 2.0 * torch.minimum(phase, 1.0 - phase)


def attribute_labels(attrs: dict[str, torch.Tensor], config: ShapesConfig) -> torch.Tensor:
    """Ground-truth attributes (each (B,)) → class indices (B, 9), one column per factor of ``FACTOR_NAMES``.

    Colour: the hue ranges of ``colour_names`` (red, orange, yellow, …, pink); "grey" when the saturation is below
    ``GREY_SATURATION``. Size, horizontal and vertical position: thirds of their ranges (each third holds about a
    third of the prior). Shape: the largest blend weight. Background: halves of its range. Brightness: the
    foreground's HSV value below / from ``BRIGHT_VALUE``. Saturation (coloured foregrounds only): below / from
    ``VIVID_SATURATION``. Rotation (squares and triangles only): upright when turned less than a quarter of its
    symmetry period from upright (22.5° for a square, 30° for a triangle), else tilted — half the prior each.
    """
    shape = torch.stack([attrs["shape_circle"], attrs["shape_square"], attrs["shape_triangle"]], dim=1).argmax(1)
    colour = colour_class(attrs["hue"], attrs["saturation"])
    grey = colour == COLOUR_NAMES.index(GREY)
    na = torch.full_like(shape, NOT_APPLICABLE)
    turned = tilt(attrs["rotation"], shape)
    r = config.position_range
    columns = {
        "size": _thirds(attrs["size"], config.size_min, config.size_max),
        "colour": colour,
        "shape": shape,
        "horizontal": _thirds(attrs["x"], -r, r),
        "vertical": _thirds(attrs["y"], -r, r),
        "background": (attrs["bg_lightness"] > 0.5 * (config.bg_min + config.bg_max)).long(),
        "brightness": (attrs["value"] >= BRIGHT_VALUE).long(),
        "saturation": torch.where(grey, na, (attrs["saturation"] >= VIVID_SATURATION).long()),
        "rotation": torch.where(turned.isnan(), na, (turned >= 0.5).long()),
    }
    return torch.stack([columns[name] for name in FACTOR_NAMES], dim=1)  # (B, 9)


def caption(labels: dict[str, str]) -> str:
    """The caption that mentions exactly the factors in ``labels`` (factor → class name)."""
    words = [labels[f] for f in _BEFORE if f in labels] + [labels.get("shape", "shape")]
    words.insert(0, "an" if words[0][0] in "aeiou" else "a")
    if "horizontal" in labels:
        words.append(_PHRASES["horizontal"][labels["horizontal"]])
    if "vertical" in labels:
        words.append(_PHRASES["vertical"][labels["vertical"]])
    if "background" in labels:
        words.append(f"on a {labels['background']} background")
    return " ".join(words)


def prompts(factor: str) -> list[str]:
    """Zero-shot prompts for one factor, one per class, in label order (e.g. "a red shape", "a grey shape")."""
    return [caption({factor: name}) for name in FACTORS[factor]]


def random_captions(
    labels: torch.Tensor, generator: torch.Generator, emphasis: dict[str, float] | None = None,
    always: torch.Tensor | None = None, mask_from: torch.Tensor | None = None,
    factors: tuple[str, ...] = FACTOR_NAMES,
) -> tuple[list[str], torch.Tensor]:
    """One caption per row of ``labels`` (B, F), mentioning a random non-empty subset of the ``factors`` (the labels'
    columns, in that order) that apply to that row.

    Without ``emphasis`` the subset size is uniform in 1..F, then the subset uniform among those of that size, so
    short captions (the zero-shot prompts' form) are common. With ``emphasis`` (factor → probability) each factor is
    mentioned independently with its probability (rows left empty mention their most likely factor): captions that
    mostly name a few factors make the other images of the batch hard negatives for exactly those factors.
    ``always`` (B, F) bool, optional: factors that must be mentioned in a row, on top of the random subset (e.g.
    the shape of an image whose batch holds the same render with the other two shapes). ``mask_from`` (B,) long,
    optional: row i mentions the factors drawn for row ``mask_from[i]`` (so the captions of a shape triplet name the
    same factors and differ only in the shape word). A factor ``NOT_APPLICABLE`` to a row is never mentioned; a row
    left with nothing to mention names the first factor of its random order that applies.
    Returns the captions and the mention mask (B, F) bool.
    """
    batch, num = labels.shape
    order = torch.rand(batch, num, generator=generator).argsort(dim=1)  # (B, F) random permutation per row
    if emphasis is None:
        count = torch.randint(1, num + 1, (batch,), generator=generator)  # (B,)
        rank = order.argsort(dim=1)  # rank of each factor in its row's permutation
        mentioned = rank < count[:, None]  # (B, F)
    else:
        p = torch.tensor([emphasis.get(f, 0.0) for f in factors])  # (F,)
        mentioned = torch.rand(batch, num, generator=generator) < p  # (B, F)
        mentioned[~mentioned.any(1), int(p.argmax())] = True
    if always is not None:
        mentioned = mentioned | always
    if mask_from is not None:
        mentioned, order = mentioned[mask_from], order[mask_from]
    applies = labels != NOT_APPLICABLE
    mentioned = mentioned & applies
    empty = ~mentioned.any(1)
    if empty.any():  # the first applicable factor of the row's order
        first = applies.gather(1, order).float().argmax(1)  # (B,) position in the order
        mentioned[empty, order[empty, first[empty]]] = True
    texts = []
    for row, mask in zip(labels.tolist(), mentioned.tolist()):
        texts.append(caption({f: FACTORS[f][row[i]] for i, f in enumerate(factors) if mask[i]}))
    return texts, mentioned


def swapped_shape_captions(labels: torch.Tensor, mentioned: torch.Tensor) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Counterfactual captions: each caption that names a shape, with that shape replaced by each of the other two.

    labels, mentioned (B, 9) of the original captions → texts (E,), their labels (E, 9) and mention masks (E, 9),
    E = 2 × (captions naming a shape). Used as extra (hard negative) captions: they differ from a true caption of an
    image in the shape word only (and drop the rotation word where the new shape is a circle, which has none).
    """
    column, turn = FACTOR_NAMES.index("shape"), FACTOR_NAMES.index("rotation")
    rows = mentioned[:, column].nonzero().squeeze(1)  # (M,)
    new_labels, new_mentioned, texts = [], [], []
    for shift in (1, 2):
        swapped = labels[rows].clone()  # (M, 9)
        swapped[:, column] = (swapped[:, column] + shift) % len(FACTORS["shape"])
        mask = mentioned[rows].clone()
        mask[:, turn] &= swapped[:, column] != FACTORS["shape"].index("circle")
        new_labels.append(swapped)
        new_mentioned.append(mask)
        for row, row_mask in zip(swapped.tolist(), mask.tolist()):
            texts.append(caption({f: FACTORS[f][row[i]] for i, f in enumerate(FACTOR_NAMES) if row_mask[i]}))
    return texts, torch.cat(new_labels), torch.cat(new_mentioned)


def caption_matches(labels: torch.Tensor, caption_labels: torch.Tensor, mentioned: torch.Tensor) -> torch.Tensor:
    """(B_img, B_txt) bool: caption j is true of image i (every factor caption j mentions agrees with image i).

    labels (B_img, F) of the images; caption_labels (B_txt, F) and mentioned (B_txt, F) of the captions. A factor
    not applicable to an image (``NOT_APPLICABLE``) never agrees with a caption that names it.
    """
    agree = labels[:, None, :] == caption_labels[None, :, :]  # (B_img, B_txt, 6)
    return (agree | ~mentioned[None, :, :]).all(dim=-1)


def vocabulary() -> frozenset[str]:
    """Every word any caption uses: the only words the tiny CLIP has learned a meaning for."""
    words = {"a", "an", "shape", "background"}
    for factor, names in FACTORS.items():
        for name in names:
            words.update(caption({factor: name}).split())
    return frozenset(words)


def unknown_words(text: str) -> list[str]:
    """The words of ``text`` (lower-cased, punctuation stripped) that no caption uses, in order, without repeats."""
    import re

    known = vocabulary()
    found = [w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in known]
    return list(dict.fromkeys(found))
