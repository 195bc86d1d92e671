"""Hostile input and hostile files never crash the service: every rejection is a clear ServiceError."""
from __future__ import annotations

import os
import shutil
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contraclip_core.methods.contraclip.model import LinearPaths
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.inputs import LIMITS, ServiceError, parse_seeds

LONG = st.builds(lambda c, n: c * n, st.characters(), st.integers(min_value=9_000, max_value=10_000))  # 10k chars
ANY_TEXT = st.one_of(st.text(max_size=60), LONG,
                     st.text(alphabet=st.characters(codec="utf-8"), max_size=40), st.just(""), st.just("\x00\x1b[2J"))
NUMBERS = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=True, allow_infinity=True),
                    st.just(float("nan")), st.just(float("inf")), st.just(-1), st.just(0))
ANYTHING = st.one_of(ANY_TEXT, NUMBERS, st.none(), st.lists(st.integers(), max_size=12), st.booleans())
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])

# conftest's `service`, without a worker: the many jobs queued here are cancelled unstarted, never trained.
pytestmark = pytest.mark.service_options(start_worker=False)


@FAST
@given(seeds=ANYTHING)
def test_seeds_parse_or_are_refused_clearly(seeds):
    try:
        out = parse_seeds(seeds)
    except ServiceError as e:
        assert str(e)
    else:
        assert 1 <= len(out) <= LIMITS["max_seeds"] and all(0 <= s <= LIMITS["max_seed"] for s in out)


@FAST
@given(path_id=ANY_TEXT, seeds=ANYTHING, truncation=ANYTHING, steps=ANYTHING, step_size=ANYTHING)
def test_traverse_never_crashes(service, path_id, seeds, truncation, steps, step_size):
    real = service.method("contraclip").paths("shapes-128")[0].id
    for pid in (path_id, real):
        try:
            service.method("contraclip").traverse("shapes-128", pid, seeds, truncation, steps, step_size)
        except ServiceError as e:
            assert str(e)


@FAST
@given(generator=st.one_of(ANY_TEXT, st.just("shapes-128")), first=ANYTHING, second=ANYTHING,
       iterations=ANYTHING, lr=ANYTHING, seed=ANYTHING)
def test_submit_training_never_crashes(service, generator, first, second, iterations, lr, seed):
    try:
        job = service.submit("paths", generator, first, second, iterations=iterations, lr=lr, seed=seed)
    except ServiceError as e:
        assert str(e)
    else:
        assert job["status"] == "queued" and 1 <= job["total"] <= LIMITS["max_iterations"]
        service.cancel(job["id"])  # keep the (unstarted) queue from filling up


def test_one_request_cannot_render_too_much(service, monkeypatch):
    monkeypatch.setitem(LIMITS, "max_frame_pixels", 5 * 128 * 128)
    with pytest.raises(ServiceError, match="more than one request may render"):
        service.method("contraclip").traverse("shapes-128", service.method("contraclip").paths("shapes-128")[0].id, "0, 1", steps=2)


def test_old_outputs_are_cleaned(service):
    old = service.outputs_dir / "old.gif"
    old.write_bytes(b"GIF89a")
    past = time.time() - LIMITS["output_ttl_s"] - 10
    os.utime(old, (past, past))
    service.method("contraclip").traverse("shapes-128", service.method("contraclip").paths("shapes-128")[0].id, "0", steps=1)
    assert not old.exists()


class CodeRunningPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_path_files_are_refused_and_the_service_keeps_serving(service, tmp_path):
    good = service.method("contraclip").paths("shapes-128")[0]
    root = service.method("contraclip").results
    junk = root / "junk-json"
    junk.mkdir()
    (junk / "paths.json").write_text("{not json")
    (junk / "paths.safetensors").write_bytes(b"")
    for name in ("truncated", "pickled"):
        shutil.copytree(good.folder, root / name)
    data = (root / "truncated" / "paths.safetensors").read_bytes()
    (root / "truncated" / "paths.safetensors").write_bytes(data[: len(data) // 3])
    # Paths of a generator with 64-d codes, labelled as if they were for this one.
    PathSet(lss=LinearPaths(1, 64), dipoles=[("a", "b")], generator="shapes-128", space="w", layers=0,
            truncation=1.0, latent_shape=(64,)).save(root / "other-generator")
    marker = tmp_path / "pwned"
    torch.save({"support_sets": CodeRunningPayload(marker)}, root / "pickled" / "paths.safetensors")

    choices = {p.folder.name: p for p in service.method("contraclip").paths("shapes-128") if p.origin == "trained here"}
    assert "junk-json" not in choices  # unreadable descriptions are skipped, not fatal
    for name, message in (("truncated", "truncated or corrupted"),
                          ("other-generator", r"trained for 'w' codes of shape \(64,\).*this generator's are \(32,\)"),
                          ("pickled", "truncated or corrupted")):
        with pytest.raises(ServiceError, match=message):
            service.method("contraclip").traverse("shapes-128", choices[name].id, "0", steps=1)
    assert not marker.exists()
    assert service.method("contraclip").traverse("shapes-128", good.id, "0", steps=1)["gif"].endswith(".gif")
