"""The held-out list of issue #29 (scripts/heldout_list.py): nothing that tunes reads it, its sentences are what they
claim to be, and its script measures and renders on a tiny budget."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from heldout_list import DIPOLES, THREE_FACTOR  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_no_tuning_script_or_module_reads_the_list():
    readers = []
    for path in [*ROOT.glob("scripts/*.py"), *ROOT.glob("contraclip_core/**/*.py"), *ROOT.glob("contraclip_ui/*.py"),
                 *ROOT.glob("bench/*.py")]:
        if path.name in ("heldout_list.py", "heldout_quality.py"):
            continue
        if re.search(r"\bheldout_list\b|\bheldout_quality\b", path.read_text()):
            readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_the_edit_models_tuning_sentences_are_not_the_held_out_ones():
    import cfclip_tuning

    from contraclip_core.methods.cfclip.vocab import parse

    assert not set(cfclip_tuning.TUNING_THREE) & set(THREE_FACTOR)
    assert all(len(parse(s)) == 3 for s in cfclip_tuning.TUNING_THREE)
    assert len(set(cfclip_tuning.TUNING_THREE)) == 24


def test_the_side_by_sides_dipoles_are_not_the_held_out_ones():
    """The side-by-side (scripts/shapes_compare.py) chose the Shapes preset's objective; its dipoles, the new colour
    words' included, must not be on the held-out list (nor their reverses), so the held-out figures stay unseen."""
    import shapes_compare

    held_out = {d for dipoles in DIPOLES.values() for d in dipoles}
    measured = set(shapes_compare.DIPOLES)
    assert not measured & held_out
    assert not {(b, a) for a, b in shapes_compare.COLOURS} & held_out
    assert all(any(w in a for w in ("orange", "purple", "pink")) for a, _ in shapes_compare.COLOURS)


def test_the_sentences_are_what_they_claim():
    from contraclip_core.methods.cfclip.vocab import parse, training_sentences

    trained = set(training_sentences())
    for sentence in THREE_FACTOR:
        named = parse(sentence)
        assert named is not None and len(named) == 3, sentence  # three factors, in the caption grammar
        assert sentence not in trained  # the edit model never trains on it
    from contraclip_core.groundtruth import shapes_target

    for dipole in DIPOLES["reversed poles"]:  # each the reverse of a dipole the project ships
        assert shapes_target(dipole) is not None
    for dipole in DIPOLES["words shared by both"]:
        assert set(dipole[0].split()) & set(dipole[1].split()) - {"a", "an", "the", "on", "at"}, dipole


def test_the_script_measures_and_renders(tmp_path, shapes_world):
    g, clip = shapes_world
    spec = importlib.util.spec_from_file_location("heldout_quality", ROOT / "scripts" / "heldout_quality.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    record = script.measure_path(g, clip, ("a small red circle", "a large red circle"), 0, 5, folder=tmp_path)
    assert record["target"] == "−size" and record["iterations"] == 5
    unknown = script.measure_path(g, clip, ("a turquoise shape", "a cyan shape"), 0, 2, folder=tmp_path)
    assert unknown["target"] == "" and not unknown["clean"]
    edits = script.measure_edits(g, clip, sentences=THREE_FACTOR[:3], seeds=range(8), folder=tmp_path)
    assert set(edits["per_sentence"]) == set(THREE_FACTOR[:3]) and 0 <= edits["reached"] <= 1
    assert "size = medium" in edits["middle_classes"]  # "a medium magenta triangle"
    text = script.render(tmp_path, tmp_path / "HELDOUT.md")
    assert "| words shared by both | a small red circle ↔ a large red circle | −size | 1 (5 it) |" in text
    assert "not measured" in text  # the list's other dipoles (the turquoise one is on no list: not rendered)
    assert "turquoise" not in text
    assert "Named attributes reached" in text
