"""The Spearman ρ behind the quality bar: mid-ranks for ties, float round-off on a plateau is not an order."""
from __future__ import annotations

import math
import random

import pytest
import torch

from contraclip_core.groundtruth import midranks, spearman

STEPS5 = torch.arange(5, dtype=torch.float32)


def _naive_spearman(x: list[float], y: list[float]) -> float:
    """Textbook: Pearson correlation of mid-ranks."""
    def ranks(v):
        return [sum(w < a for w in v) + (sum(w == a for w in v) - 1) / 2 for a in v]

    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    norm = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / norm if norm else 0.0


def test_monotone_reversed_and_constant():
    assert spearman(STEPS5, torch.tensor([[0.1, 0.3, 0.35, 2.0, 9.0]])).item() == pytest.approx(1.0)
    assert spearman(STEPS5, torch.tensor([[5.0, 4.0, 1.0, 0.0, -3.0]])).item() == pytest.approx(-1.0)
    assert spearman(STEPS5, torch.full((1, 5), 0.7)).item() == 0.0


def test_a_step_gets_the_mid_rank_value_whatever_the_order_of_its_ties():
    # y = 0, 0, 1, 1, 1: mid-ranks 0.5, 0.5, 3, 3, 3 → ρ = √(7.5/10) by hand
    y = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0]])
    assert midranks(y).tolist() == [[0.5, 0.5, 3.0, 3.0, 3.0]]
    assert spearman(STEPS5, y).item() == pytest.approx(math.sqrt(0.75), abs=1e-6)


def test_round_off_on_a_plateau_is_a_tie_only_within_the_tolerance():
    # a path that reaches its target and stays: last values equal up to float noise, in a "decreasing" order
    ulp = torch.finfo(torch.float32).eps * 2  # one float32 step at 2.0
    y = torch.tensor([[0.0, 1.0, 2.0 + 2 * ulp, 2.0 + ulp, 2.0]])
    tied = spearman(STEPS5, y, ulps=16).item()
    assert tied == pytest.approx(spearman(STEPS5, torch.tensor([[0.0, 1.0, 2.0, 2.0, 2.0]])).item())
    assert spearman(STEPS5, y).item() < tied  # without a tolerance the noise is read as going backwards
    # a real (if small) change is not round-off: a strictly increasing tail keeps ρ = 1
    assert spearman(STEPS5, torch.tensor([[0.0, 1.0, 2.0, 2.001, 2.002]]), ulps=16).item() == pytest.approx(1.0)


def test_agrees_with_the_textbook_definition_on_random_data_with_ties():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(2, 17)
        y = [float(rng.randint(0, 4)) for _ in range(n)]
        steps = torch.arange(n, dtype=torch.float32)
        got = spearman(steps, torch.tensor([y])).item()
        assert got == pytest.approx(_naive_spearman(list(range(n)), y), abs=1e-5), y


@pytest.mark.parametrize("dipole, target", [(("a large shape", "a small shape"), "size"),
                                            (("a circle", "a square"), "shape"),
                                            (("a triangle", "a circle"), "shape"),
                                            (("a triangle", "a square"), "shape"),
                                            (("a red shape", "a blue shape"), "hue")])
def test_the_ground_truth_path_moves_its_target_and_nothing_else(shapes_generator, dipole, target):
    """The reference direction moves only the heads its target is made of: every other attribute stays put to
    float round-off, and the target moves far and in order at every step from every anchor (ρ 1: the ceiling a
    trained path is compared with — on the triangle dipoles the blend weights round to 0 and 1 on half the
    traversal, ρ 0.93 when ranked on them; their log-odds keep the order)."""
    from contraclip_core.methods.contraclip.evaluate import evaluate_shapes, ground_truth_paths

    generator = shapes_generator
    r = evaluate_shapes(generator, ground_truth_paths(generator, dipole), seeds=range(32), step_size=0.25)[0]
    assert r.target.startswith(target) and r.target_change > 2.0 and r.target_rho > 0.999, r.target_rho
    assert r.off_target_max < 1e-3, (r.off_target_worst, r.off_target_max)
    assert ground_truth_paths(generator, ("a happy shape", "a sad shape")) is None


def test_a_hue_target_is_closeness_to_the_first_colour():
    """Red/blue: the target is largest at red and grows toward it along the ground-truth path (the hue heads moved
    along red's unit vector) from any start; a path that turns the hue past red falls again, so it is not monotone
    (the old measure, cos(h − red) − cos(h − blue), kept growing past red up to 90° from blue and called it so)."""
    from contraclip_core.groundtruth import HUES, circular_distance, shapes_target, spearman

    red, blue = HUES["red"], HUES["blue"]
    target = shapes_target(("a red shape", "a blue shape"))
    measure = lambda hue: target.measure({"hue": hue})  # noqa: E731
    order = lambda hue: target.ranked({"hue": hue})  # noqa: E731
    hues = torch.linspace(0, 2 * math.pi, 721)[:-1]
    assert hues[measure(hues).argmax()].item() == pytest.approx(red, abs=1e-6)  # largest at the first colour
    t = torch.linspace(-3, 3, 61)[:, None]
    u = torch.tensor([math.sin(red), math.cos(red)])
    for start in (0.3, 1.0, 2.0, 3.5, 5.0, 6.0):  # hues all round the circle
        heads = torch.tensor([math.sin(start), math.cos(start)]) + t * u  # (61, 2)
        hue = torch.remainder(torch.atan2(heads[:, 0], heads[:, 1]), 2 * math.pi)
        assert (order(hue).diff() > 0).all(), start
        assert (measure(hue).diff() >= 0).all(), start
    # a path from blue that turns the hue through red and on to yellow: it overshoots
    overshoot = torch.remainder(torch.linspace(blue, 2 * math.pi + HUES["yellow"], 17), 2 * math.pi)
    rho = spearman(torch.arange(17.0), order(overshoot)[None])[0].item()
    old = torch.cos(overshoot - red) - torch.cos(overshoot - blue)
    assert rho < 0.9 and spearman(torch.arange(17.0), old[None])[0].item() > rho + 0.1
    assert (order(overshoot) == -circular_distance(overshoot, red)).all()


def test_hue_change_is_signed_per_traversal_toward_its_last_step():
    """The Explore plot's hue row: + is the way each traversal's hue turns at its last step, across 0 = 2π, so a
    path turning the hue through its anchor draws a line, one turning it away on both sides a V."""
    import math

    import torch

    from contraclip_core.groundtruth import hue_change

    tau = 2 * math.pi
    through = torch.tensor([[tau - 0.2, tau - 0.1, 0.0, 0.1, 0.2],  # counter-clockwise, across 0 = 2π
                            [2.3, 2.2, 2.1, 2.0, 1.9]])  # clockwise
    line = torch.tensor([-0.2, -0.1, 0.0, 0.1, 0.2])
    assert torch.allclose(hue_change(through, 2), line.expand(2, 5), atol=1e-5)
    away = torch.tensor([[1.2, 1.1, 1.0, 1.1, 1.2]])  # away from the anchor on both sides
    assert torch.allclose(hue_change(away, 2), torch.tensor([[0.2, 0.1, 0.0, 0.1, 0.2]]), atol=1e-5)


def test_the_clean_bar_is_order_distance_and_at_most_half_as_far_elsewhere():
    """``evaluate.CLEAN`` (issue 14's bar) as reports, stored measurements and the shipped-sets table read it."""
    from contraclip_core.methods.contraclip.evaluate import is_clean, off_ratio

    assert is_clean(0.95, 1.5, 0.75) and is_clean(1.0, 2.5, 0.0)
    assert not is_clean(0.94, 2.0, 0.1)  # out of order
    assert not is_clean(1.0, 1.49, 0.1)  # not far enough
    assert not is_clean(1.0, 2.0, 1.01)  # drags something else more than half as far
    assert not is_clean(-1.0, -2.0, 0.1) and off_ratio(0.1, -2.0) == float("inf")  # backwards
    assert is_clean(1.0, 2.0, 0.6) and not is_clean(1.0, 2.0, 0.61, ratio_bar=0.3)  # the stretch bar
