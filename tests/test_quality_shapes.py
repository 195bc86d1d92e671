"""The quality bar (issue: ContraCLIP core): on the Shapes world, paths trained in ≤ 60 s on CPU move their
attribute monotonically, far, and more than anything else — measured on exact ground truth from 32 seeds.

Paths that do not meet the bar yet are listed in KNOWN_SHORTFALLS with the measured reason; their tests are
``xfail(strict=True)``, so they turn red the moment they start to pass and the entry must be removed.
"""
from __future__ import annotations

import time

import pytest
import torch

from contraclip_core import presets, registry
from contraclip_core.clip import load_clip
from contraclip_core.evaluate import evaluate_shapes, format_table
from contraclip_core.generators import from_pretrained
from contraclip_core.trainer import Trainer

DIPOLES = [("a red shape", "a blue shape"), ("a large shape", "a small shape"), ("a circle", "a square"),
           ("a shape on the left", "a shape on the right")]
KNOWN_SHORTFALLS: dict[str, str] = {}  # first sentence → measured reason (none at present)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(2)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
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
def red_blue_linear():
    """The red/blue dipole trained alone (as the app does) with the linear baseline, plain and PAE objective."""
    torch.set_num_threads(2)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    out = {}
    for objective in ("plain", "pae-subspace"):
        config = presets.train_config("shapes-128", "quick", dipoles=[DIPOLES[0]], method="linear")
        config.objective = objective
        path_set = Trainer(config, generator, clip).train()
        out[objective] = evaluate_shapes(generator, path_set, seeds=range(32), step_size=0.25)[0]
    print("\n" + format_table(list(out.values())))
    return out


def test_pae_objective_keeps_the_red_blue_path_to_its_colour(red_blue_linear):
    """Issue 14's bar (ρ ≥ 0.95, Δ ≥ 1.5 std, largest off-target ≤ 0.5 × Δ), met with PAE and not without it:
    measured 0.36 × with PAE vs 0.74 × plain (docs/PATHS.md)."""
    plain, pae = red_blue_linear["plain"], red_blue_linear["pae-subspace"]
    table = format_table([plain, pae])
    assert pae.target_rho >= 0.95 and pae.target_change >= 1.5, table
    assert pae.off_target_max <= 0.5 * pae.target_change, table
    assert pae.off_target_max / pae.target_change < plain.off_target_max / plain.target_change - 0.2, table
