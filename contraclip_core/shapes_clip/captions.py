"""Discrete labels of Shapes-world attributes, and the templated captions the tiny CLIP learns from.

A caption mentions any subset of six *factors*, always in this order and wording:
``"a {size} {colour} {shape|'shape'} {horizontal} {vertical} on a {background} background"``, for example
"a large red circle on the left" or "a shape at the top on a dark background". Zero-shot prompts are captions that
mention one factor only ("a red shape", "a circle", "a shape on the left").
"""
from __future__ import annotations

import math

import torch

from ..generators.shapes import ShapesConfig

# Factor → its class names, in label order.
FACTORS: dict[str, tuple[str, ...]] = {
    "size": ("small", "medium", "large"),
    "colour": ("red", "yellow", "green", "cyan", "blue", "magenta", "grey"),
    "shape": ("circle", "square", "triangle"),
    "horizontal": ("left", "centre", "right"),
    "vertical": ("top", "middle", "bottom"),
    "background": ("dark", "light"),
}
FACTOR_NAMES = tuple(FACTORS)
GREY_SATURATION = 0.25  # foreground saturation below this is called "grey"
_PHRASES = {
    "horizontal": {"left": "on the left", "centre": "in the centre", "right": "on the right"},
    "vertical": {"top": "at the top", "middle": "in the middle", "bottom": "at the bottom"},
}


def _thirds(value: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """0, 1, 2 for the lower, middle, upper third of [low, high]. (B,) → (B,) long."""
    step = (high - low) / 3.0
    return (value > low + step).long() + (value > low + 2.0 * step).long()


def attribute_labels(attrs: dict[str, torch.Tensor], config: ShapesConfig) -> torch.Tensor:
    """Ground-truth attributes (each (B,)) → class indices (B, 6), one column per factor of ``FACTOR_NAMES``.

    Colour: six 60°-wide hue bins centred on red (0°), yellow, green, cyan, blue, magenta; "grey" when the
    saturation is below ``GREY_SATURATION``. Size, horizontal and vertical position: thirds of their ranges (each
    third holds about a third of the prior). Shape: the largest blend weight. Background: halves of its range.
    """
    hue_bin = torch.floor((attrs["hue"] + math.pi / 6.0) / (math.pi / 3.0)).long() % 6  # (B,)
    colour = torch.where(attrs["saturation"] < GREY_SATURATION, torch.full_like(hue_bin, 6), hue_bin)
    shape = torch.stack([attrs["shape_circle"], attrs["shape_square"], attrs["shape_triangle"]], dim=1).argmax(1)
    r = config.position_range
    columns = {
        "size": _thirds(attrs["size"], config.size_min, config.size_max),
        "colour": colour,
        "shape": shape,
        "horizontal": _thirds(attrs["x"], -r, r),
        "vertical": _thirds(attrs["y"], -r, r),
        "background": (attrs["bg_lightness"] > 0.5 * (config.bg_min + config.bg_max)).long(),
    }
    return torch.stack([columns[name] for name in FACTOR_NAMES], dim=1)  # (B, 6)


def caption(labels: dict[str, str]) -> str:
    """The caption that mentions exactly the factors in ``labels`` (factor → class name)."""
    words = ["a"]
    if "size" in labels:
        words.append(labels["size"])
    if "colour" in labels:
        words.append(labels["colour"])
    words.append(labels.get("shape", "shape"))
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
) -> tuple[list[str], torch.Tensor]:
    """One caption per row of ``labels`` (B, 6), mentioning a random non-empty subset of the factors.

    Without ``emphasis`` the subset size is uniform in 1..6, then the subset uniform among those of that size, so
    short captions (the zero-shot prompts' form) are common. With ``emphasis`` (factor → probability) each factor is
    mentioned independently with its probability (rows left empty mention their most likely factor): captions that
    mostly name a few factors make the other images of the batch hard negatives for exactly those factors.
    ``always`` (B, 6) bool, optional: factors that must be mentioned in a row, on top of the random subset (e.g.
    the shape of an image whose batch holds the same render with the other two shapes). ``mask_from`` (B,) long,
    optional: row i mentions the factors drawn for row ``mask_from[i]`` (so the captions of a shape triplet name the
    same factors and differ only in the shape word).
    Returns the captions and the mention mask (B, 6) bool.
    """
    batch, num = labels.shape
    if emphasis is None:
        count = torch.randint(1, num + 1, (batch,), generator=generator)  # (B,)
        order = torch.rand(batch, num, generator=generator).argsort(dim=1)  # (B, 6) random permutation per row
        rank = order.argsort(dim=1)  # rank of each factor in its row's permutation
        mentioned = rank < count[:, None]  # (B, 6)
    else:
        p = torch.tensor([emphasis.get(f, 0.0) for f in FACTOR_NAMES])  # (6,)
        mentioned = torch.rand(batch, num, generator=generator) < p  # (B, 6)
        mentioned[~mentioned.any(1), int(p.argmax())] = True
    if always is not None:
        mentioned = mentioned | always
    if mask_from is not None:
        mentioned = mentioned[mask_from]
    texts = []
    for row, mask in zip(labels.tolist(), mentioned.tolist()):
        chosen = {f: FACTORS[f][row[i]] for i, f in enumerate(FACTOR_NAMES) if mask[i]}
        texts.append(caption(chosen))
    return texts, mentioned


def swapped_shape_captions(labels: torch.Tensor, mentioned: torch.Tensor) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Counterfactual captions: each caption that names a shape, with that shape replaced by each of the other two.

    labels, mentioned (B, 6) of the original captions → texts (E,), their labels (E, 6) and mention masks (E, 6),
    E = 2 × (captions naming a shape). Used as extra (hard negative) captions: they differ from a true caption of an
    image in the shape word only.
    """
    column = FACTOR_NAMES.index("shape")
    rows = mentioned[:, column].nonzero().squeeze(1)  # (M,)
    new_labels, new_mentioned, texts = [], [], []
    for shift in (1, 2):
        swapped = labels[rows].clone()  # (M, 6)
        swapped[:, column] = (swapped[:, column] + shift) % len(FACTORS["shape"])
        new_labels.append(swapped)
        new_mentioned.append(mentioned[rows])
        for row, mask in zip(swapped.tolist(), mentioned[rows].tolist()):
            texts.append(caption({f: FACTORS[f][row[i]] for i, f in enumerate(FACTOR_NAMES) if mask[i]}))
    return texts, torch.cat(new_labels), torch.cat(new_mentioned)


def caption_matches(labels: torch.Tensor, caption_labels: torch.Tensor, mentioned: torch.Tensor) -> torch.Tensor:
    """(B_img, B_txt) bool: caption j is true of image i (every factor caption j mentions agrees with image i).

    labels (B_img, 6) of the images; caption_labels (B_txt, 6) and mentioned (B_txt, 6) of the captions.
    """
    agree = labels[:, None, :] == caption_labels[None, :, :]  # (B_img, B_txt, 6)
    return (agree | ~mentioned[None, :, :]).all(dim=-1)


def vocabulary() -> frozenset[str]:
    """Every word any caption uses: the only words the tiny CLIP has learned a meaning for."""
    words = {"a", "shape", "background"}
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
