"""What the service gives the app beyond traversals and jobs: frame-by-frame images, loss curves, live previews,
deleting finished jobs, the one-click examples."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from contraclip_core.inputs import ServiceError

from .helpers import wait_for_job


def test_frames_are_the_strips_columns_at_native_resolution(service):
    path_id = service.method("contraclip").paths("shapes-128")[0].id
    r = service.method("contraclip").traverse("shapes-128", path_id, "0, 1", steps=3)
    assert r["steps"] == [-3, -2, -1, 0, 1, 2, 3] and len(r["frames"]) == 7
    strip = np.asarray(Image.open(r["strip"]).convert("RGB"))  # rows = seeds, columns = steps, 128 px + 2 px gaps
    for j, frame_path in enumerate(r["frames"]):
        frame = np.asarray(Image.open(frame_path).convert("RGB"))
        assert frame.shape == (128, 2 * 128 + 2, 3)  # seeds side by side
        for i in range(2):  # seed i at step j is the strip's tile (i, j); the anchor column's frame is drawn on
            tile = strip[i * 130:i * 130 + 128, j * 130:j * 130 + 128]
            inner = (slice(2, -2), slice(2, -2)) if r["steps"][j] == 0 else (slice(None), slice(None))
            assert np.array_equal(frame[:, i * 130:i * 130 + 128][inner], tile[inner])
    assert r["frames"][0].endswith("_stepm03.png") and r["frames"][-1].endswith("_stepp03.png")


def test_examples_point_at_paths_that_exist(service):
    examples = service.method("contraclip").examples()
    assert len(examples) >= 4
    for example, label in examples:
        r = service.method("contraclip").traverse(*example.row[:2], example.seeds, steps=1)
        assert r["label"] == label


def test_a_job_shows_its_preview_before_its_first_iteration_and_its_loss_curve(service, monkeypatch):
    from contraclip_core.methods.contraclip.train import Trainer

    release, step = threading.Event(), Trainer.step
    monkeypatch.setattr(Trainer, "step", lambda self: release.wait(60) and step(self))  # hold the first iteration
    job = service.submit("paths", "shapes-128", "a yellow shape", "a green shape", iterations=12)
    try:
        deadline = time.monotonic() + 60
        while not (row := next(r for r in service.jobs() if r["id"] == job["id"]))["preview"]:
            assert time.monotonic() < deadline, row
            time.sleep(0.1)
        assert row["iteration"] == 0 and Image.open(row["preview"]).size == (7 * 96 + 6 * 2, 96)
    finally:
        release.set()
    row = wait_for_job(service, job["id"])
    assert row["status"] == "done"
    curve = service.loss_curve(job["id"])
    assert [i for i, _ in curve] == list(range(1, 13))  # 12 iterations: every one kept
    assert all(np.isfinite(v) for _, v in curve)
    assert service.loss_curve("0123abcd") == [] and service.loss_curve("../../etc") == []


def test_deleting_a_finished_job_removes_its_path_set(service):
    job = service.submit("paths", "shapes-128", "a pink shape", "an orange shape", iterations=5)
    with pytest.raises(ServiceError, match="cancel it first"):  # still queued or running
        service.delete_job(job["id"])
    assert wait_for_job(service, job["id"])["status"] == "done"
    assert any(p.label == "a pink shape ↔ an orange shape" for p in service.method("contraclip").paths("shapes-128"))
    deleted = service.delete_job(job["id"])
    assert deleted["id"] == job["id"]
    assert not any(p.label == "a pink shape ↔ an orange shape" for p in service.method("contraclip").paths("shapes-128"))
    assert all(r["id"] != job["id"] for r in service.jobs())
    with pytest.raises(ServiceError, match="no job"):
        service.delete_job(job["id"])
    with pytest.raises(ServiceError, match="no job"):
        service.delete_job("../paths")
    assert service.method("contraclip").paths("shapes-128")  # the shipped paths are untouched


def test_the_prerendered_example_is_the_first_example_rendered(service):
    from contraclip_core.examples import EXAMPLES

    shown = service.method("contraclip").prerendered_example()
    assert shown is not None, "run scripts/render_example.py"
    r = service.method("contraclip").traverse(*EXAMPLES[0].row)
    fresh, shipped = Image.open(r["strip"]), Image.open(shown["strip"])
    assert fresh.size == shipped.size
    # the same traversal, up to PNG/resampling noise: a stale file (other generator, paths or seeds) fails here
    assert np.abs(np.asarray(fresh, dtype=float) - np.asarray(shipped, dtype=float)).mean() < 2.0
    assert shown["label"] == r["label"] and shown["seeds"] == EXAMPLES[0].seeds
