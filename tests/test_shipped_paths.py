"""Every path shipped for the Shapes world is clean on the exact ground truth (issue 14's bar, ``evaluate.CLEAN``):
it moves its target in order (ρ ≥ 0.95) and far (Δ ≥ 1.5 std), and no other attribute more than half as far —
evaluated afresh here from 32 anchors, and as its ``paths.json`` records."""
from __future__ import annotations

import json

import pytest

from contraclip_core.methods.contraclip.evaluate import CLEAN, evaluate_shapes
from contraclip_core.groundtruth import shapes_target
from contraclip_core.methods.contraclip.artefact import PathSet

SETS = PathSet.shipped("shapes-128")


def test_the_shapes_world_ships_paths_for_every_dipole_it_is_measured_on():
    dipoles = {tuple(d) for folder in SETS for d in json.loads((folder / "paths.json").read_text())["dipoles"]}
    assert len(dipoles) >= 13 and all(shapes_target(d) is not None for d in dipoles), sorted(dipoles)
    # the new colour words (issue 29) each ship a path that is clean here and on held-out anchors
    assert {("an orange shape", "a cyan shape"), ("a purple shape", "a yellow shape"),
            ("a pink shape", "a green shape")} <= dipoles


# Paths shipped though no training run of theirs was clean on both anchor sets, each asserted still not clean yet
# close (ρ ≥ 0.85, Δ ≥ 1.5, off ≤ 0.6 × Δ); every other path must be clean. Empty since 2026-12-06 evening: red/green,
# the last entry (red-green-pae), ships a clean run of the preset with zero-shot-circle for colour (docs/PATHS.md).
NOT_CLEAN_YET: set[tuple[str, str]] = set()


@pytest.mark.parametrize("folder", SETS, ids=[f.name for f in SETS])
def test_every_shipped_path_is_clean_and_records_it(folder, shapes_generator):
    path_set = PathSet.load(folder, shapes_generator)
    recorded = path_set.metrics["shapes_eval"]
    reports = evaluate_shapes(shapes_generator, path_set, seeds=range(32), steps=recorded["steps"],
                              step_size=recorded["step_size"])
    for report, row in zip(reports, recorded["per_path"], strict=True):
        figures = (report.dipole, report.target_rho, report.target_change, report.off_target_max,
                   report.off_target_worst, CLEAN)
        if (folder.name, report.dipole[0]) in NOT_CLEAN_YET:  # the list says what is true: not clean, yet close
            assert not report.clean and report.target_rho >= 0.85 and report.target_change >= 1.5, figures
            assert report.off_target_max <= 0.6 * report.target_change, figures
        else:
            assert report.clean, figures
        assert row["clean"] == report.clean and row["target_rho"] == pytest.approx(report.target_rho, abs=2e-3)
        assert row["off_target_max"] == pytest.approx(report.off_target_max, abs=2e-3), report.dipole
