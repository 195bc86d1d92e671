"""A running training job's live outputs, written into its folder: a preview image and its loss curve so far.

The preview is drawn after the first iteration (so it appears within seconds of the start), then at most every
``PREVIEW_EVERY_S`` seconds and never for more than ~5 % of the job's time (a 1024² generator on a CPU takes
seconds to draw one). The loss curve (``losses.json``) is rewritten every ``LOSSES_EVERY_S`` seconds as at most
``MAX_CURVE_POINTS`` bin means. Both writes are atomic; reading the curve back checks every value.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Sequence


MAX_CURVE_POINTS = 120  # a loss curve is kept (and drawn) as at most this many bin means
PREVIEW_EVERY_S = 5.0  # a running job's preview is redrawn at most this often
PREVIEW_SHARE = 0.05  # …and drawing it takes at most this share of the job's time
LOSSES_EVERY_S = 1.0  # how often the loss curve is written
PREVIEW_NAME, LOSSES_NAME = "preview.png", "losses.json"


class LiveOutputs:
    """Decides when to redraw a job's preview and rewrite its loss curve; call ``update`` after every iteration.

    Args:
        folder: the job's folder.
        draw_preview: ``draw_preview(out_path)`` renders the current path into ``out_path`` (a PNG).
        clock: seconds, monotonic (a parameter so tests can drive time).
    """

    def __init__(self, folder: Path, draw_preview: Callable[[Path], None], clock: Callable[[], float] = time.monotonic):
        self.folder, self.draw_preview, self.clock = Path(folder), draw_preview, clock
        self.last_preview, self.preview_cost, self.last_losses = -math.inf, 0.0, -math.inf
        self.previews = 0  # how many were drawn (for tests and logs)

    def update(self, iteration: int, total: int, losses: Sequence[float]) -> None:
        now, final = self.clock(), iteration >= total
        if final or now - self.last_preview >= max(PREVIEW_EVERY_S, self.preview_cost / PREVIEW_SHARE):
            tmp = self.folder / f"{PREVIEW_NAME}.tmp.png"
            self.draw_preview(tmp)
            os.replace(tmp, self.folder / PREVIEW_NAME)
            self.last_preview = self.clock()
            self.preview_cost = self.last_preview - now
            self.previews += 1
        if final or now - self.last_losses >= LOSSES_EVERY_S:
            save_losses(self.folder, losses)
            self.last_losses = now


def save_losses(folder: Path, losses: Sequence[float]) -> None:
    data = {"iterations": len(losses), "points": [[i, round(v, 6)] for i, v in loss_points(losses)]}
    tmp = Path(folder) / f"{LOSSES_NAME}.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, Path(folder) / LOSSES_NAME)


def read_loss_curve(folder: Path) -> list[tuple[int, float]]:
    """The curve saved in ``folder`` as (iteration, mean loss) pairs with increasing iterations; [] when there is
    none yet or the file is not a valid curve."""
    try:
        points = json.loads((Path(folder) / LOSSES_NAME).read_text())["points"]
        if not isinstance(points, list) or len(points) > MAX_CURVE_POINTS:
            return []
        out: list[tuple[int, float]] = []
        for i, v in points:
            if isinstance(i, bool) or not isinstance(i, int) or i < 1 or (out and i <= out[-1][0]):
                return []
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return []
            out.append((i, float(v)))
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return []




def loss_points(losses: Sequence[float], max_points: int = MAX_CURVE_POINTS) -> list[tuple[int, float]]:
    """Per-iteration losses → at most ``max_points`` (iteration, mean loss of its bin) pairs; the iteration is
    the bin's last (1-based). Non-finite losses are left out of the means."""
    n = len(losses)
    if n == 0:
        return []
    bins = min(n, max_points)
    out = []
    for b in range(bins):
        lo, hi = b * n // bins, (b + 1) * n // bins
        values = [float(x) for x in losses[lo:hi] if math.isfinite(float(x))]
        if values:
            out.append((hi, sum(values) / len(values)))
    return out
