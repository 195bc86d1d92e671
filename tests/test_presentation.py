"""How jobs and results read to a person: human ETAs, loss curves, job cards, the job picker, confirmations."""
from __future__ import annotations

import math
import re

import pytest

from contraclip_core import live
from contraclip_core.examples import EXAMPLES
from contraclip_ui import presentation as pr


@pytest.mark.parametrize("seconds, text", [
    (485.4, "about 8 min"), (40, "about 40 s"), (44, "about 40 s"), (56, "about 1 min"), (5, "a few seconds"),
    (0, "a few seconds"), (4900, "about 1 h 22 min"), (7200, "about 2 h"), (3 * 86400, "about 3 days"),
    (None, ""), (float("nan"), ""), (float("inf"), ""), (-3, ""), ("junk", ""),
])
def test_human_eta(seconds, text):
    assert pr.human_eta(seconds) == text


def test_loss_points_are_bin_means_ending_at_the_last_iteration():
    losses = [float(i) for i in range(1, 1001)]  # loss i at iteration i
    points = live.loss_points(losses)
    assert len(points) == live.MAX_CURVE_POINTS
    its = [i for i, _ in points]
    assert its == sorted(its) and its[-1] == 1000
    lo = 0
    for it, mean in points:  # each value is the mean of the losses of its bin (lo, it]
        assert mean == pytest.approx((lo + 1 + it) / 2)
        lo = it
    assert live.loss_points([0.5, 0.25]) == [(1, 0.5), (2, 0.25)]  # short runs keep every iteration
    assert live.loss_points([1.0, float("nan"), 3.0], max_points=1) == [(3, 2.0)]  # NaN left out of the mean
    assert live.loss_points([]) == []


def test_loss_svg_draws_a_falling_loss_going_down():
    svg = pr.loss_svg([(1, 1.0), (50, 0.5), (100, 0.1)], width=200, height=50)
    coords = [tuple(map(float, c.split(","))) for c in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert len(coords) == 3
    xs, ys = zip(*coords)
    assert xs == tuple(sorted(xs)) and xs[0] < 5 and xs[-1] > 195  # spans the width, left to right
    assert ys[0] < ys[1] < ys[2]  # SVG y grows downward: a falling loss goes down the plot
    assert "loss 1 … 0.1" in svg
    assert pr.loss_svg([(1, 1.0)]) == ""  # one point is not a curve
    flat = pr.loss_svg([(1, 0.5), (2, 0.5)])  # a flat curve is drawn mid-height, not divided by zero
    assert "nan" not in flat and "inf" not in flat


def test_job_card_has_a_bar_a_human_eta_and_escapes_user_text():
    row = {"id": "abc123", "dipoles": "<script>alert(1)</script> ↔ b", "status": "running", "iteration": 9,
           "total": 20, "loss": 0.5, "eta_s": 485.4, "error": ""}
    card = pr.job_card(row, [(1, 1.0), (9, 0.5)])
    assert "<script>" not in card and "&lt;script&gt;" in card
    assert 'aria-valuenow="45"' in card and "width:45.0%" in card
    assert "iteration 9 of 20 · about 8 min left · loss 0.5000" in card
    assert "<svg" in card
    done = pr.job_card(row | {"status": "done", "iteration": 20})
    assert 'aria-valuenow="100"' in done and "done · 20 iterations · loss" in done  # no time known: none said
    assert pr.job_summary(row | {"status": "done", "seconds": 14.2}) == "done · 20 iterations in 14 s · loss 0.5000"
    assert [pr.duration(s) for s in (0.4, 59.6, 200, 3900, None, -1)] == ["0 s", "1 min", "3 min 20 s", "1 h 5 min",
                                                                       "", ""]
    failed = pr.job_summary(row | {"status": "failed", "error": "RuntimeError: boom"})
    assert failed == "failed at iteration 9 of 20: RuntimeError: boom"
    assert pr.job_summary(row | {"status": "running", "eta_s": None}).endswith("starting… · loss 0.5000")
    assert "No training jobs yet" in pr.jobs_html([], lambda _: [])


def test_job_picker_lists_active_jobs_first_and_keeps_the_selection():
    rows = [{"id": "d1", "dipoles": "a ↔ b", "status": "done"}, {"id": "r1", "dipoles": "c ↔ d", "status": "running"},
            {"id": "q1", "dipoles": "e ↔ f", "status": "queued"}]
    choices, value = pr.job_choices(rows, None)
    assert [v for _, v in choices] == ["r1", "q1", "d1"] and value == "r1"
    assert choices[0][0] == "running · c ↔ d · r1"
    assert pr.job_choices(rows, "d1")[1] == "d1"
    assert pr.job_choices(rows, "gone")[1] == "r1"
    assert pr.job_choices([], "gone") == ([], None)


def test_confirmations_say_what_happens_and_refuse_what_does_not_apply():
    running = {"id": "r", "dipoles": "a ↔ b", "status": "running", "iteration": 3, "total": 10}
    text, ok = pr.confirmation("cancel", running)
    assert ok and text.startswith("Cancel job “a ↔ b” (running, iteration 3 of 10)?")
    assert pr.confirmation("delete", running) == (
        "Job “a ↔ b” (running, iteration 3 of 10) is still running: cancel it first, then delete it.", False)
    done = running | {"status": "done", "iteration": 10}
    assert pr.confirmation("cancel", done)[1] is False
    text, ok = pr.confirmation("delete", done)
    assert ok and "cannot be undone" in text
    assert pr.confirmation("cancel", None) == ("Pick a job first.", False)


def test_frame_at_picks_the_frame_of_a_step():
    frames = {"frames": ["m2.png", "m1.png", "0.png", "p1.png", "p2.png"], "steps": [-2, -1, 0, 1, 2]}
    assert pr.frame_at(frames, 0) == "0.png" and pr.frame_at(frames, -2) == "m2.png" and pr.frame_at(frames, 2.0) == "p2.png"
    assert pr.frame_at(frames, 7) is None and pr.frame_at(None, 0) is None and pr.frame_at(frames, "x") is None


def test_examples_are_well_formed():
    for e in EXAMPLES:
        assert len(e.row) == 6 and e.generator == "shapes-128" and not math.isnan(e.step_size)
    assert pr.example_label(EXAMPLES[0], "a red shape ↔ a blue shape") == "a red shape ↔ a blue shape · seeds 0, 1, 2"


def test_prerendered_note():
    assert pr.prerendered_note(None) == ""
    note = pr.prerendered_note({"label": "a ↔ b", "seeds": "0, 1"})
    assert note.startswith("Example, rendered ahead of time: **a ↔ b** · seeds 0, 1.")
