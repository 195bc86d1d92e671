"""Loading from anywhere, safely, with errors a user can act on."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from contraclip_core import hub, registry
from contraclip_core.errors import ContraCLIPError, HubUnavailableError, UnknownNameError, WeightsError
from contraclip_core.generators import from_pretrained

from .conftest import FIXTURES, fixture_config, populate_hf_cache

ROOT = Path(__file__).resolve().parent.parent
SG2_CONFIG = fixture_config("stylegan2_rosinality_tiny")


class CodeRunningPayload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path, contraclip_home):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"w": torch.zeros(1)}, "payload": CodeRunningPayload(marker)}, path)
    with pytest.raises(WeightsError, match="refused to load evil.pt"):
        from_pretrained(path, arch="stylegan2", config=SG2_CONFIG)
    assert not marker.exists()
    # Sanity check that the payload really is armed: an unsafe load would have created the marker.
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("content", [bytes(range(256)) * 12, b"hello, this is not a checkpoint"])
def test_a_damaged_pt_file_is_called_damaged_not_dangerous(tmp_path, contraclip_home, content):
    """Random bytes or text named .pt are damage (download again), not a refused pickle (could run code)."""
    path = tmp_path / "damaged.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="could not be read as a PyTorch checkpoint") as info:
        from_pretrained(path, arch="stylegan2", config=SG2_CONFIG)
    assert "could run code" not in str(info.value)


def test_unknown_registry_name():
    with pytest.raises(UnknownNameError, match="unknown generator 'stylegan9-ffhq'.*shapes-128"):
        from_pretrained("stylegan9-ffhq")


def test_missing_local_path(tmp_path):
    with pytest.raises(ContraCLIPError, match="no file or folder"):
        from_pretrained(tmp_path / "nope.pt", arch="stylegan2", config=SG2_CONFIG)


def test_truncated_safetensors(tmp_path, contraclip_home):
    data = (FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors").read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupted"):
        from_pretrained(path, arch="stylegan2", config=SG2_CONFIG)


def test_truncated_torch_checkpoint(tmp_path, contraclip_home):
    full = tmp_path / "full.pt"
    torch.save({"g_ema": load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors")}, full)
    path = tmp_path / "truncated.pt"
    path.write_bytes(full.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="truncated or corrupted"):
        from_pretrained(path, arch="stylegan2", config=SG2_CONFIG)


def test_wrong_shape_names_the_key(tmp_path, contraclip_home):
    state = load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors")
    state["convs.2.conv.weight"] = torch.zeros(1, 32, 16, 3, 3)
    path = tmp_path / "wrong-shape.safetensors"
    save_file(state, path)
    with pytest.raises(WeightsError, match=r"'convs\.2\.conv\.weight' has shape \(1, 32, 16, 3, 3\) in the file"):
        from_pretrained(path, arch="stylegan2", config=SG2_CONFIG)


def test_config_that_does_not_fit_names_the_first_mismatch(contraclip_home):
    """The tiny checkpoint read with the FFHQ config: the first mismatching key is named."""
    with pytest.raises(WeightsError, match=r"'conv1\.activate\.bias' has shape \(32,\) in the file but \(512,\)"):
        from_pretrained(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors", arch="stylegan2",
                        config={"size": 1024, "style_dim": 512, "n_mlp": 8})


def test_missing_key_is_named(tmp_path, contraclip_home):
    state = load_file(FIXTURES / "pggan_genforce_tiny.generator.safetensors")
    del state["output3.weight"]
    path = tmp_path / "missing.safetensors"
    save_file(state, path)
    with pytest.raises(WeightsError, match="key 'output3.weight' is missing"):
        from_pretrained(path, arch="pggan", config=fixture_config("pggan_genforce_tiny"))


def test_unknown_config_field(contraclip_home):
    with pytest.raises(WeightsError, match=r"unknown stylegan2 field\(s\) \['sise'\]"):
        from_pretrained(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors", arch="stylegan2",
                        config={"sise": 32})


def test_hf_url_parsing():
    f = hub.parse_hf_url("hf://aaronb/StyleGAN2@v1.0/ada/afhqcat.pt")
    assert (f.repo_id, f.filename, f.revision) == ("aaronb/StyleGAN2", "ada/afhqcat.pt", "v1.0")
    with pytest.raises(ContraCLIPError, match="hf://org/repo/path/to/file"):
        hub.parse_hf_url("hf://only-org")


def test_registry_has_every_design_generator():
    expected = {"stylegan2-ffhq-1024", "stylegan2-afhqcat-512", "stylegan2-afhqdog-512", "stylegan2-car-512",
                "pggan-celebahq-1024", "shapes-128"}
    assert expected <= set(registry.GENERATORS)
    for name in expected - {"shapes-128"}:
        assert registry.GENERATORS[name].source.startswith("hf://") and registry.GENERATORS[name].needs_hub


def _run_isolated(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run Python in a fresh process, so huggingface_hub reads HF_HOME / HF_HUB_OFFLINE from the environment."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")} | env
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("network", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}],
                         ids=["offline", "endpoint-unreachable"])
def test_registry_entry_loads_from_a_populated_hf_cache(tmp_path, network):
    """A registry name resolves through hf_hub_download against a local HF cache, offline or with the Hub down."""
    hf_home = tmp_path / "hf-home"
    ckpt = tmp_path / "ffhq.pt"
    torch.save({"g_ema": load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors")}, ckpt)
    populate_hf_cache(hf_home / "hub", "aaronb/StyleGAN2", {"stylegan2-ffhq-config-f.pt": ckpt})
    code = f"""
import huggingface_hub, json
from contraclip_core import hub
calls = []
real = huggingface_hub.hf_hub_download
def spy(*a, **k):
    calls.append((a, k)); return real(*a, **k)
huggingface_hub.hf_hub_download = spy
from contraclip_core.generators import from_pretrained
g = from_pretrained("stylegan2-ffhq-1024", config={SG2_CONFIG!r})
print(json.dumps({{"calls": len(calls), "repo": calls[0][0][0], "file": calls[0][0][1], "res": g.resolution}}))
"""
    result = _run_isolated(code, {"HF_HOME": str(hf_home), "CONTRACLIP_HOME": str(tmp_path / "cc")} | network)
    assert result.returncode == 0, result.stderr
    assert '"calls": 1, "repo": "aaronb/StyleGAN2", "file": "stylegan2-ffhq-config-f.pt", "res": 32' in result.stdout


def test_hub_offline_and_not_cached_says_shapes_works_offline(tmp_path):
    code = "from contraclip_core.generators import from_pretrained; from_pretrained('pggan-celebahq-1024')"
    result = _run_isolated(code, {"HF_HOME": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"})
    assert result.returncode != 0
    assert "HubUnavailableError" in result.stderr
    assert "needs hf://huggan/pggan-celebahq-1024/pytorch_model.bin from the Hugging Face Hub" in result.stderr
    assert "Shapes world works offline" in result.stderr


def test_hub_unreachable_gives_clear_error(tmp_path, monkeypatch):
    """Not offline, but the endpoint refuses connections (a closed loopback port): same clear error, quickly."""
    code = "from contraclip_core.generators import from_pretrained; from_pretrained('stylegan2-afhqcat-512')"
    result = _run_isolated(code, {"HF_HOME": str(tmp_path / "empty"), "HF_ENDPOINT": "http://127.0.0.1:9",
                                  "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"})
    assert result.returncode != 0
    assert "HubUnavailableError" in result.stderr and "Shapes world works offline" in result.stderr
