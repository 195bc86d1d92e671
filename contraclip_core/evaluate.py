"""Evaluation on the Shapes world, whose ground truth is exact.

For each path: traverse from N seeded anchors, read every step's ground-truth attributes, and report
- ρ: mean over seeds of Spearman's ρ between step index and each attribute (the target's own measure too), with
  mid-ranks for ties, and differences within float32 round-off counted as ties (a path that reaches its target
  and stays there has a plateau: round-off along it must not be read as an order); a shape target's ranks are read
  on the log-odds of its two blend weights (``Target.order``): the weights round to exactly 0 and 1 on most of a
  traversal (the blend is nearly binary), which made even the ground-truth path score ρ 0.93 on the dipoles with a
  triangle — ties of float32, not of the path;
- change: mean over seeds of the attribute's change from step −T to +T, in population standard deviations
  (signed for the target measure, |·| for every other attribute; hue differences are circular).
Spearman alone is no disentanglement measure (any tiny monotone drift has |ρ| ≈ 1), so a path passes only if the
target moves monotonically (ρ ≥ 0.9), far (≥ 1 std) and more than every other attribute, and is *clean* (``CLEAN``)
if it moves in order (ρ ≥ 0.95), ≥ 1.5 std, and no other attribute more than half as far.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .generators.base import Generator
from .generators.shapes import HEADS, HUE_HEADS
from .pathset import PathSet
from .traversal import euler_path

HUES = {"red": 0.0, "orange": math.pi / 6, "yellow": math.pi / 3, "green": 2 * math.pi / 3, "cyan": math.pi,
        "blue": 4 * math.pi / 3, "purple": 3 * math.pi / 2, "magenta": 5 * math.pi / 3}
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


def hue_toward(hue: torch.Tensor, toward: float, away: float) -> torch.Tensor:
    """How far a hue is from ``away`` toward ``toward``: cos(h − toward) − cos(h − away), the difference of the hue
    unit vector's cosine similarities to the two colours (as a CLIP dipole is a difference of similarities to two
    sentences), i.e. its projection on u_toward − u_away. Moving the hue heads along that chord — the ground-truth
    path — raises it at every step, from any start. A difference of circular *distances* (this module's measure
    before 2026-12-01) is flat on a whole arc — for red/blue between red and yellow, where turning toward red brings
    the hue as much closer to red as to blue — and so scored the ground-truth red/blue path ρ 0.944."""
    return torch.cos(hue - toward) - torch.cos(hue - away)


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
        move = {sine: math.sin(HUES[hp]) - math.sin(HUES[hn]), cosine: math.cos(HUES[hp]) - math.cos(HUES[hn])}
        return Target(f"hue: {hp} − {hn}", lambda a: hue_toward(a["hue"], HUES[hp], HUES[hn]), ("hue",), move)
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


def ground_truth_paths(generator: Generator, dipole: Sequence[str]) -> PathSet | None:
    """The reference path for a Shapes dipole: the linear W direction that moves only the heads its target is made
    of (``Target.move``; ``ShapesGenerator.head_direction``) — what a perfectly disentangled path does at the same
    step size. None for a dipole whose target is not recognised."""
    from .paths import LinearPaths

    target = shapes_target(dipole)
    if target is None or not target.move:
        return None
    move = torch.zeros(len(generator.head_mean))  # type: ignore[attr-defined]
    for head, amount in target.move.items():
        move[head] = amount
    paths = LinearPaths(1, generator.w_dim)
    with torch.no_grad():
        paths.directions.copy_(generator.head_direction(move)[None])  # type: ignore[attr-defined]
    return PathSet(lss=paths, dipoles=[tuple(dipole)], generator="shapes-128", space="w", layers=0, truncation=1.0,
                   latent_shape=generator.latent_shape("w"), settings={"method": "linear"}, name="ground truth")


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


CLEAN = (0.95, 1.5, 0.5)  # a clean path: target ρ ≥ 0.95, Δ target ≥ 1.5 std, every off-target Δ ≤ 0.5 × Δ target
ROUND_OFF_ULPS = 16  # float32 round-off of the attribute computations: differences this small are ties


def off_ratio(off_target: float, target_change: float) -> float:
    """The largest off-target change as a fraction of the target's (inf for a path that goes backwards)."""
    return off_target / target_change if target_change > 0 else float("inf")


def is_clean(rho: float, target_change: float, off_target: float, ratio_bar: float = CLEAN[2]) -> bool:
    """The disentanglement bar (``CLEAN``; a stricter off/Δ ``ratio_bar`` for the stretch bar): in order, far, and
    nothing else more than ``ratio_bar`` as far. Stored figures (a measurement, a paths.json record) are read by it
    as reports are."""
    return rho >= CLEAN[0] and target_change >= CLEAN[1] and off_ratio(off_target, target_change) <= ratio_bar


@dataclass
class PathReport:
    dipole: tuple[str, str]
    target: str  # the target measure's name, "" if unknown
    target_rho: float  # mean Spearman ρ(step, target measure)
    target_change: float  # mean signed change of the target measure, in population std
    rho: dict[str, float]  # mean Spearman ρ(step, attribute) for every attribute
    change: dict[str, float]  # mean |change| of every attribute, in population std (hue: circular)
    off_target_max: float  # largest change among attributes the target does not own
    off_target_worst: str  # which attribute that is
    curves: dict[str, list[float]] = field(default_factory=dict)  # mean attribute (std units, 0 at anchor) per step

    @property
    def passes(self) -> bool:
        """The core bar: the target moves in order, ≥ 1 std, and more than anything else."""
        return self.target_rho >= 0.9 and self.target_change >= 1.0 and self.off_target_max < self.target_change

    @property
    def off_ratio(self) -> float:
        return off_ratio(self.off_target_max, self.target_change)

    @property
    def clean(self) -> bool:
        """The disentanglement bar (issue 14, ``CLEAN``): in order, far, and nothing else more than half as far."""
        return is_clean(self.target_rho, self.target_change, self.off_target_max)

    def record(self) -> dict:
        """What a paths.json or metrics.json records of this report: every figure but the curves, and the bars."""
        return {k: v for k, v in vars(self).items() if k != "curves"} | {"passes": self.passes, "clean": self.clean}


@torch.no_grad()
def population_attributes(generator: Generator, space: str, truncation: float, n: int = 5000,
                          seed: int = 10**6) -> dict[str, torch.Tensor]:
    """Ground-truth attributes of n prior samples (seeds disjoint from evaluation anchors)."""
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed)).to(generator.device)
    attrs = generator.attributes(generator.encode(z, space, truncation), space)  # type: ignore[attr-defined]
    return {k: v.float().cpu() for k, v in attrs.items()}


@torch.no_grad()
def evaluate_shapes(generator: Generator, path_set: PathSet, seeds: Sequence[int] = range(32), steps: int = 8,
                    step_size: float = 0.25) -> list[PathReport]:
    """Evaluate every path of a Shapes path set (see the module docstring)."""
    view = path_set.view
    population = population_attributes(generator, view.space, path_set.truncation)
    pop = {k: float(v.std()) for k, v in population.items()}
    anchor = generator.encode(generator.sample_z(list(seeds)), view.space, path_set.truncation)
    step_index = torch.arange(-steps, steps + 1, dtype=torch.float32)
    reports = []
    for k, dipole in enumerate(path_set.dipoles):
        flat = euler_path(path_set.lss, view.flat(anchor).float(), k, steps, step_size)  # (S, 2T+1, d)
        s, n, d = flat.shape
        full = view.merge(flat.reshape(s * n, d), anchor.repeat_interleave(n, dim=0))
        attrs = {a: v.reshape(s, n).float().cpu() for a, v in generator.attributes(full, view.space).items()}
        target = shapes_target(dipole)
        rho, change, curves = {}, {}, {}
        for a in ATTRIBUTES:
            v = attrs[a]
            rho[a] = float(spearman(step_index, v, ROUND_OFF_ULPS).mean())
            delta = circular_distance(v[:, -1], v[:, 0]) if a == "hue" else (v[:, -1] - v[:, 0]).abs()
            change[a] = float(delta.mean()) / max(pop[a], 1e-9)
            curves[a] = (change_from_anchor(a, v, steps).mean(0) / max(pop[a], 1e-9)).tolist()
        if target is not None:
            m = target.measure(attrs)  # (S, 2T+1)
            pop_m = float(target.measure(population).std())
            t_rho = float(spearman(step_index, target.ranked(attrs), ROUND_OFF_ULPS).mean())
            t_change = float((m[:, -1] - m[:, 0]).mean()) / pop_m
            curves["target"] = ((m - m[:, steps : steps + 1]).mean(0) / pop_m).tolist()
            others = {a: c for a, c in change.items() if a not in target.owns}
        else:
            t_rho, t_change, others = float("nan"), float("nan"), dict(change)
        worst = max(others, key=others.get)
        reports.append(PathReport(tuple(dipole), target.name if target else "", t_rho, t_change, rho, change,
                                  others[worst], worst, curves))
    return reports


def format_table(reports: Sequence[PathReport], title: str = "") -> str:
    """A Markdown table: per path, target ρ and change, the largest off-target change, and every attribute's."""
    short = {"shape_circle": "circle", "shape_square": "square", "shape_triangle": "triangle", "size": "size",
             "x": "x", "y": "y", "rotation": "rot", "hue": "hue", "saturation": "sat", "value": "val",
             "bg_lightness": "bg"}
    head = ["path (first / second sentence)", "target", "ρ", "Δ target", "max off-target", "off/Δ", "pass", "clean"]
    head += [f"Δ{short[a]}" for a in ATTRIBUTES]
    lines = ([f"**{title}**", ""] if title else []) + ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        row = [f"{r.dipole[0]} / {r.dipole[1]}", r.target, f"{r.target_rho:.3f}", f"{r.target_change:.2f}",
               f"{r.off_target_max:.2f} ({short[r.off_target_worst]})", f"{r.off_ratio:.2f}",
               "yes" if r.passes else "**no**", "yes" if r.clean else "**no**"]
        row += [f"{r.change[a]:.2f}" for a in ATTRIBUTES]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_curves(reports: Sequence[PathReport], width: int = 360, height: int = 220) -> Image.Image:
    """Small multiples: per path, each attribute's mean change (std units) against the step; target in black."""
    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
               (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (255, 187, 120)]
    cols = min(2, len(reports))
    rows = math.ceil(len(reports) / cols)
    legend_h = 18 * math.ceil((len(ATTRIBUTES) + 1) / 6)
    canvas = Image.new("RGB", (cols * width, rows * height + legend_h), "white")
    draw = ImageDraw.Draw(canvas)
    for idx, r in enumerate(reports):
        x0, y0 = (idx % cols) * width, (idx // cols) * height
        series = [(a, r.curves[a], palette[i]) for i, a in enumerate(ATTRIBUTES)]
        if "target" in r.curves:
            series.append(("target", r.curves["target"], (0, 0, 0)))
        lo = min(min(v) for _, v, _ in series + [("", [-1.0], None)])
        hi = max(max(v) for _, v, _ in series + [("", [1.0], None)])
        px = lambda i, n: x0 + 40 + (width - 55) * i / max(n - 1, 1)  # noqa: E731
        py = lambda v: y0 + 25 + (height - 45) * (hi - v) / (hi - lo)  # noqa: E731
        draw.text((x0 + 5, y0 + 5), f"{r.dipole[0]} / {r.dipole[1]}"[:58], fill="black")
        draw.line([px(0, 2), py(0), px(1, 2), py(0)], fill=(200, 200, 200))
        for v in (lo, hi):
            draw.text((x0 + 2, py(v) - 6), f"{v:+.1f}", fill="gray")
        for name, values, color in series:
            pts = [(px(i, len(values)), py(v)) for i, v in enumerate(values)]
            draw.line(pts, fill=color, width=3 if name == "target" else 1)
    for i, (name, color) in enumerate([(a, palette[j]) for j, a in enumerate(ATTRIBUTES)] + [("target", (0, 0, 0))]):
        x, y = 10 + (i % 6) * (cols * width // 6), rows * height + 3 + 18 * (i // 6)
        draw.rectangle([x, y + 4, x + 12, y + 10], fill=color)
        draw.text((x + 16, y), name, fill="black")
    return canvas
