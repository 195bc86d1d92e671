"""A running job's live outputs: when the preview is drawn, and the loss curve written and read back safely."""
from __future__ import annotations

import json

import pytest

from contraclip_core import live
from contraclip_core.live import LiveOutputs, read_loss_curve, save_losses


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_the_preview_comes_at_once_then_at_most_every_few_seconds(tmp_path):
    clock, drawn = Clock(), []

    def draw(out):
        drawn.append(clock.t)
        out.write_bytes(b"png")

    outputs = LiveOutputs(tmp_path, draw, clock)
    outputs.update(0, 100, [])
    assert drawn == [100.0] and (tmp_path / live.PREVIEW_NAME).read_bytes() == b"png"  # before any iteration
    for it in range(1, 50):
        clock.t += 0.5
        outputs.update(it, 100, [1.0] * it)
    # 24.5 s later: redrawn every PREVIEW_EVERY_S (5 s) — not every iteration
    assert len(drawn) == 1 + int(24.5 // live.PREVIEW_EVERY_S)
    outputs.update(100, 100, [1.0] * 100)  # the last iteration always draws
    assert drawn[-1] == clock.t


def test_a_slow_preview_takes_at_most_a_twentieth_of_the_time(tmp_path):
    clock, drawn = Clock(), []

    def slow_draw(out):
        drawn.append(clock.t)
        clock.t += 2.0  # drawing takes 2 s (a big generator on a CPU)
        out.write_bytes(b"png")

    outputs = LiveOutputs(tmp_path, slow_draw, clock)
    for it in range(1, 200):
        outputs.update(it, 1000, [1.0] * it)
        clock.t += 1.0
    gaps = [b - a for a, b in zip(drawn, drawn[1:])]
    assert gaps and min(gaps) >= 2.0 / live.PREVIEW_SHARE  # ≥ 40 s apart: ≤ 5 % of the time on previews


def test_the_loss_curve_is_written_and_read_back(tmp_path):
    clock = Clock()
    outputs = LiveOutputs(tmp_path, lambda out: out.write_bytes(b"png"), clock)
    losses = []
    for it in range(1, 301):
        losses.append(1.0 / it)
        clock.t += 0.01
        outputs.update(it, 300, losses)
    curve = read_loss_curve(tmp_path)
    assert curve[-1][0] == 300 and len(curve) <= 120  # the final iteration is always written
    assert curve[0][1] > curve[-1][1]


@pytest.mark.parametrize("content", [
    "not json", json.dumps({"points": "x"}), json.dumps({"nope": []}),
    json.dumps({"points": [[1, 0.5], [1, 0.4]]}),  # iterations must increase
    json.dumps({"points": [[0, 0.5]]}), json.dumps({"points": [[True, 0.5]]}), json.dumps({"points": [[1, "0.5"]]}),
    json.dumps({"points": [[1, 0.5, 3]]}), '{"points": [[1, NaN]]}', '{"points": [[1, Infinity]]}',
    json.dumps({"points": [[i, 0.5] for i in range(1, 500)]}),  # far more points than are ever written
])
def test_a_damaged_loss_curve_reads_as_none(tmp_path, content):
    (tmp_path / live.LOSSES_NAME).write_text(content)
    assert read_loss_curve(tmp_path) == []


def test_no_curve_yet(tmp_path):
    assert read_loss_curve(tmp_path / "missing") == []
    save_losses(tmp_path, [])
    assert read_loss_curve(tmp_path) == []
