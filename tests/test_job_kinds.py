"""Every job kind's record reads back after a restart: a queued mapper or edit job is resumed, never 'unreadable'."""
from __future__ import annotations

import json

import pytest

from contraclip_core.errors import RecordError
from contraclip_core.jobs import Job
from contraclip_core.methods.registry import KINDS, REQUEST_CHECKS
from contraclip_core.service import Service


def test_each_kind_of_queued_job_reads_back_after_a_restart(tmp_path):
    service = Service(tmp_path, device="cpu", start_worker=False)
    try:
        ids = {
            "paths": service.submit("paths", "shapes-128", "a red shape", "a blue shape", iterations=5)["id"],
            "mapper": service.submit("mapper", "shapes-128", "csla", iterations=5)["id"],
            "edit": service.submit("edit", "shapes-128", "a green square", iterations=5)["id"],
        }
    finally:
        service.close()
    again = Service(tmp_path, device="cpu", start_worker=False)
    try:
        rows = {row["id"]: row for row in again.jobs()}
        assert all(rows[i]["status"] == "queued" for i in ids.values()), rows
        assert {kind: again.queue.store.load(i).kind for kind, i in ids.items()} == {k: k for k in ids}
        assert set(again.by_kind) == set(KINDS) == set(again.queue.store.checks)  # every readable kind runs
    finally:
        again.close()


@pytest.mark.parametrize("kind, request_", [
    ("mapper", {"generator": "shapes-128", "objective": "nope", "iterations": 5}),
    ("edit", {"generator": "shapes-128", "targets": [], "iterations": 5}),
    ("edit", {"generator": "shapes-128", "targets": [3], "iterations": 5}),
    ("warp", {"generator": "shapes-128"}),
])
def test_a_bad_request_of_any_kind_is_named(kind, request_):
    record = json.loads(json.dumps({"id": "x1", "kind": kind, "request": request_, "status": "queued",
                                    "created": 1.0}))
    with pytest.raises(RecordError, match="job.json"):
        Job.from_json(record, "jobs/x1/job.json", REQUEST_CHECKS)
