"""The service facade: traversals, jobs and every kind of bad input give clear messages."""
from __future__ import annotations

import time

import pytest

from contraclip_core.service import Service
from contraclip_core.inputs import ServiceError, parse_seeds


@pytest.fixture(scope="module")
def shapes_path(service) -> str:
    paths = service.method("contraclip").paths("shapes-128")
    assert paths, "the shipped Shapes paths are missing (checkpoints/shapes/paths)"
    return paths[0].id


def test_paths_with_the_same_sentences_are_told_apart_by_their_set(service):
    """The corpus set and the single-dipole set both have red/blue: the dropdown must not show two equal entries."""
    labels = [p.label for p in service.method("contraclip").paths("shapes-128") if p.origin == "shipped"]
    assert len(labels) == len(set(labels)), labels
    assert "a red shape ↔ a blue shape" in labels and "a circle ↔ a square · circle-square" in labels
    assert "a red shape ↔ a blue shape (zero-shot)" in labels  # an objective other than the preset's is named …
    assert "a green shape ↔ a magenta shape (PAE)" in labels  # … another objective is, by its label already
    assert "a large shape ↔ a small shape" in labels  # unique sentences keep their plain label


def test_generators_list_marks_hub_ones_unavailable_offline(service, monkeypatch):
    from contraclip_core import hub

    monkeypatch.setattr(hub, "endpoint_reachable", lambda **_: False)
    rows = {r["name"]: r for r in service.generators()}
    assert rows["shapes-128"]["available"]
    assert not rows["stylegan2-ffhq-1024"]["available"]
    assert "Shapes world works offline" in rows["stylegan2-ffhq-1024"]["reason"]


def test_traverse_returns_files_fast(service, shapes_path):
    service.method("contraclip").traverse("shapes-128", shapes_path, "0")  # warm-up: loads the generator
    r = service.method("contraclip").traverse("shapes-128", shapes_path, "0, 1, 2", steps=6)
    assert r["seeds"] == [0, 1, 2] and r["seconds"] < 3.0
    for key, suffix in (("gif", ".gif"), ("mp4", ".mp4"), ("strip", ".png")):
        assert r[key].endswith(suffix)
    assert "shapes-128" in r["gif"] and "seeds-0-1-2" in r["gif"]  # a descriptive file name


@pytest.mark.parametrize("seeds, message", [
    ("abc", "not a whole number"), ("-1", "between 0 and"), ("1.5", "whole number"), ("", "at least one seed"),
    ("0-100", "not valid"), (list(range(9)), "at most 8"), (float("nan"), "whole number"), ("1e400", "whole number"),
])
def test_bad_seeds(seeds, message):
    with pytest.raises(ServiceError, match=message):
        parse_seeds(seeds)


@pytest.mark.parametrize("kwargs, message", [
    (dict(generator="stylegan9"), "unknown generator"),
    (dict(path_id="shipped:nope:0"), "unknown path"),
    (dict(truncation=7), "truncation ψ must be a number between 0 and 1.5"),
    (dict(truncation="inf"), "truncation"),
    (dict(steps=0), "steps must be a whole number between 1 and 32"),
    (dict(steps=1000), "steps"),
    (dict(step_size=-1), "step size"),
])
def test_bad_traversal_input(service, shapes_path, kwargs, message):
    args = dict(generator="shapes-128", path_id=shapes_path, seeds="0") | kwargs
    with pytest.raises(ServiceError, match=message):
        service.method("contraclip").traverse(**args)


@pytest.mark.parametrize("first, second, message", [
    ("", "a blue shape", "first sentence is empty"),
    ("a red shape", "   ", "second sentence is empty"),
    ("a red shape", "A red  shape", "the two sentences are the same"),
    ("x" * 500, "a blue shape", "500 characters long"),
    (12, "a blue shape", "must be text"),
    ("a red\x00shape", "a blue shape", "control characters"),
])
def test_bad_sentences(service, first, second, message):
    with pytest.raises(ServiceError, match=message):
        service.submit("paths", "shapes-128", first, second)


def test_job_for_a_generator_that_cannot_load(service, monkeypatch):
    from contraclip_core import hub

    monkeypatch.setattr(hub, "endpoint_reachable", lambda **_: False)
    with pytest.raises(ServiceError, match="stylegan2-afhqdog-512 cannot be trained here: needs the Hugging Face Hub"):
        service.submit("paths", "stylegan2-afhqdog-512", "a happy dog", "a sad dog")


def test_bad_overrides_and_unknown_job(service):
    with pytest.raises(ServiceError, match="iterations must be a whole number between 1 and 20000"):
        service.submit("paths", "shapes-128", "a red shape", "a blue shape", iterations=10**9)
    with pytest.raises(ServiceError, match="unknown corpus"):
        service.submit("paths", "shapes-128", corpus="nope")
    with pytest.raises(ServiceError, match="no job"):
        service.cancel("../../etc")


def test_train_job_runs_in_background_and_its_path_appears(service):
    before = {p.id for p in service.method("contraclip").paths("shapes-128")}
    job = service.submit("paths", "shapes-128", "a green shape", "a magenta shape", iterations=30)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = next(r for r in service.jobs() if r["id"] == job["id"])
        if row["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert row["status"] == "done", row
    assert row["iteration"] == 30 and row["preview"]
    job_record = service.queue.store.load(job["id"])  # the card says how long it took: the record's start to finish
    assert row["seconds"] == job_record.finished - job_record.started and 0 < row["seconds"] < 120
    new = [p for p in service.method("contraclip").paths("shapes-128") if p.id not in before]
    # a shipped green/magenta set exists too: the picker's origin tag tells them apart
    assert [p.label for p in new] == ["a green shape ↔ a magenta shape"] and new[0].origin == "trained here"
    r = service.method("contraclip").traverse("shapes-128", new[0].id, "3")
    assert r["label"] == new[0].label


def test_traversals_stay_fast_during_training_and_a_running_job_cancels(service):
    job = service.submit("paths", "shapes-128", "a circle", "a triangle", iterations=5000)
    deadline = time.monotonic() + 60
    while next(r for r in service.jobs() if r["id"] == job["id"])["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # Interactive traversals are not starved by the running job: the worker pauses while they run.
    for seed in range(3):
        assert service.method("contraclip").traverse("shapes-128", service.method("contraclip").paths("shapes-128")[0].id, str(seed))["seconds"] < 3.0
    assert next(r for r in service.jobs() if r["id"] == job["id"])["status"] == "running"
    service.cancel(job["id"])
    while (row := next(r for r in service.jobs() if r["id"] == job["id"]))["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert row["status"] == "cancelled" and row["iteration"] < 5000


def test_traverse_streams_the_anchors_first_then_the_rest(service, shapes_path, monkeypatch):
    """A request above one chunk of pixels streams: the first anchor alone (the first picture costs one image), the
    other anchors, then batches, each a strip PNG; then the final files."""
    from contraclip_core import service as service_module
    from PIL import Image

    monkeypatch.setitem(service_module.LIMITS, "stream_chunk_pixels", 4 * 128 * 128)  # 4 Shapes frames per batch
    stages = list(service.method("contraclip").traverse_stream("shapes-128", shapes_path, "0, 1", steps=3))
    rendering, final = stages[:-1], stages[-1]
    assert [r["done"] for r in rendering] == [1, 2, 6, 10] and all(r["total"] == 14 for r in rendering)
    tile = 128  # thumb of a 128-px generator: the strip is 7 columns × 2 rows
    for stage, rendered_rows in ((0, {0}), (1, {0, 1})):  # first seed 0's anchor alone, then both anchors
        strip_png = Image.open(rendering[stage]["strip"]).convert("RGB")
        for row in (0, 1):
            grey = [strip_png.getpixel((j * (tile + 2) + tile // 2, row * (tile + 2) + tile // 2)) for j in range(7)]
            assert all(p == (128, 128, 128) for k, p in enumerate(grey) if k != 3)  # off-anchor columns: not yet
            assert (grey[3] != (128, 128, 128)) == (row in rendered_rows), (stage, row)
    assert final["stage"] == "done" and final["gif"].endswith(".gif") and final["precision"].startswith("fp32")
    plain = service.method("contraclip").traverse("shapes-128", shapes_path, "0, 1", steps=3)  # the same strip, unstreamed
    assert plain["strip"] != final["strip"]
    assert list(Image.open(plain["strip"]).getdata()) == list(Image.open(final["strip"]).getdata())


def test_bad_precision_setting_is_a_sentence(tmp_path):
    with pytest.raises(ServiceError, match="precision must be auto or one of"):
        Service(tmp_path, device="cpu", start_worker=False, precision="fp8")


def test_a_half_pae_job_is_queued_and_named_by_its_objective(service):
    job = service.submit("paths", "shapes-128", "a large shape", "a small shape", iterations=2, objective="pae-mixed")
    assert job["dipoles"].endswith("(half PAE)"), job
    stored = service.queue.store.load(job["id"])
    assert stored.request["overrides"]["objective"] == "pae-mixed"
    with pytest.raises(ServiceError, match="objective must be one of"):
        service.submit("paths", "shapes-128", "a large shape", "a small shape", iterations=2, objective="half")


def test_an_objective_the_generator_cannot_train_is_refused_when_submitted(service, monkeypatch):
    # per family needs a rule measured for the generator's domain (only the Shapes world has one), PAE-like ones its
    # attribute-family corpora (a face generator has them): refused at submit, not as a job that fails later
    monkeypatch.setattr(service, "availability", lambda name: (True, ""))  # as if its weights were cached here
    with pytest.raises(ServiceError, match="no per-family rule has been measured for faces generators"):
        service.submit("paths", "stylegan2-ffhq-1024", "a smiling face", "a sad face", iterations=2,
                       objective="by-family")
    job = service.submit("paths", "stylegan2-ffhq-1024", "a smiling face", "a sad face", iterations=2,
                         objective="zero-shot")
    assert service.queue.store.load(job["id"]).request["overrides"]["objective"] == "zero-shot"
    try:
        service.cancel(job["id"])  # its weights are not here: the job was only to be queued
    except ServiceError:
        pass  # the worker already took it and it failed (no weights offline): as good
    job = service.submit("paths", "shapes-128", "a large shape", "a small shape", iterations=2, objective="by-family")
    assert job["dipoles"] == "a large shape ↔ a small shape", job  # the Shapes preset's own: not named
