from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"  # copies of ../shared/fixtures/reference_generators


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
