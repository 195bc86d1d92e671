"""The shipped Shapes edit model on held-out sentences (exact ground truth), loaded offline by its registry name.

The issue's bars: ≥ 85% of the named attributes reached and ≤ 0.5 std mean change of the unnamed ones, on sentences
never trained on, measured here on seeds 1000–1047 (neither the table's seeds in docs/EDITS.md, 0–63, nor the
tuning seeds, 3000–3047). Also: clearly better than the unedited images (chance), and trained within the CPU budget.
"""
from __future__ import annotations

import pytest

from contraclip_core.methods.cfclip.artefact import EditSet
from contraclip_core.methods.cfclip.evaluate import evaluate_edits, summary
from contraclip_core.methods.cfclip.vocab import HELD_OUT, training_sentences


@pytest.fixture(scope="module")
def result(shapes_world):
    g, clip = shapes_world
    edit_set = EditSet.from_pretrained("shapes-128/shapes-captions", g, generator_name="shapes-128")
    assert not set(HELD_OUT) & set(edit_set.targets)  # the sentences below were never trained on
    assert edit_set.targets == training_sentences()
    return edit_set, summary(evaluate_edits(g, edit_set, clip, HELD_OUT, seeds=range(1000, 1048)))


def test_held_out_edits_reach_named_attributes_far_more_often_than_chance(result):
    _, m = result
    assert m["edited_reached"] >= m["unedited_reached"] + 0.4, m


def test_held_out_sentences_reach_85_percent_of_named_attributes(result):
    _, m = result
    assert m["edited_reached"] >= 0.85, m


def test_unnamed_attributes_move_at_most_half_a_std(result):
    _, m = result
    assert m["edited_unnamed"] <= 0.5, m


def test_every_held_out_sentence_is_reached_more_often_than_chance(result):
    _, m = result
    for r in m["per_sentence"]:
        assert r["edited"]["reached"] >= r["unedited"]["reached"] + 0.2, r["sentence"]


def test_shipped_model_trains_within_the_cpu_budget(result):
    edit_set, _ = result
    assert edit_set.metrics["train_seconds"] <= 600
    assert edit_set.metrics["train_threads"] == 1  # measured with one torch thread
    assert edit_set.settings["nce_lambda"] > 0  # CLIP-NCE is part of the shipped model's loss


# --- three factors (issue #29 item 4) ---------------------------------------------------------------------------------
# The held-out list's twelve three-factor sentences (scripts/heldout_list.py, written before tuning), on these seeds:
# the model trains on one- and two-factor captions only, and was tuned on other three-factor sentences and seeds.


@pytest.fixture(scope="module")
def three(shapes_world, result):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from heldout_list import THREE_FACTOR

    g, clip = shapes_world
    edit_set, _ = result
    assert not set(THREE_FACTOR) & set(edit_set.targets)
    return summary(evaluate_edits(g, edit_set, clip, THREE_FACTOR, seeds=range(1000, 1048)))


def test_three_factor_sentences_reach_85_percent_and_keep_the_rest(three):
    assert three["edited_reached"] >= 0.85, three["edited_reached"]
    assert three["edited_unnamed"] <= 0.5, three["edited_unnamed"]


def test_every_middle_class_is_reached_80_percent_of_the_time_in_three_factor_sentences(three, shapes_world, result):
    from contraclip_core.methods.cfclip.evaluate import reached_by_class

    g, clip = shapes_world
    edit_set, _ = result
    sentences = [r["sentence"] for r in three["per_sentence"]]
    reached = reached_by_class(g, edit_set, clip, sentences, range(1000, 1048))
    assert set(reached) == {"size = medium", "horizontal = centre", "vertical = middle"}  # the list names each
    assert min(reached.values()) >= 0.8, reached
