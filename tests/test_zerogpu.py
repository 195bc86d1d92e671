"""ZeroGPU: a job advances in chunks, each a visitor's request wrapped in spaces.GPU (a stand-in here that records
the calls), resuming from the checkpoint; chunk after chunk trains the very path one uninterrupted run trains, and a
used-up quota is a sentence on the job's card while the job waits."""
from __future__ import annotations

import time

import pytest
import torch

from contraclip_core import zerogpu
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.service import Service
from contraclip_core.inputs import LIMITS
from contraclip_core.visitors import LOCAL

LIMITS_CHUNK = LIMITS["gpu_chunk_s"]

QUOTA = "You have exceeded your GPU quota (60s requested vs. 12s left). Create a free account to get more usage quota."


class StandInSpaces:
    """What ``spaces.GPU(duration=…)`` does, as far as the app can tell: wrap a function; here each call is recorded,
    and with ``refuse`` set it fails the way ZeroGPU does when the visitor's quota is used up."""

    def __init__(self):
        self.durations: list[int] = []
        self.calls = 0
        self.refuse = False

    def GPU(self, duration: int):  # noqa: N802 - the name of the real decorator
        self.durations.append(duration)

        def wrap(fn):
            def wrapper(*args, **kwargs):
                self.calls += 1
                if self.refuse:
                    raise RuntimeError(QUOTA)
                return fn(*args, **kwargs)
            return wrapper
        return wrap


def train(service: Service, chunks: bool, spaces: StandInSpaces | None = None) -> tuple[PathSet, int]:
    job = service.submit("paths", "shapes-128", "a triangle", "a circle", iterations=40)
    if chunks:
        # 0.1 s chunks: at least one iteration each, and several chunks even where 40 iterations take under 0.8 s
        # (with 0.4 s chunks a fast CPU finished in 2, and the count >= 3 below failed)
        run = zerogpu.chunk_runner(service, seconds=0.1, gpu=spaces.GPU, device="cpu")
        rows = []
        while (row := run(job["id"], LOCAL))["status"] == "queued":
            rows.append(row)
            assert len(rows) < 400
        assert row["status"] == "done", row
        count = len(rows) + 1
    else:
        deadline = time.monotonic() + 300
        while service.job_row(service.queue.store.load(job["id"]))["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        count = 1
    return PathSet.load(service.data_dir / "paths" / job["id"]), count


def test_chunks_give_the_path_one_run_gives(tmp_path):
    whole = Service(tmp_path / "whole", device="cpu")
    try:
        reference, _ = train(whole, chunks=False)
    finally:
        whole.close()
    spaces = StandInSpaces()
    chunked = Service(tmp_path / "chunked", device="cpu", gpu_chunks=True)
    try:
        assert chunked.queue._thread is None  # no background worker on ZeroGPU: it would train on the CPU
        paths, count = train(chunked, chunks=True, spaces=spaces)
    finally:
        chunked.close()
    assert count >= 3 and spaces.calls == count and spaces.durations == [10]  # duration = chunk + 10 s margin
    assert paths.iterations == reference.iterations == 40
    for key, value in reference.lss.state_dict().items():
        assert torch.equal(paths.lss.state_dict()[key], value), key


def test_a_used_up_quota_is_a_sentence_on_the_card_and_the_job_waits(tmp_path):
    spaces = StandInSpaces()
    service = Service(tmp_path / "data", device="cpu", gpu_chunks=True)
    try:
        job = service.submit("paths", "shapes-128", "a triangle", "a circle", iterations=5)
        run = zerogpu.chunk_runner(service, seconds=0.4, gpu=spaces.GPU, device="cpu")
        spaces.refuse = True
        row = run(job["id"], LOCAL)
        assert row["status"] == "queued" and row["iteration"] == 0
        assert row["note"].startswith("waiting for GPU time: You have exceeded your GPU quota (60s requested vs. "
                                      "12s left)") and "<" not in row["note"]
        spaces.refuse = False
        while (row := run(job["id"], LOCAL))["status"] == "queued":
            pass
        assert row["status"] == "done" and row["note"] == ""
    finally:
        service.close()


def test_other_failures_are_not_taken_for_a_quota():
    assert zerogpu.is_quota_error(RuntimeError(QUOTA))
    assert zerogpu.is_quota_error(RuntimeError("ZeroGPU illegal duration: 300s requested, 120s max"))
    assert not zerogpu.is_quota_error(RuntimeError("CUDA out of memory"))


def test_zerogpu_is_detected_only_on_a_zerogpu_space(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not zerogpu.available()
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert zerogpu.available() == (pytest.importorskip("importlib.util").find_spec("spaces") is not None)


STAND_IN = '''
import json, os


def GPU(fn=None, duration=60):
    """The app's view of spaces.GPU: bare or with a duration; each call is written to $STAND_IN_SPACES_LOG."""
    def wrap(f):
        def wrapper(*args, **kwargs):
            with open(os.environ["STAND_IN_SPACES_LOG"], "a") as log:
                log.write(json.dumps({"fn": f.__name__, "duration": duration}) + "\\n")
            return f(*args, **kwargs)
        return wrapper
    return wrap(fn) if callable(fn) else wrap
'''


def test_on_zerogpu_the_page_trains_a_job_in_gpu_chunks_of_its_owner(tmp_path):
    import json

    from gradio_client import Client

    from .app_server import ROOT, running_app

    (tmp_path / "stand_in" / "spaces").mkdir(parents=True)
    (tmp_path / "stand_in" / "spaces" / "__init__.py").write_text(STAND_IN)
    log, data = tmp_path / "gpu-calls.jsonl", tmp_path / "data"
    data.mkdir()
    env = {"SPACES_ZERO_GPU": "true", "STAND_IN_SPACES_LOG": str(log),
           "PYTHONPATH": f"{tmp_path / 'stand_in'}:{ROOT}"}
    with running_app(data, env=env) as url:
        client = Client(url, verbose=False)
        status, _ = client.predict("shapes-128", "a red shape", "a blue shape", "", "quick", "5", "", "", "plain",
                                   api_name="/train")
        job_id = status.split("`")[1]
        time.sleep(3)  # no background worker on ZeroGPU: the job waits for its owner's GPU request
        assert json.loads((data / "jobs" / job_id / "job.json").read_text())["status"] == "queued"
        said = client.predict(job_id, api_name="/continue_on_gpu")
        assert said.startswith(f"Job `{job_id}`: done, iteration 5 of 5"), said
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"fn": "run", "duration": LIMITS_CHUNK + 10} in calls  # the chunk, asked for with its duration
