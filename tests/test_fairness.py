"""Strangers share one process: each visitor's work is theirs, and no visitor can starve or fill the app.

Every test here failed on the code of 2026-12-04 (no owners, first-come queue, a cancel lost between pick-up and
save, training paused up to 30 s per iteration by any interactive request, no storage caps, sentences that read
the same to CLIP accepted, NaN weights loaded)."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from contraclip_core import inputs
from contraclip_core.fairness import Admission, BusyError
from contraclip_core.inputs import LIMITS, ServiceError
from contraclip_core.jobs import Job, JobQueue, JobStore, PriorityGate
from contraclip_core.methods.registry import REQUEST_CHECKS
from contraclip_core.service import Service
from contraclip_core.visitors import LOCAL, Visitor, identify

A, B = Visitor("session:" + "a" * 32), Visitor("session:" + "b" * 32)
REQUEST = {"generator": "shapes-128", "dipoles": [["a red shape", "a blue shape"]], "preset": "quick"}


def wait_until(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_a_cancel_between_pick_up_and_start_is_never_lost(tmp_path):
    """The worker picks a queued job, the visitor cancels it in that very moment: the job never runs."""
    ran = []
    store = JobStore(tmp_path, REQUEST_CHECKS)
    queue = JobQueue(store, lambda job, report, device: ran.append(job.id) or "done")
    job = queue.submit(REQUEST, total=5)

    def cancel_in_the_window(picked: Job) -> None:
        queue.cancel(picked.id)  # a visitor's cancel lands after the pick and before the record says "running"
        time.sleep(0.2)

    queue.on_pick = cancel_in_the_window
    queue.start()
    try:
        wait_until(lambda: store.load(job.id).status != "queued")
        time.sleep(0.5)
        assert store.load(job.id).status == "cancelled" and ran == []
    finally:
        queue.stop()


def test_a_cancel_while_running_survives_the_progress_saves(tmp_path):
    store = JobStore(tmp_path, REQUEST_CHECKS)
    started = threading.Event()

    def run(job, report, device):
        for i in range(1, 400):
            started.set()
            time.sleep(0.01)
            if not report(i, 400, 1.0, 1.0):
                return ""
        return "finished"

    queue = JobQueue(store, run)
    job = queue.submit(REQUEST, total=400)
    queue.start()
    try:
        started.wait(10)
        queue.cancel(job.id)
        final = wait_until(lambda: (j := store.load(job.id)).status not in ("queued", "running") and j)
        assert final.status == "cancelled" and final.iteration < 400
    finally:
        queue.stop()


def test_the_worker_takes_turns_between_owners(tmp_path):
    order = []
    store = JobStore(tmp_path, REQUEST_CHECKS)
    queue = JobQueue(store, lambda job, report, device: order.append(job.owner) or "done", max_active=10)
    for owner in ("A", "A", "A", "B"):  # A queued three jobs before B queued one
        queue.submit(REQUEST, total=1, owner=owner)
        time.sleep(0.01)
    queue.start()
    try:
        wait_until(lambda: len(order) == 4)
    finally:
        queue.stop()
    assert order == ["A", "B", "A", "A"]


def test_training_keeps_its_share_under_a_starving_loop_of_interactive_requests(tmp_path):
    """Interactive requests overlap without a gap (the gate never idles); each 50 ms iteration may wait at most
    50 ms × (1 − share) / share, so 20 iterations finish in a few seconds, not 20 × 30 s."""
    gate, stop = PriorityGate(), threading.Event()

    def visitor_loop():
        while not stop.is_set():
            with gate.interactive():
                time.sleep(0.05)

    store = JobStore(tmp_path, REQUEST_CHECKS)

    def run(job, report, device):
        for i in range(1, 21):
            time.sleep(0.05)
            report(i, 20, 1.0, 0.0)
        return "done"

    queue = JobQueue(store, run, gate=gate, min_share=0.25)
    loops = [threading.Thread(target=visitor_loop, daemon=True) for _ in range(2)]
    for t in loops:
        t.start()
        time.sleep(0.02)  # staggered: one request is always in flight
    job = queue.submit(REQUEST, total=20)
    start = time.monotonic()
    queue.start()
    try:
        wait_until(lambda: store.load(job.id).status == "done", timeout=30)
        took = time.monotonic() - start
    finally:
        stop.set()
        queue.stop()
    assert took < 20 * 0.05 / 0.25 * 1.5, took  # at least the guaranteed share (with 50 % slack for the machine)


def test_admission_one_request_per_visitor_and_a_fixed_number_in_all():
    admission = Admission(slots=2)
    with admission.enter(A.id):
        with pytest.raises(BusyError, match=r"your previous request is still running; try again in \d+ s"):
            with admission.enter(A.id):
                pass
        with admission.enter(B.id):
            with pytest.raises(BusyError, match=r"busy: 2 requests are running; try again in \d+ s") as e:
                with admission.enter("session:" + "c" * 32):
                    pass
            assert e.value.retry_after >= 1
        with admission.enter(A.id, limited=False):  # the machine's own user / the Space's owner
            pass


@pytest.fixture()
def public(tmp_path):
    service = Service(tmp_path / "data", device="cpu", start_worker=False, public=True)
    yield service
    service.close()


def test_a_visitor_sees_cancels_and_deletes_only_their_own_jobs(public):
    mine = public.submit("paths", "shapes-128", "a red shape", "a blue shape", iterations=3, visitor=A)
    assert [r["id"] for r in public.jobs(A)] == [mine["id"]] and public.jobs(B) == []
    for act in (public.cancel, public.delete_job, public.share):
        with pytest.raises(ServiceError, match="no job"):
            act(mine["id"], B)
    assert public.loss_curve(mine["id"], B) == []
    assert public.cancel(mine["id"], A)["status"] == "cancelled"
    admin = Visitor("hf:owner", admin=True)
    assert [r["id"] for r in public.jobs(admin)] == [mine["id"]]  # the Space's owner sees everybody's


def test_quotas_per_visitor(public):
    for first in ("a red shape", "a green shape"):
        public.submit("paths", "shapes-128", first, "a blue shape", iterations=3, visitor=A)
    with pytest.raises(ServiceError, match="you already have 2 jobs waiting or running"):
        public.submit("paths", "shapes-128", "a cyan shape", "a blue shape", iterations=3, visitor=A)
    public.submit("paths", "shapes-128", "a cyan shape", "a blue shape", iterations=3, visitor=B)  # B is not held
    too_many = LIMITS["visitor_max_iterations"] + 1
    with pytest.raises(ServiceError, match="more than a visitor's job may train here"):
        public.submit("mapper", "shapes-128", "csla", too_many, visitor=B)
    owner = Visitor("hf:owner", admin=True)
    public.submit("mapper", "shapes-128", "csla", too_many, visitor=owner)  # the Space's owner is exempt


def test_results_are_private_until_their_owner_shares_them(tmp_path):
    service = Service(tmp_path / "data", device="cpu", public=True)
    try:
        job = service.submit("paths", "shapes-128", "a red shape", "a blue shape", iterations=2, visitor=A)
        wait_until(lambda: service.job_row(service.queue.store.load(job["id"]))["status"] == "done")
        paths = service.method("contraclip")
        trained = [p for p in paths.paths("shapes-128", A) if p.folder.name == job["id"]]
        assert [p.origin for p in trained] == ["trained here"]
        assert not [p for p in paths.paths("shapes-128", B) if p.folder.name == job["id"]]
        with pytest.raises(ServiceError, match="unknown path"):
            paths.traverse("shapes-128", trained[0].id, "0", steps=1, visitor=B)
        assert service.share(job["id"], A)["shared"] is True
        shared = [p for p in paths.paths("shapes-128", B) if p.folder.name == job["id"]]
        assert [(p.origin, p.label) for p in shared] == [("shared", "a red shape ↔ a blue shape")]
        assert paths.traverse("shapes-128", shared[0].id, "0", steps=1, visitor=B)["gif"]
    finally:
        service.close()


def test_storage_caps_remove_the_oldest_unshared_results_first_never_pinned(tmp_path, monkeypatch):
    service = Service(tmp_path / "data", device="cpu", start_worker=False, public=True)
    try:
        ids = []
        for k in range(4):  # four finished jobs of A's, each holding 40 kB
            job = service.queue.submit(REQUEST, total=1, owner=A.id)
            (service.queue.store.folder(job.id) / "blob").write_bytes(bytes(40_000))
            service.queue.store.update(job.id, lambda j, k=k: setattr(j, "status", "done") or
                                       setattr(j, "finished", 1000.0 + k))
            ids.append(job.id)
        service.queue.store.update(ids[0], lambda j: setattr(j, "pinned", True))
        service.queue.store.update(ids[1], lambda j: setattr(j, "shared", True))
        monkeypatch.setitem(inputs.LIMITS, "visitor_storage_mb", 90_000 / 2**20)  # room for two of them
        removed = service.enforce_storage()
        assert removed == [ids[2], ids[3]]  # unshared before shared, oldest first; the pinned one stays
        assert [r["id"] for r in service.jobs(A)] == [ids[1], ids[0]]
        monkeypatch.setitem(inputs.LIMITS, "storage_mb", 50_000 / 2**20)  # everybody's: room for one
        assert service.enforce_storage() == [ids[1]]
    finally:
        service.close()


def test_a_visitor_token_must_look_like_one_the_page_makes():
    assert identify("x" * 32, public=False) is LOCAL  # a private app has one user
    assert identify("x" * 32, public=True) == Visitor("session:" + "x" * 32)
    assert identify("x" * 32, username="alice", public=True) == Visitor("hf:alice")
    for bad in ("", "short", "a b" * 10, "../../etc/passwd" * 2):
        with pytest.raises(ValueError, match="reload the page"):
            identify(bad, public=True)


def test_the_admin_secret_and_the_space_author(monkeypatch):
    monkeypatch.setenv("CONTRACLIP_ADMIN_SECRET", "s3cret-s3cret")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    assert identify("x" * 32, secret="s3cret-s3cret", public=True).admin
    assert not identify("x" * 32, secret="guess", public=True).admin
    assert identify("x" * 32, username="owner", public=True).admin
    assert not identify("x" * 32, username="someone", public=True).admin


def test_sentences_that_read_the_same_to_clip_are_refused(public):
    context = "a red shape " * 7  # 21 tokens: the Shapes CLIP reads 18 words between its start and end tokens
    with pytest.raises(ServiceError, match="read the same to this generator's CLIP"):
        public.submit("paths", "shapes-128", context + "x", context + "y", iterations=3, visitor=A)
    row = public.submit("paths", "shapes-128", "a red shape", "a blue shape " * 7, iterations=3, visitor=A)
    assert "ignores" in row["warning"] and "'shape'" in row["warning"]


def test_weights_with_nan_are_refused_with_the_file_named(tmp_path):
    from safetensors.torch import load_file, save_file

    from contraclip_core.errors import WeightsError
    from contraclip_core.methods.contraclip.artefact import PathSet

    from .conftest import SHIPPED_SHAPES_PATHS

    import shutil

    folder = tmp_path / "set"
    shutil.copytree(SHIPPED_SHAPES_PATHS, folder)
    state = load_file(folder / "paths.safetensors")
    key = next(iter(state))
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")
    save_file(state, folder / "paths.safetensors")
    with pytest.raises(WeightsError, match=rf"paths.safetensors: '{key}' holds NaN or infinite values"):
        PathSet.load(folder)
    assert torch.isfinite(PathSet.load(SHIPPED_SHAPES_PATHS).lss.state_dict()[key]).all()


def test_a_generator_folder_with_nan_weights_is_refused(tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from contraclip_core.errors import WeightsError
    from contraclip_core.generators import from_pretrained
    from contraclip_core.hub import PROJECT_ROOT

    folder = tmp_path / "generator"
    shutil.copytree(PROJECT_ROOT / "checkpoints" / "shapes" / "generator", folder)
    state = load_file(folder / "model.safetensors")
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], float("inf"))
    save_file(state, folder / "model.safetensors")
    with pytest.raises(WeightsError, match=rf"'{key}' holds NaN or infinite values"):
        from_pretrained(str(folder))


def test_a_job_already_running_is_not_started_a_second_time(tmp_path):
    """Two chunk requests for one job (two tabs of its owner): the one that finds it running leaves it alone."""
    ran = []
    store = JobStore(tmp_path, REQUEST_CHECKS)
    queue = JobQueue(store, lambda job, report, device: ran.append(job.id) or "done")
    job = queue.submit(REQUEST, total=5)
    queue.on_pick = lambda picked: store.update(picked.id, lambda j: setattr(j, "status", "running"))  # the other
    queue._run_one(store.load(job.id))
    assert ran == [] and store.load(job.id).status == "running"


def test_storage_caps_never_remove_the_space_authors_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    service = Service(tmp_path / "data", device="cpu", start_worker=False, public=True)
    try:
        ids = {}
        for owner in ("hf:owner", A.id):
            job = service.queue.submit(REQUEST, total=1, owner=owner)
            (service.queue.store.folder(job.id) / "blob").write_bytes(bytes(40_000))
            service.queue.store.update(job.id, lambda j: setattr(j, "status", "done") or setattr(j, "finished", 1.0))
            ids[owner] = job.id
        monkeypatch.setitem(inputs.LIMITS, "storage_mb", 10_000 / 2**20)  # room for neither
        assert service.enforce_storage() == [ids[A.id]]  # the author's stays over the cap
    finally:
        service.close()
