"""A data folder written before the methods moved into their own packages still works: jobs, paths, edit models and
mappers trained then are listed, load, are used, are deleted with their results, and a queued job trains."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from contraclip_core.service import Service

LEGACY = Path(__file__).parent / "fixtures" / "legacy_data"
PATH_JOB, EDIT_JOB, MAPPER_JOB, QUEUED_JOB = "78017505621c", "359e9826fa23", "adff35f93e56", "1e018bfc3348"


@pytest.fixture()
def legacy(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(LEGACY, data, ignore=shutil.ignore_patterns("MADE_BY.py"))
    service = Service(data, device="cpu", start_worker=False)
    yield service
    service.close()


def test_old_jobs_and_artefacts_are_listed_and_used(legacy):
    rows = {r["id"]: r for r in legacy.jobs()}
    assert {i: rows[i]["status"] for i in (PATH_JOB, EDIT_JOB, MAPPER_JOB, QUEUED_JOB)} == {
        PATH_JOB: "done", EDIT_JOB: "done", MAPPER_JOB: "done", QUEUED_JOB: "queued"}
    assert rows[PATH_JOB]["dipoles"] == "a red shape ↔ a blue shape"
    assert rows[EDIT_JOB]["dipoles"] == "edit → a green square"  # no paths-objective suffix on other kinds
    assert rows[MAPPER_JOB]["dipoles"] == "csla mapper"

    paths = legacy.method("contraclip")
    trained = [p for p in paths.paths("shapes-128") if p.origin == "trained here"]
    assert [(p.label, p.folder.name) for p in trained] == [("a red shape ↔ a blue shape", PATH_JOB)]
    result = paths.traverse("shapes-128", trained[0].id, "0", steps=2)
    assert Path(result["gif"]).is_file() and result["steps"] == [-2, -1, 0, 1, 2]

    edits = legacy.method("cfclip")
    local = [m for m in edits.models("shapes-128") if m["origin"] == "trained here"]
    assert [m["id"] for m in local] == [f"local:{EDIT_JOB}"]
    assert Path(edits.edit("shapes-128", local[0]["id"], "0", "a green square", 1.0, 2)["gif"]).is_file()

    mappers = legacy.method("mappers")
    mine = [m for m in mappers.models("shapes-128") if m["origin"] == "trained here"]
    assert [m["id"] for m in mine] == [f"local:{MAPPER_JOB}"]
    anchor = mappers.anchor_from_text("shapes-128", "a red circle", mapper=mine[0]["id"])
    assert Path(anchor["image"]).is_file()


@pytest.mark.parametrize("job_id, results", [(PATH_JOB, "paths"), (EDIT_JOB, "edits"), (MAPPER_JOB, "mappers")])
def test_deleting_an_old_job_removes_what_it_trained_whatever_its_kind(legacy, job_id, results):
    folder = legacy.data_dir / results / job_id
    assert folder.is_dir()
    legacy.delete_job(job_id)
    assert not folder.exists() and not (legacy.data_dir / "jobs" / job_id).exists()
    assert job_id not in {r["id"] for r in legacy.jobs()}


def test_an_old_queued_job_trains_to_the_end(legacy):
    legacy.queue.start()
    deadline = time.monotonic() + 300
    while (row := legacy.job_row(legacy.queue.store.load(QUEUED_JOB)))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, row
        time.sleep(0.5)
    assert row["status"] == "done", row
    assert (legacy.data_dir / "paths" / QUEUED_JOB / "paths.json").is_file()


def test_what_the_app_trained_in_its_default_data_folder_is_not_listed_as_shipped(tmp_path, monkeypatch):
    """The default data folder is checkpoints/local, beside the shipped artefacts (checkpoints/<generator>/paths/):
    a path trained there is "trained here", never also "shipped"."""
    from contraclip_core import artefact
    from contraclip_core.methods.contraclip.artefact import PathSet

    from .conftest import SHIPPED_SHAPES_PATHS

    root = tmp_path / "checkpoints"
    shutil.copytree(SHIPPED_SHAPES_PATHS, root / "shapes" / "paths" / "shapes-corpus")
    shutil.copytree(SHIPPED_SHAPES_PATHS, root / "local" / "paths" / "0123456789ab")
    monkeypatch.setattr(artefact, "SHIPPED_ROOT", root)
    monkeypatch.setattr(artefact, "DEFAULT_DATA", root / "local")
    assert PathSet.shipped() == [root / "shapes" / "paths" / "shapes-corpus"]
