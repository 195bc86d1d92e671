"""The corrupt-record matrix: every field of a job record with a wrong type, missing, NaN or huge, and whole files
that are not job records at all. The service starts, lists each damaged record as unreadable with a reason naming
the field, leaves the file as it was, and every other job still works."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from contraclip_core.inputs import ServiceError
from contraclip_core.jobs import Job
from contraclip_core.methods.registry import REQUEST_CHECKS
from contraclip_core.service import Service

GOOD = {
    "id": "", "status": "done", "iteration": 5, "total": 5, "loss": 0.5, "eta_s": 0.0, "created": 1.7e9,
    "started": 1.7e9, "finished": 1.7e9 + 9, "error": "", "result": "", "cancel_requested": False, "resumed_from": 0,
    "request": {"generator": "shapes-128", "dipoles": [["a red shape", "a blue shape"]], "corpus": "",
                "preset": "quick", "seed": 0, "overrides": {"iterations": 5, "lr": 0.01, "loss": "cosine"}},
}
OPTIONAL = {"iteration", "loss", "eta_s", "started", "finished", "error", "result", "cancel_requested",
            "resumed_from", "request.corpus", "request.seed", "request.overrides", "request.overrides.iterations",
            "request.overrides.lr", "request.overrides.loss"}
# ("total" may be left out only while "iteration" is 0: here it is 5)
NULLABLE = {"loss", "eta_s", "started", "finished"}
HUGE = 10**30
CORRUPTIONS = {
    "list": [1, 2], "text": "x", "number": 7, "null": None, "object": {"a": 1}, "nan": math.nan,
    "huge": HUGE, "negative": -HUGE, "long text": "x" * 200_000, "bool": True, "missing": ...,
}
STILL_VALID = {(f, "text") for f in ("error", "result", "request.corpus", "request.generator")} | {
    (f, "number") for f in ("loss", "eta_s", "created", "started", "finished", "total", "request.seed",
                             "request.overrides.iterations", "request.overrides.lr")} | {
    ("loss", "nan"), ("loss", "huge"), ("loss", "negative"), ("cancel_requested", "bool")}
FIELDS = [k for k in GOOD if k != "request"] + [f"request.{k}" for k in GOOD["request"]] + [
    f"request.overrides.{k}" for k in GOOD["request"]["overrides"]] + ["request"]


def corrupt(record: dict, field: str, value) -> dict:
    record = copy.deepcopy(record)
    *parents, key = field.split(".")
    target = record
    for p in parents:
        target = target[p]
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return record


def job_id(n: int) -> str:
    return f"{n:012x}"


WHOLE_FILES = {  # raw bytes that are not a job record at all
    "a list": b"[1, 2, 3]", "null": b"null", "a string": b'"job"', "a number": b"42", "empty": b"",
    "binary": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "zeros": bytes(64), "truncated": json.dumps(GOOD).encode()[:40], "deep nesting": b"[" * 100_000,
    "utf-16": json.dumps(GOOD).encode("utf-16"), "too large": b" " * (5 * 1024 * 1024) + b"{}",
}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """A data folder with one good job and one damaged record per (field, corruption) and per whole file."""
    data = tmp_path_factory.mktemp("records")
    cases: dict[str, tuple[str, object]] = {}  # job id → (field, corruption name)
    n = 1

    def write(jid: str, raw: bytes) -> None:
        (data / "jobs" / jid).mkdir(parents=True)
        (data / "jobs" / jid / "job.json").write_bytes(raw)

    write(job_id(0), json.dumps(GOOD | {"id": job_id(0)}).encode())
    for field in FIELDS:
        for name, value in CORRUPTIONS.items():
            jid = job_id(n)
            write(jid, json.dumps(corrupt(GOOD | {"id": jid}, field, value)).encode())
            cases[jid] = (field, name)
            n += 1
    for name, raw in WHOLE_FILES.items():
        jid = job_id(n)
        write(jid, raw)
        cases[jid] = ("file", name)
        n += 1
    before = {p: p.read_bytes() for p in (data / "jobs").glob("*/job.json")}
    service = Service(data, device="cpu", start_worker=True)  # the worker scans the records too
    yield service, cases, before
    service.close()


def test_every_damaged_record_is_listed_unreadable_or_read_valid(matrix):
    service, cases, before = matrix
    rows = {r["id"]: r for r in service.jobs()}
    assert rows[job_id(0)]["status"] == "done" and rows[job_id(0)]["dipoles"] == "a red shape ↔ a blue shape"
    readable = []
    for jid, (field, name) in cases.items():
        row = rows[jid]  # every record is listed, readable or not
        key = field.rsplit(".", 1)[-1]
        if row["status"] == "unreadable":
            assert row["error"].startswith(f"jobs/{jid}/job.json"), row
            if field != "file":
                assert f"'{key}'" in row["error"], (field, name, row["error"])
        else:
            readable.append((field, name))
            for k in ("iteration", "total"):
                assert isinstance(row[k], int) and 0 <= row[k] <= 10**9
            assert row["loss"] is None or math.isfinite(row["loss"])
    # the only "corruptions" that still read are valid values: an optional field left out, null where null means
    # "none yet", a number or text where one belongs, and any loss at all (training can produce NaN; shown empty)
    expected = {(f, "missing") for f in OPTIONAL} | {(f, "null") for f in NULLABLE} | STILL_VALID
    assert set(readable) == expected, sorted(set(readable) ^ expected)
    for path, raw in before.items():
        assert path.read_bytes() == raw  # nothing rewritten, moved or deleted


def test_unreadable_jobs_are_exposed_with_their_reasons(matrix):
    service, cases, _ = matrix
    listed = {u["id"]: u for u in service.unreadable_jobs()}
    assert listed[job_id(1 + FIELDS.index("created") * len(CORRUPTIONS) + 1)]["reason"].endswith(
        "'created' must be a number in [0, 1e+11], got str 'x'")
    by_case = {cases[i]: u["reason"] for i, u in listed.items()}
    assert by_case[("file", "a list")].endswith("must hold a job record (a JSON object), got list")
    assert by_case[("file", "binary")].endswith("is not text (binary or not UTF-8 at byte 0)")
    assert "more than a record may be" in by_case[("file", "too large")]
    assert "'dipoles' item 0 must be two sentences" in by_case[("request.dipoles", "list")]
    assert "'iteration' must be a whole number" in by_case[("iteration", "text")]
    assert all(u["file"] == f"jobs/{i}/job.json" for i, u in listed.items())


def test_a_damaged_record_cannot_be_cancelled_but_says_why(matrix):
    service, cases, _ = matrix
    jid = next(i for i, c in cases.items() if c == ("status", "list"))
    with pytest.raises(ServiceError, match=r"cannot be cancelled: jobs/.*'status' must be one of"):
        service.cancel(jid)


def test_new_jobs_still_train_beside_damaged_records(matrix):
    service, _, _ = matrix
    job = service.submit("paths", "shapes-128", "a small shape", "a large shape", iterations=2)
    assert job["status"] == "queued"
    assert service.cancel(job["id"])["status"] in ("cancelled", "running")


def test_a_record_whose_id_is_not_its_folder_is_unreadable(tmp_path):
    (tmp_path / "jobs" / "aaaaaaaaaaaa").mkdir(parents=True)
    (tmp_path / "jobs" / "aaaaaaaaaaaa" / "job.json").write_text(json.dumps(GOOD | {"id": "bbbbbbbbbbbb"}))
    service = Service(tmp_path, device="cpu", start_worker=False)
    try:
        assert "not the folder's name" in service.unreadable_jobs()[0]["reason"]
    finally:
        service.close()


def test_job_round_trips_through_its_schema():
    job = Job(id="abc", request=GOOD["request"], status="running", iteration=3, total=9, loss=0.25)
    from dataclasses import asdict

    assert Job.from_json(json.loads(json.dumps(asdict(job))), "x", REQUEST_CHECKS) == job


def test_the_app_starts_with_the_damaged_records_of_the_issue_and_lists_them(tmp_path):
    """`python app.py` used to exit at start-up on each of these (AttributeError, TypeError, ValueError)."""
    from gradio_client import Client

    from .app_server import running_app

    damaged = {"a list": b"[1, 2]", "null": b"null", "binary": b"\x89PNG\r\n\x1a\n\x00\xff",
               "created as text": json.dumps(GOOD | {"created": "yesterday"}).encode(),
               "request as text": json.dumps(GOOD | {"request": "train"}).encode(),
               "one-sentence dipole": json.dumps(corrupt(GOOD, "request.dipoles", [["a red shape"]])).encode(),
               "iteration as text": json.dumps(GOOD | {"iteration": "5"}).encode()}
    ids = {}
    for n, (name, raw) in enumerate(damaged.items(), start=1):
        jid = ids[name] = job_id(n)
        (tmp_path / "jobs" / jid).mkdir(parents=True)
        (tmp_path / "jobs" / jid / "job.json").write_bytes(raw.replace(b'"id": ""', f'"id": "{jid}"'.encode()))
    (tmp_path / "jobs" / job_id(0)).mkdir()
    (tmp_path / "jobs" / job_id(0) / "job.json").write_text(json.dumps(GOOD | {"id": job_id(0)}))
    with running_app(tmp_path) as url:
        table, *_ = Client(url, verbose=False).predict("shapes-128", None, "", api_name="/poll")
    rows = {r[0]: r for r in table["data"]}
    status, error = table["headers"].index("status"), table["headers"].index("error")
    assert rows[job_id(0)][status] == "done"
    for name, jid in ids.items():
        assert rows[jid][status] == "unreadable" and rows[jid][error].startswith(f"jobs/{jid}/job.json"), name
    assert "'created' must be a number" in rows[ids["created as text"]][error]
    assert "'dipoles' item 0 must be two sentences [first, second], got 1 items" in rows[ids["one-sentence dipole"]][error]


def test_a_damaged_checkpoint_fails_its_job_with_a_reason(tmp_path):
    """A checkpoint is a record too: garbage, or a loadable file of the wrong shape, fails the job with a sentence
    (the worker goes on); it is not trusted, and the file is left for the user to inspect."""
    import time

    import torch

    damaged = {job_id(1): b"\x00garbage" * 100, job_id(2): None}
    for jid, raw in damaged.items():
        folder = tmp_path / "jobs" / jid
        folder.mkdir(parents=True)
        record = GOOD | {"id": jid, "status": "queued", "iteration": 0, "result": "", "finished": None}
        (folder / "job.json").write_text(json.dumps(record))
        if raw is None:
            torch.save({"iteration": "3", "paths": {}, "optimizer": {}, "rng": torch.zeros(3), "losses": []},
                       folder / "checkpoint.pt")
        else:
            (folder / "checkpoint.pt").write_bytes(raw)
    service = Service(tmp_path, device="cpu")
    try:
        deadline = time.monotonic() + 300
        while any(r["status"] in ("queued", "running") for r in service.jobs()):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        rows = {r["id"]: r for r in service.jobs()}
    finally:
        service.close()
    assert rows[job_id(1)]["status"] == "failed"
    assert rows[job_id(1)]["error"].startswith("WeightsError: ") and "checkpoint.pt" in rows[job_id(1)]["error"]
    assert rows[job_id(2)]["status"] == "failed"
    assert "checkpoint.pt cannot be resumed from (ValueError: 'iteration' is '3'" in rows[job_id(2)]["error"]
    assert "delete it to start this training over" in rows[job_id(2)]["error"]
    assert (tmp_path / "jobs" / job_id(1) / "checkpoint.pt").read_bytes() == damaged[job_id(1)]
