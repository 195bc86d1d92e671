"""Pre-trained path sets: shipped, from the Hub (a populated local HF cache, offline), validated, and published
(``publish`` against a stand-in for ``HfApi`` that records its calls and keeps what was uploaded)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from contraclip_core import registry
from contraclip_core.cli import main as cli_main
from contraclip_core.errors import ContraCLIPError, HubUnavailableError, WeightsError
from contraclip_core.generators import from_pretrained
from contraclip_core.methods.contraclip.artefact import PathSet, hub_sets
from contraclip_core.methods.contraclip.publish import publish
from contraclip_core.service import Service

from .conftest import SHIPPED_SHAPES_PATHS, hub_path_repo, populate_hf_cache

REPO = "someone/contraclip-paths"


@pytest.fixture()
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty HF cache, the Hub unreachable (HF_HUB_OFFLINE), and Hub path sets read from REPO."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv(registry.PATHS_REPO_ENV, REPO)
    return cache


def _edited_copy(tmp_path: Path, folder_name: str, **changes) -> Path:
    """A copy of the shipped Shapes set with its paths.json edited."""
    folder = tmp_path / folder_name
    shutil.copytree(SHIPPED_SHAPES_PATHS, folder)
    meta = json.loads((folder / "paths.json").read_text())
    meta.update(changes)
    (folder / "paths.json").write_text(json.dumps(meta))
    return folder


def _consistent_set(tmp_path: Path, name: str, generator: str, space: str, latent_shape: list[int],
                    layers: int = 0) -> Path:
    """A well-formed path set (weights match its JSON) for the given generator and space."""
    from contraclip_core.methods.contraclip.model import LatentSupportSets, LatentView

    dim = LatentView(space, tuple(latent_shape), layers).dim
    path_set = PathSet(lss=LatentSupportSets(1, 2, dim, torch.ones(1)), dipoles=[("a circle", "a square")],
                       generator=generator, space=space, layers=layers, truncation=1.0,
                       latent_shape=tuple(latent_shape))
    return path_set.save(tmp_path / name)


def _same_weights(a: PathSet, b: PathSet) -> bool:
    sa, sb = a.lss.state_dict(), b.lss.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- the project setting -------------------------------------------------------------------------------------------
def test_hub_folder_is_a_project_setting_an_environment_variable_overrides(monkeypatch):
    monkeypatch.delenv(registry.PATHS_REPO_ENV, raising=False)
    assert registry.hub_paths_folder("shapes-128") == f"hf://{registry.PATHS_REPO}/shapes-128"
    assert registry.hub_paths_folder("shapes") == registry.hub_paths_folder("shapes-128")  # alias, same folder
    monkeypatch.setenv(registry.PATHS_REPO_ENV, "me/my-paths@v2")
    assert registry.hub_paths_folder("stylegan2-ffhq-1024") == "hf://me/my-paths@v2/stylegan2-ffhq-1024"
    monkeypatch.setenv(registry.PATHS_REPO_ENV, "none")
    assert registry.hub_paths_folder("shapes-128") is None


# --- shipped -------------------------------------------------------------------------------------------------------
def test_registry_names_find_the_shipped_set(offline_cache):
    g = from_pretrained("shapes-128")
    by_name = PathSet.from_pretrained("shapes-128/shapes-corpus", g, generator_name="shapes-128")
    default = PathSet.from_pretrained("shapes", g)  # the generator alone: its <corpus>-corpus set
    assert PathSet.resolve("shapes-128/shapes-corpus") == SHIPPED_SHAPES_PATHS
    assert _same_weights(by_name, default) and len(by_name.dipoles) >= 4
    assert SHIPPED_SHAPES_PATHS in PathSet.shipped("shapes-128") and PathSet.shipped("stylegan2-ffhq-1024") == []


def test_the_shipped_set_records_its_evaluation():
    meta = json.loads((SHIPPED_SHAPES_PATHS / "paths.json").read_text())
    evaluation = meta["metrics"]["shapes_eval"]
    assert len(evaluation["per_path"]) == len(meta["dipoles"]) and evaluation["seeds"] >= 32
    for row in evaluation["per_path"]:
        assert set(row) >= {"dipole", "target_rho", "target_change", "off_target_max", "passes"}


# --- from the Hub (offline, populated cache) -----------------------------------------------------------------------
def test_hub_sets_load_offline_from_the_cache_by_url_revision_and_registry_name(offline_cache):
    hub_path_repo(offline_cache, REPO, {"shapes-128/colours": SHIPPED_SHAPES_PATHS}, commit="c" * 40)
    g = from_pretrained("shapes-128")
    shipped = PathSet.load(SHIPPED_SHAPES_PATHS)
    for source in (f"hf://{REPO}/shapes-128/colours", f"hf://{REPO}@{'c' * 40}/shapes-128/colours",
                   f"hf://{REPO}/shapes-128/colours/paths.json", "shapes-128/colours"):
        loaded = PathSet.from_pretrained(source, g, generator_name="shapes-128")
        assert _same_weights(loaded, shipped) and loaded.dipoles == shipped.dipoles, source
    assert [f.name for f in hub_sets("shapes-128")] == ["colours"]
    assert hub_sets("stylegan2-ffhq-1024") == []  # the repo has no folder for it


def test_hub_errors_are_sentences(offline_cache):
    with pytest.raises(HubUnavailableError, match="cannot be reached.*not in the local cache"):
        PathSet.from_pretrained("hf://nobody/nothing/shapes-128/set")
    with pytest.raises(HubUnavailableError, match="cannot be reached"):
        PathSet.from_pretrained("shapes-128/not-shipped-anywhere")
    hub_path_repo(offline_cache, REPO, {"shapes-128/colours": SHIPPED_SHAPES_PATHS})
    with pytest.raises(WeightsError, match="is not a path set"):
        PathSet.from_pretrained(f"hf://{REPO}/shapes-128/other")
    with pytest.raises(ContraCLIPError, match="valid Hub source"):
        PathSet.from_pretrained("hf://just-a-repo")


def test_a_set_that_does_not_fit_the_generator_is_refused_before_use(offline_cache, tmp_path):
    g = from_pretrained("shapes-128")
    sets = {
        "shapes-128/wrong-shape": _consistent_set(tmp_path, "a", "shapes-128", "w", [64]),
        "shapes-128/wrong-space": _consistent_set(tmp_path, "b", "shapes-128", "w+", [4, 32], layers=1),
        "shapes-128/other-generator": _consistent_set(tmp_path, "c", "stylegan2-ffhq-1024", "w", [32]),
        "shapes-128/inconsistent": _edited_copy(tmp_path, "f", latent_shape=[64]),
        "shapes-128/bad-layers": _edited_copy(tmp_path, "d", space="w+", latent_shape=[4, 8], layers=9,
                                              whitening_block=8),  # a block that fits the width: layers is what is wrong
        "shapes-128/bad-space": _edited_copy(tmp_path, "e", space="q"),
    }
    hub_path_repo(offline_cache, REPO, sets)
    expected = {"wrong-shape": r"shape \(64,\).*\(32,\)", "wrong-space": "'w\\+' space, which the generator does not have",
                "other-generator": "trained on 'stylegan2-ffhq-1024', not on 'shapes-128'",
                "bad-layers": "layers must be in", "bad-space": "unknown latent space",
                "inconsistent": r"'support_sets' is \(\d+, 32, 32\), expected \(\d+, 32, 64\)"}
    for name, message in expected.items():
        with pytest.raises(WeightsError, match=message):
            PathSet.from_pretrained(f"hf://{REPO}/shapes-128/{name}", g, generator_name="shapes-128")


# --- publish ---------------------------------------------------------------------------------------------------------
class StandInHub:
    """Records HfApi calls; ``upload_folder`` copies the folder into ``remote`` (the repo as the Hub would hold it)."""

    def __init__(self, remote: Path, existing: list[str] = ()):
        self.remote, self.calls = remote, []
        self.existing = list(existing)

    def list_repo_files(self, repo_id, revision=None):
        self.calls.append(("list_repo_files", repo_id, revision))
        return self.existing

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], {k: v for k, v in kwargs.items() if k != "folder_path"}))
        shutil.copytree(kwargs["folder_path"], self.remote, dirs_exist_ok=True)
        return "https://huggingface.co/stand-in/commit/1"


def test_publish_uploads_sets_with_a_model_card_and_gifs_and_the_app_lists_them(offline_cache, tmp_path, monkeypatch):
    renamed = _edited_copy(tmp_path, "renamed", name="my-sizes")
    hub = StandInHub(tmp_path / "remote", existing=["README.md", "shapes-128/older/paths.json"])
    result = publish([SHIPPED_SHAPES_PATHS, renamed], "me/shapes-paths", private=True, api=hub)
    assert result == "https://huggingface.co/stand-in/commit/1"
    names = [c[0] for c in hub.calls]
    assert names == ["list_repo_files", "create_repo", "upload_folder"]  # validated and staged before any write
    assert hub.calls[1] == ("create_repo", "me/shapes-paths", {"repo_type": "model", "private": True, "exist_ok": True})
    upload = hub.calls[2][2]
    assert upload["repo_id"] == "me/shapes-paths" and upload["repo_type"] == "model"
    assert "shapes-128/shapes-corpus" in upload["commit_message"] and "shapes-128/my-sizes" in upload["commit_message"]

    remote = tmp_path / "remote"
    card = (remote / "README.md").read_text()
    meta = json.loads((SHIPPED_SHAPES_PATHS / "paths.json").read_text())
    assert card.startswith("---\n") and "contraclip" in card.split("---")[1]
    for first, second in meta["dipoles"]:
        assert f"| {first} | {second} |" in card
    assert "`shapes-128`" in card and "cosine loss" in card and f"{meta['iterations']} iterations" in card
    first_eval = meta["metrics"]["shapes_eval"]["per_path"][0]
    assert f"ρ {first_eval['target_rho']:.2f}" in card  # the recorded metrics
    assert "shapes-128/older" in card  # sets already in the repo stay linked
    for k in range(len(meta["dipoles"])):
        gif = remote / "shapes-128" / "shapes-corpus" / f"example_{k}.gif"
        assert f"(shapes-128/shapes-corpus/example_{k}.gif)" in card
        with Image.open(gif) as im:
            assert im.format == "GIF" and im.n_frames > 4
    assert (remote / "shapes-128" / "my-sizes" / "README.md").is_file()

    # the uploaded repo, as a cache would hold it after a download: the app's service lists it, marked "Hub"
    files = {str(p.relative_to(remote)): p for p in remote.rglob("*") if p.is_file()}
    populate_hf_cache(offline_cache, "me/shapes-paths", files)
    monkeypatch.setenv(registry.PATHS_REPO_ENV, "me/shapes-paths")
    service = Service(tmp_path / "data", device="cpu", start_worker=False)
    try:
        choices = service.method("contraclip").paths("shapes-128")
        origins = {c.origin for c in choices}
        assert origins == {"shipped", "Hub"}
        hub_choices = [c for c in choices if c.origin == "Hub"]
        assert {c.folder.name for c in hub_choices} == {"shapes-corpus", "my-sizes"}
        assert all(c.id.startswith("hub:") for c in hub_choices)
        result = service.method("contraclip").traverse("shapes-128", hub_choices[0].id, "0", steps=2)
        assert Path(result["gif"]).is_file()
        assert service.method("contraclip").paths("stylegan2-ffhq-1024") == []
    finally:
        service.close()


def test_publish_needs_a_token_and_a_valid_repo_and_says_so(offline_cache, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-login"))  # no stored `hf auth login` token either
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-login" / "stored_tokens"))
    with pytest.raises(ContraCLIPError, match="HF_TOKEN"):
        publish([SHIPPED_SHAPES_PATHS], "me/paths", examples=False)
    with pytest.raises(ContraCLIPError, match="org/name"):
        publish([SHIPPED_SHAPES_PATHS], "not-a-repo", api=StandInHub(tmp_path / "r"))
    hub = StandInHub(tmp_path / "r")
    broken = _edited_copy(tmp_path, "broken", latent_shape=[7])
    with pytest.raises(WeightsError):
        publish([SHIPPED_SHAPES_PATHS, broken], "me/paths", api=hub)
    assert [c[0] for c in hub.calls] == ["list_repo_files"]  # nothing created, nothing uploaded


def test_publish_dry_run_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "staged"
    code = cli_main(["publish", str(SHIPPED_SHAPES_PATHS), "--repo", "me/paths", "--dry-run", str(out), "--no-examples"])
    assert code == 0
    assert (out / "shapes-128" / "shapes-corpus" / "paths.safetensors").read_bytes() == \
        (SHIPPED_SHAPES_PATHS / "paths.safetensors").read_bytes()
    assert "staged 1 path set(s)" in capsys.readouterr().out
    assert cli_main(["publish", str(tmp_path / "nope"), "--repo", "me/paths", "--dry-run", str(out)]) == 2


def test_an_unreachable_hub_falls_back_to_the_cache_without_waiting(offline_cache, monkeypatch):
    import time

    import huggingface_hub.constants as constants

    from contraclip_core import hub

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens: connection refused
    monkeypatch.setattr(hub, "_REACHABLE", {})
    hub_path_repo(offline_cache, REPO, {"shapes-128/colours": SHIPPED_SHAPES_PATHS})
    start = time.monotonic()
    assert [f.name for f in hub_sets("shapes-128")] == ["colours"]
    with pytest.raises(HubUnavailableError, match="cannot be reached"):
        PathSet.from_pretrained("hf://nobody/nothing/shapes-128/set")
    assert time.monotonic() - start < 5
