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
    assert len(dipoles) >= 11 and all(shapes_target(d) is not None for d in dipoles), sorted(dipoles)


@pytest.mark.parametrize("folder", SETS, ids=[f.name for f in SETS])
def test_every_shipped_path_is_clean_and_records_it(folder, shapes_generator):
    path_set = PathSet.load(folder, shapes_generator)
    recorded = path_set.metrics["shapes_eval"]
    reports = evaluate_shapes(shapes_generator, path_set, seeds=range(32), steps=recorded["steps"],
                              step_size=recorded["step_size"])
    for report, row in zip(reports, recorded["per_path"], strict=True):
        assert report.clean, (report.dipole, report.target_rho, report.target_change, report.off_target_max,
                              report.off_target_worst, CLEAN)
        assert row["clean"] and row["target_rho"] == pytest.approx(report.target_rho, abs=2e-3)
        assert row["off_target_max"] == pytest.approx(report.off_target_max, abs=2e-3), report.dipole
