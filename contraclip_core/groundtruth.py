"""The Shapes world's ground truth, as every method's evaluation reads it: the attributes a render is drawn from, the
sentence words that name them (``shapes_target``), angles and ranks (circular distance, signed hue change,
Spearman's ρ with float32 round-off as ties), and the population statistics that turn changes into standard
deviations. Knows no method: paths, edit models and mappers are each scored against these in their own
``evaluate`` module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .colour_names import HUES
from .generators.base import Generator
from .generators.shapes import HEADS, HUE_HEADS


SHAPE_NAMES = ("circle", "square", "triangle")


ATTRIBUTES = ("shape_circle", "shape_square", "shape_triangle", "size", "x", "y", "rotation", "hue", "saturation",
              "value", "bg_lightness")


def circular_distance(a: torch.Tensor, b: float | torch.Tensor) -> torch.Tensor:
    """Distance between angles in radians, in [0, π]."""
    d = torch.remainder(torch.as_tensor(a) - b, 2 * math.pi)
    return torch.minimum(d, 2 * math.pi - d)


def hue_change(hue: torch.Tensor, anchor: int) -> torch.Tensor:
    """Each traversal's hue change from its anchor column, (S, N) radians in (−π, π], signed per traversal so that +
    is the way its hue turns at the last step (toward the first sentence): a path that turns the hue one way through
    the anchor draws a rising line, one that turns it the same way on both sides a V. (Unsigned distances drew every
    hue path as a V; one sign for all seeds would cancel, since from some anchors the first colour lies clockwise and
    from others counter-clockwise.)"""
    d = torch.remainder(hue - hue[:, anchor : anchor + 1] + math.pi, 2 * math.pi) - math.pi
    return d * torch.where(d[:, -1:] < 0, -1.0, 1.0)


def change_from_anchor(attribute: str, values: torch.Tensor, anchor: int) -> torch.Tensor:
    """Each traversal's change of ``attribute`` from its anchor column, (S, N): a plain difference, the hue's by
    :func:`hue_change` (the path reports and the Explore plot draw these)."""
    return hue_change(values, anchor) if attribute == "hue" else values - values[:, anchor : anchor + 1]


def hue_closeness(hue: torch.Tensor, colour: float) -> torch.Tensor:
    """How close a hue is to a colour's centre: cos(h − colour), 1 at the colour and −1 opposite it — a hue dipole's
    target. It is largest at the first sentence's colour, so a path that turns the hue past that colour falls again
    and is not monotone. (Until 2026-12-05 the target was cos(h − first) − cos(h − second), the difference of the
    two similarities as a CLIP dipole is; that is largest 90° away from the second colour, not at the first, so a path
    that overshot the first colour still scored monotone.) Moving the hue heads along the first colour's unit vector
    — the ground-truth path — raises it at every step from any start."""
    return torch.cos(hue - colour)


@dataclass
class Target:
    """What a Shapes dipole should move: a scalar measure of the attributes, and the attributes it owns."""

    name: str  # e.g. "red − blue (hue)"
    measure: Callable[[dict[str, torch.Tensor]], torch.Tensor]  # attrs → (B,), grows toward the first sentence
    owns: tuple[str, ...]  # attributes that are the target itself (left out of the off-target check)
    move: dict[int, float] = field(default_factory=dict)  # generator head → how the ground-truth path moves it
    order: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None  # what ρ ranks, if not the measure

    def ranked(self, attrs: dict[str, torch.Tensor]) -> torch.Tensor:
        """What ρ ranks: the measure, or a quantity in the same order that float32 does not round to ties."""
        return (self.order or self.measure)(attrs)


def shapes_target(dipole: Sequence[str]) -> Target | None:
    """The ground-truth target of a Shapes dipole, recognised from its words; None if unknown."""
    pos, neg = (s.lower() for s in dipole)

    def word(text: str, words: Sequence[str]) -> str | None:
        found = [w for w in words if f" {w}" in f" {text}"]
        return found[0] if len(found) == 1 else None

    hp, hn = word(pos, list(HUES)), word(neg, list(HUES))
    if hp and hn and hp != hn:
        sine, cosine = HUE_HEADS
        move = {sine: math.sin(HUES[hp]), cosine: math.cos(HUES[hp])}  # toward the first colour's hue
        # ρ ranks the angle to it (the same order; the cosine rounds to ties near the colour in float32)
        return Target(f"hue: toward {hp} (from {hn})", lambda a: hue_closeness(a["hue"], HUES[hp]), ("hue",), move,
                      order=lambda a: -circular_distance(a["hue"], HUES[hp]))
    sp, sn = word(pos, SHAPE_NAMES), word(neg, SHAPE_NAMES)
    if sp and sn and sp != sn:
        return Target(f"shape: {sp} − {sn}", lambda a: a[f"shape_{sp}"] - a[f"shape_{sn}"],
                      ("shape_circle", "shape_square", "shape_triangle"),
                      {HEADS[f"shape_{sp}"]: 1.0, HEADS[f"shape_{sn}"]: -1.0},
                      order=lambda a: a[f"log_shape_{sp}"] - a[f"log_shape_{sn}"])
    pairs = [(("large", "big"), ("small", "tiny"), "size", 1.0), (("left",), ("right",), "x", -1.0),
             (("right",), ("left",), "x", 1.0), (("top",), ("bottom",), "y", -1.0), (("bottom",), ("top",), "y", 1.0),
             (("light background",), ("dark background",), "bg_lightness", 1.0),
             (("dark background",), ("light background",), "bg_lightness", -1.0),
             (("small", "tiny"), ("large", "big"), "size", -1.0)]
    for pos_words, neg_words, attr, sign in pairs:
        if any(w in pos for w in pos_words) and any(w in neg for w in neg_words):
            return Target(f"{'' if sign > 0 else '−'}{attr}", lambda a, attr=attr, sign=sign: sign * a[attr], (attr,),
                          {HEADS[attr]: sign})
    return None


def midranks(x: torch.Tensor, tol: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Ranks along the last axis, 0-based, ties sharing their mean rank (the usual Spearman convention); values
    within ``tol`` (a number, or one per row: shape (…, 1)) of their sorted neighbour count as tied."""
    s, order = x.sort(-1)
    new_group = torch.ones_like(s, dtype=torch.bool)
    new_group[..., 1:] = s.diff(dim=-1) > tol
    group = new_group.long().cumsum(-1) - 1
    position = torch.arange(x.shape[-1], dtype=torch.float32, device=x.device).expand_as(s)
    total = torch.zeros_like(position).scatter_add(-1, group, position)
    count = torch.zeros_like(position).scatter_add(-1, group, torch.ones_like(position))
    return torch.empty_like(position).scatter(-1, order, (total / count.clamp_min(1)).gather(-1, group))


def spearman(steps: torch.Tensor, values: torch.Tensor, ulps: float = 0.0) -> torch.Tensor:
    """Spearman ρ along the last axis: steps (N,), values (S, N) → (S,), with mid-ranks for ties; values closer
    than ``ulps`` float32 units in the last place of the row's magnitude count as tied (round-off is no order).
    0 where the values are constant."""
    values = values.float()
    tol = ulps * torch.finfo(torch.float32).eps * values.abs().amax(-1, keepdim=True)
    rx = midranks(steps.expand_as(values).float())
    ry = midranks(values, tol)
    rx, ry = rx - rx.mean(-1, keepdim=True), ry - ry.mean(-1, keepdim=True)
    denom = rx.norm(dim=-1) * ry.norm(dim=-1)
    return torch.where(denom < 1e-9, torch.zeros_like(denom), (rx * ry).sum(-1) / denom.clamp_min(1e-12))


ROUND_OFF_ULPS = 16  # float32 round-off of the attribute computations: differences this small are ties


@torch.no_grad()
def population_attributes(generator: Generator, space: str, truncation: float, n: int = 5000,
                          seed: int = 10**6) -> dict[str, torch.Tensor]:
    """Ground-truth attributes of n prior samples (seeds disjoint from evaluation anchors)."""
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed)).to(generator.device)
    attrs = generator.attributes(generator.encode(z, space, truncation), space)  # type: ignore[attr-defined]
    return {k: v.float().cpu() for k, v in attrs.items()}
