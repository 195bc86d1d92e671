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
from typing import Sequence

import torch
from PIL import Image, ImageDraw

from ...generators.base import Generator
from ...groundtruth import (
    ATTRIBUTES,
    ROUND_OFF_ULPS,
    change_from_anchor,
    circular_distance,
    population_attributes,
    shapes_target,
    spearman,
)
from .artefact import PathSet
from .traversal import euler_path


def ground_truth_paths(generator: Generator, dipole: Sequence[str]) -> PathSet | None:
    """The reference path for a Shapes dipole: the linear W direction that moves only the heads its target is made
    of (``Target.move``; ``ShapesGenerator.head_direction``) — what a perfectly disentangled path does at the same
    step size. None for a dipole whose target is not recognised."""
    from .model import LinearPaths

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



CLEAN = (0.95, 1.5, 0.5)  # a clean path: target ρ ≥ 0.95, Δ target ≥ 1.5 std, every off-target Δ ≤ 0.5 × Δ target

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
def traversal_attributes(generator: Generator, path_set: PathSet, k: int, anchor: torch.Tensor, steps: int,
                         step_size: float) -> dict[str, torch.Tensor]:
    """The exact attributes along path ``k`` from each anchor, −T…+T steps of ``step_size``: each (S, 2T+1)."""
    view = path_set.view
    flat = euler_path(path_set.lss, view.flat(anchor).float(), k, steps, step_size)  # (S, 2T+1, d)
    s, n, d = flat.shape
    full = view.merge(flat.reshape(s * n, d), anchor.repeat_interleave(n, dim=0))
    return {a: v.reshape(s, n).float().cpu() for a, v in generator.attributes(full, view.space).items()}


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
        attrs = traversal_attributes(generator, path_set, k, anchor, steps, step_size)
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
