"""The quality bar (issue: ContraCLIP core): on the Shapes world, paths trained in ≤ 60 s on CPU move their
attribute monotonically, far, and more than anything else — measured on exact ground truth from 32 seeds.

Paths that do not meet the bar yet are listed in KNOWN_SHORTFALLS with the measured reason; their tests are
``xfail(strict=True)``, so they turn red the moment they start to pass and the entry must be removed.
"""
from __future__ import annotations

import time

import pytest
import torch

from contraclip_core.methods.contraclip import presets
from contraclip_core import registry
from contraclip_core.clip import load_clip
from contraclip_core.methods.contraclip.evaluate import evaluate_shapes, format_table
from contraclip_core.methods.contraclip.train import Trainer

DIPOLES = [("a red shape", "a blue shape"), ("a large shape", "a small shape"), ("a circle", "a square"),
           ("a shape on the left", "a shape on the right")]
SEEDS = (0, 1, 2)  # training seeds of the circle/square lever (median run)
KNOWN_SHORTFALLS: dict[str, str] = {}  # first sentence → measured reason (red/blue left it on 2026-12-06: issue 29)


# Each training below loads its own CLIP rather than taking conftest's `shapes_clip`: the CLIP caches text embeddings
# on itself, and a sentence embedded in another batch (another dipole list) may differ in round-off.


@pytest.fixture(scope="module")
def trained(shapes_generator):
    torch.set_num_threads(2)
    generator, clip = shapes_generator, load_clip("shapes-clip")
    config = presets.train_config("shapes-128", "quick", dipoles=DIPOLES)
    start = time.monotonic()
    path_set = Trainer(config, generator, clip).train()
    seconds = time.monotonic() - start
    reports = evaluate_shapes(generator, path_set, seeds=range(32), step_size=registry.GENERATORS["shapes-128"].step_size)
    print(f"\ntrained {len(DIPOLES)} paths in {seconds:.1f} s\n{format_table(reports)}")
    return seconds, reports


def test_trained_within_a_minute(trained):
    seconds, _ = trained
    assert seconds <= 60


def _cases():
    for index, dipole in enumerate(DIPOLES):
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_SHORTFALLS[dipole[0]])] if dipole[0] in KNOWN_SHORTFALLS else []
        yield pytest.param(index, id=dipole[0], marks=marks)


@pytest.mark.parametrize("index", list(_cases()))
def test_path_moves_its_attribute_monotonically_far_and_alone(trained, index):
    _, reports = trained
    r = reports[index]
    table = format_table([r])
    assert r.target_rho >= 0.9, table
    assert r.target_change >= 1.0, table
    assert r.off_target_max < r.target_change, table


@pytest.fixture(scope="module")
def circle_square_alone(shapes_generator):
    """The circle/square dipole trained alone (as the app does) with the linear baseline and the quick preset, in
    whitened W (the preset) and in W itself, from three training seeds each: one training is one draw (the same
    seed moves to another solution with any change of float round-off), so the lever is judged on the median run."""
    torch.set_num_threads(2)
    generator = shapes_generator
    out: dict[bool, list] = {True: [], False: []}
    for seed in SEEDS:
        for whiten in (True, False):
            clip = load_clip("shapes-clip")
            config = presets.train_config("shapes-128", "quick", dipoles=[DIPOLES[2]], method="linear", seed=seed)
            config.whiten, config.objective = whiten, "plain"  # the lever as measured (the preset is zero-shot now)
            path_set = Trainer(config, generator, clip).train()
            out[whiten].append(evaluate_shapes(generator, path_set, seeds=range(32), step_size=0.25)[0])
    print("\n" + format_table(out[True] + out[False]))
    return out


def test_whitened_w_keeps_the_circle_square_path_to_its_shape(circle_square_alone):
    """Issue 14's conditioning lever: trained in whitened W the median path moves far and monotonically while
    dragging other attributes about half as far as it moves its target; in W itself the same training drags them
    further. Measured 2026-12-04 (seeds 0, 1, 2): off/Δ 0.86, 0.41, 0.47 whitened, 1.16, 0.77, 0.46 in W."""
    def median(reports, key):
        return sorted(key(r) for r in reports)[len(reports) // 2]

    whitened, plain = circle_square_alone[True], circle_square_alone[False]
    table = format_table(whitened + plain)
    assert median(whitened, lambda r: r.target_rho) >= 0.95, table
    assert median(whitened, lambda r: r.target_change) >= 1.5, table
    ratio = median(whitened, lambda r: r.off_target_max / r.target_change)
    plain_ratio = median(plain, lambda r: r.off_target_max / r.target_change)
    assert ratio <= 0.6, table
    assert ratio <= 0.7 * plain_ratio, table

def _alone(generator, dipole, objectives_, keep=False, seed=0):
    """The dipole trained alone as the app trains a new dipole (quick preset, training seed ``seed``; the app's is
    0), once per objective ("": the preset's own), each evaluated from anchors 0…31 (``keep``: with its path set, as
    (report, path set))."""
    torch.set_num_threads(2)
    out = {}
    for objective in objectives_:
        clip = load_clip("shapes-clip")
        config = presets.train_config("shapes-128", "quick", dipoles=[dipole], seed=seed)
        config.objective = objective or config.objective
        path_set = Trainer(config, generator, clip).train()
        report = evaluate_shapes(generator, path_set, seeds=range(32), step_size=0.25)[0]
        out[objective or "preset"] = (report, path_set) if keep else report
    print("\n" + format_table([r[0] if keep else r for r in out.values()]))
    return out


@pytest.fixture(scope="module")
def red_green_alone(shapes_generator):
    """Red/green with the preset (per family: the zero-shot-circle objective for a colour dipole) and with plain,
    training seed 1. The preset was clean on all nine seeds measured (docs/PATHS.md); zero-shot, its colour objective
    before, on four of nine — which draw fails moves with float round-off, so it is not asserted here: the contrast
    between the two targets is (tests/test_pae.py, on drawn images, no training)."""
    return _alone(shapes_generator, ("a red shape", "a green shape"), ("", "plain"), keep=True, seed=1)


def test_the_preset_hue_path_reaches_the_first_colour_without_overshooting(red_green_alone):
    """Issue 29 item 3: the hue is scored on its closeness to the first colour, and plain ContraCLIP's target (a
    difference of two similarities, largest 30° past red) turned the hue past red; the zero-shot objective stops at
    it. Measured 2026-12-06 in this test's setting (training seed 1, two threads): preset ρ 0.981, off/Δ 0.07;
    plain ρ 0.886 (zero-shot, not trained here: 0.936)."""
    (r, _), (plain, _) = red_green_alone["preset"], red_green_alone["plain"]
    table = format_table([r, plain])
    assert r.target_rho >= 0.95 and r.target_change >= 1.5, table
    assert r.off_target_max <= 0.5 * r.target_change, table
    assert plain.target_rho < 0.95, table  # the same training with ContraCLIP's own target misses the bar


def test_the_preset_hue_path_leaves_red_for_its_opposite_from_beyond_green(red_green_alone, shapes_generator):
    """Issue 29 item 3: from a hue between green and cyan (120°–180°: beyond the second colour, short of red's
    opposite) the negative side must make the shape less red. Heading for "green" turns it back toward red, which is
    what the zero-shot objective's negative side did on two training seeds of three (42–43 of 43 such anchors of
    0…255 more red, docs/PATHS.md); the preset's zero-shot-circle target heads for red's opposite (41–42 of 43).
    Measured 2026-12-06 in this test's setting: preset 95 % of them less red (zero-shot, not trained here: 2 %;
    plain 0 %)."""
    from contraclip_core.groundtruth import hue_closeness
    from contraclip_core.methods.contraclip.evaluate import traversal_attributes

    def less_red(path_set) -> float:
        g = shapes_generator
        anchor = g.encode(g.sample_z(list(range(256))), path_set.view.space, path_set.truncation)
        hue = traversal_attributes(g, path_set, 0, anchor, 8, 0.25)["hue"]  # (256, 17): steps −8…+8
        start = torch.remainder(torch.rad2deg(hue[:, 8]), 360.0)
        beyond = (start > 120.0) & (start < 180.0)
        assert int(beyond.sum()) >= 30  # enough such anchors for the share to mean something
        closeness = hue_closeness(hue[beyond], 0.0)
        return float((closeness[:, 0] < closeness[:, 8]).float().mean())

    preset, plain = less_red(red_green_alone["preset"][1]), less_red(red_green_alone["plain"][1])
    assert preset >= 0.9, f"the negative end is less red than the anchor from {preset:.0%} of them"
    assert plain < 0.5, f"plain: {plain:.0%}"  # ContraCLIP's own target turns them back toward red


def test_the_preset_size_path_does_not_dim_the_shape(shapes_generator):
    """Issue 29 item 3: a size dipole must not drag brightness (HSV value) past 0.3 × its target change. The preset
    trains a size dipole with PAE (objectives.FAMILY_RULES); the zero-shot objective it uses for other families
    drags value 0.42–0.50 × (docs/PATHS.md side-by-side). Measured 2026-12-06, seed 0: preset 0.13 ×, zero-shot 0.42 ×."""
    out = _alone(shapes_generator, ("a large shape", "a small shape"), ("", "zero-shot"))
    r, zero_shot = out["preset"], out["zero-shot"]
    table = format_table([r, zero_shot])
    assert r.target_rho >= 0.95 and r.target_change >= 1.5, table
    assert r.off_target_max <= 0.3 * r.target_change, table  # every attribute, brightness included
    assert zero_shot.change["value"] > 0.3 * zero_shot.target_change, table  # what the rule avoids
