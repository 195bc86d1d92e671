"""The corrupt-record matrix for ``paths.json``: every field with a wrong type, missing, NaN or huge. Loading
either reads a valid set or refuses with a WeightsError naming the field; declared sizes are checked against the
safetensors header before anything is allocated, so a description claiming billions of entries costs nothing."""
from __future__ import annotations

import json
import math
import resource
import shutil
import struct
import time

import pytest

from contraclip_core.errors import WeightsError
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.service import Service

from .conftest import SHIPPED_SHAPES_PATHS

SOURCE = SHIPPED_SHAPES_PATHS.parent / "triangle-circle"  # w space, latent (32,), 1 path, 16 pairs, whitened (+1,056)
HUGE = 10**30
CORRUPTIONS = {
    "list": [1, 2], "text": "x", "number": 7, "null": None, "object": {"a": 1}, "nan": math.nan,
    "huge": HUGE, "billions": 4_000_000_000, "negative": -HUGE, "long text": "x" * 200_000, "bool": True,
    "missing": ...,
}
OPTIONAL = {"format_version", "name", "layers", "truncation", "method", "settings", "iterations", "metrics", "created",
            "kind"}  # sets saved before the artefact base wrote "kind" load as paths
STILL_VALID = {(f, "text") for f in ("name", "generator", "created")} | {
    (f, "number") for f in ("layers", "truncation", "iterations")} | {
    ("settings", "object"), ("metrics", "object")} | {(f, "missing") for f in OPTIONAL}


def write_set(folder, meta: dict) -> None:
    shutil.copytree(SOURCE, folder)
    (folder / "paths.json").write_text(json.dumps(meta))


def test_every_field_of_paths_json_is_checked_before_anything_is_allocated(tmp_path):
    good = json.loads((SOURCE / "paths.json").read_text())
    assert set(good) >= OPTIONAL | {"dipoles", "generator", "space", "latent_shape", "num_paths", "num_pairs"}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB
    start = time.monotonic()
    loaded, refused = set(), {}
    for key in good:
        for name, value in CORRUPTIONS.items():
            meta = {k: v for k, v in good.items() if k != key} if value is ... else good | {key: value}
            folder = tmp_path / f"{key}-{name.replace(' ', '-')}"
            write_set(folder, meta)
            try:
                path_set = PathSet.load(folder)
            except WeightsError as e:  # anything else (RuntimeError from the allocator, TypeError…) fails the test
                refused[(key, name)] = str(e)
            else:
                loaded.add((key, name))
                assert path_set.lss.support_sets.shape == (1, 32, 32)
    assert loaded == STILL_VALID, sorted(loaded ^ STILL_VALID)
    for (key, name), message in refused.items():
        assert f"'{key}'" in message or "as paths.json declares" in message, (key, name, message)
    assert "declares" in refused[("num_pairs", "billions")] or "'num_pairs' must be" in refused[("num_pairs", "billions")]
    assert time.monotonic() - start < 60
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000  # < 200 MB more, ever


@pytest.mark.parametrize("edit, message", [
    (dict(num_pairs=60_000), r"'support_sets' is \(1, 32, 32\), expected \(1, 120000, 32\) \(as paths.json declares\)"),
    (dict(latent_shape=[60_000]), r"expected \(1, 32, 60000\)"),
    (dict(space="w+", latent_shape=[65_536, 65_536], layers=65_535), "at most 268,435,456 are read"),
    (dict(dipoles=[["a", "b"]] * 4000, num_paths=4000, num_pairs=2000), "declares 512,009,056 numbers"),
    (dict(num_paths=2), "1 dipoles but 'num_paths' is 2"),
    (dict(format_version=2), "newer than this version reads"),
    (dict(dipoles=[["only one"]]), "'dipoles' item 0 must be two sentences"),
])
def test_declared_sizes_are_checked_against_the_weights(tmp_path, edit, message):
    good = json.loads((SOURCE / "paths.json").read_text())
    write_set(tmp_path / "p", good | edit)
    with pytest.raises(WeightsError, match=message):
        PathSet.load(tmp_path / "p")


def test_a_safetensors_header_claiming_huge_tensors_is_refused(tmp_path):
    good = json.loads((SOURCE / "paths.json").read_text())
    write_set(tmp_path / "p", good)
    header = json.dumps({"support_sets": {"dtype": "F32", "shape": [1, 32, 10**12], "data_offsets": [0, 16]},
                         "log_gamma": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]},
                         "alpha": {"dtype": "F32", "shape": [32], "data_offsets": [20, 148]}}).encode()
    (tmp_path / "p" / "paths.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(148))
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        PathSet.load(tmp_path / "p")


def test_the_service_skips_damaged_descriptions_when_listing(tmp_path):
    service = Service(tmp_path, device="cpu", start_worker=False)
    try:
        good = json.loads((SOURCE / "paths.json").read_text())
        write_set(service.method("contraclip").results / "ok", good)
        write_set(service.method("contraclip").results / "bad", good | {"dipoles": "a red shape"})
        write_set(service.method("contraclip").results / "huge", good | {"num_pairs": 10**12})
        local = {c.folder.name for c in service.method("contraclip").paths("shapes-128") if c.origin == "trained here"}
        assert local == {"ok"}
    finally:
        service.close()
