"""What a path changes besides its target (the Explore plot), the Shapes-CLIP vocabulary warning, and the objective
choice the Train tab passes to the service."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from contraclip_core.inputs import ServiceError
from contraclip_core.vocabulary import vocabulary_warning

# conftest's `service`, without a worker: the jobs queued here are only inspected and cancelled, never trained.
pytestmark = pytest.mark.service_options(start_worker=False)


def _path(service, first: str) -> str:
    return next(p.id for p in service.method("contraclip").paths("shapes-128")
                if p.label.startswith(first) and p.origin == "shipped" and p.folder.name == "shapes-corpus")


def test_profile_of_the_red_blue_path_shows_its_target_and_what_else_moves(service):
    from contraclip_core.methods.contraclip.artefact import PathSet
    from contraclip_core.methods.contraclip.traversal import traverse

    choice = service.method("contraclip").path("shapes-128", _path(service, "a red shape"))
    path_set = PathSet.load(choice.folder)
    t = traverse(service.generator("shapes-128"), path_set, choice.index, [0, 1, 2, 3], steps=6, step_size=0.25)
    profile = service.method("contraclip").profile("shapes-128", path_set, t)
    assert profile.steps == list(range(-6, 7))
    red, blue = profile.similarity["a red shape"], profile.similarity["a blue shape"]
    # Positive steps go toward the first sentence: more like "a red shape", less like "a blue shape".
    assert red[-1] - red[0] > 0.05 and blue[0] - blue[-1] > 0.05
    # Every ground-truth attribute is there, 0 at the anchor; the hue turns one way through the anchor (signed per
    # seed, + toward the first sentence: a rising line, not the V of an unsigned distance), and further than the
    # horizontal position moves.
    assert set(profile.attributes) >= {"hue", "size", "x", "y", "rotation", "value", "shape_circle"}
    assert all(abs(v[6]) < 1e-6 for v in profile.attributes.values())
    hue = profile.attributes["hue"]
    # (the corpus set shipped 2026-12-05 turns it −0.35 … +0.45 rad over these 6 steps each way)
    assert hue[0] < -0.3 and hue[-1] > 0.3 and all(a <= b + 1e-6 for a, b in zip(hue, hue[1:]))
    assert min(-hue[0], hue[-1]) > max(abs(profile.attributes["x"][0]), abs(profile.attributes["x"][-1]))


def test_traverse_returns_the_profile_plot(service):
    r = service.method("contraclip").traverse("shapes-128", _path(service, "a circle"), "0, 1", steps=4)
    image = np.asarray(Image.open(r["profile"]).convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] >= 700  # two panels (CLIP, attributes) and a legend
    assert (image < 200).any(axis=-1).mean() > 0.01  # lines and labels were drawn


def test_unknown_shapes_words_are_named_before_training_and_training_is_still_allowed(service):
    text = vocabulary_warning("shapes-128", "a turquoise star", "a blue shape")
    assert "'turquoise', 'star'" in text and "magenta" in text and "still train" in text
    assert vocabulary_warning("shapes-128", "a red circle on the left", "a large grey square") == ""
    assert vocabulary_warning("shapes-128", "an orange tilted square", "a pink dim pale shape") == ""  # issue 29
    assert vocabulary_warning("stylegan2-ffhq-1024", "a purple star", "a face") == ""  # a full CLIP knows words
    job = service.submit("paths", "shapes-128", "a turquoise shape", "a blue shape", iterations=5)
    assert "'turquoise'" in job["warning"] and job["status"] == "queued"
    service.cancel(job["id"])


def test_objective_choice_reaches_the_job_and_a_bad_one_is_refused(service):
    job = service.submit("paths", "shapes-128", "a red shape", "a green shape", iterations=5, objective="pae-subspace")
    request = service.queue.store.load(job["id"]).request
    assert request["overrides"]["objective"] == "pae-subspace" and job["warning"] == ""
    row = next(r for r in service.jobs() if r["id"] == job["id"])
    assert row["dipoles"] == "a red shape ↔ a green shape (PAE)"  # the job card names the objective, as the picker
    service.cancel(job["id"])
    with pytest.raises(ServiceError, match="objective must be one of"):
        service.submit("paths", "shapes-128", "a red shape", "a green shape", objective="magic")


def test_paths_and_jobs_name_their_method_the_same_way():
    """The picker and the job cards add the same words after the sentences: nothing for plain ContraCLIP."""
    from contraclip_core.methods.contraclip.objectives import label_suffix

    assert label_suffix("plain") == "" and label_suffix("pae-subspace") == " (PAE)"
    assert label_suffix("plain", linear=True) == " (linear)"
    assert label_suffix("pae-subspace", linear=True) == " (linear, PAE)"
    assert label_suffix("unknown") == ""
    # Where the generator's preset trains with another objective (the Shapes world: per family), that one goes
    # unnamed too; any third one is named.
    from contraclip_core.methods.contraclip.presets import quick_objective

    assert quick_objective("shapes-128") == "by-family" and quick_objective("stylegan2-ffhq-1024") == "plain"
    assert label_suffix("by-family", usual="by-family") == "" and label_suffix("plain", usual="by-family") == ""
    assert label_suffix("by-family") == " (per family)" and label_suffix("zero-shot", usual="by-family") == " (zero-shot)"
    assert label_suffix("pae-mixed", usual="by-family") == " (half PAE)"


def test_a_job_label_names_the_objective_it_trains_with_unless_plain_or_the_presets(service):
    for objective, preset, suffix in ((None, "quick", ""), ("plain", "quick", ""), ("by-family", "paper", ""),
                                      ("zero-shot", "quick", " (zero-shot)"),
                                      ("pae-mixed", "quick", " (half PAE)"), ("pae-mixed", "paper", " (half PAE)")):
        job = service.submit("paths", "shapes-128", "a red shape", "a green shape", preset=preset, iterations=1,
                             objective=objective)
        assert job["dipoles"] == "a red shape ↔ a green shape" + suffix, job
