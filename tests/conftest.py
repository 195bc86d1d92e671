from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gradio_client import Client

from .app_server import running_app

FIXTURES = Path(__file__).parent / "fixtures"  # copies of ../shared/fixtures/reference_generators


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A gradio_client Client of the app started on loopback, one app per test module."""
    with running_app(tmp_path_factory.mktemp("app-data")) as url:
        yield Client(url, verbose=False)


@pytest.fixture()
def contraclip_home(tmp_path, monkeypatch) -> Path:
    """A private conversion cache, so tests never see (or write) the user's."""
    home = tmp_path / "contraclip-home"
    monkeypatch.setenv("CONTRACLIP_HOME", str(home))
    return home


def populate_hf_cache(cache_dir: Path, repo_id: str, files: dict[str, Path], commit: str = "a" * 40) -> None:
    """Lay out files as huggingface_hub's cache does: blobs/, refs/main, snapshots/<commit>/<path> → blob."""
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for i, (filename, src) in enumerate(files.items()):
        blob = repo_dir / "blobs" / f"{i:040x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, blob)
        link = repo_dir / "snapshots" / commit / filename
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)


def fixture_config(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.config.json").read_text())


SHIPPED_SHAPES_PATHS = Path(__file__).resolve().parent.parent / "checkpoints" / "shapes" / "paths" / "shapes-corpus"


def hub_path_repo(cache_dir: Path, repo_id: str, sets: dict[str, Path], commit: str = "b" * 40) -> Path:
    """A Hub path-set repo in a local HF cache, laid out as ``publish`` uploads it: each ``sets`` item is
    ``"<generator>/<set>": path-set folder``. Returns the cache dir (HF_HUB_CACHE)."""
    files = {}
    for where, folder in sets.items():
        for name in ("paths.json", "paths.safetensors"):
            files[f"{where}/{name}"] = folder / name
    populate_hf_cache(cache_dir, repo_id, files, commit)
    return cache_dir
