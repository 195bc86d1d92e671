"""Checkpoints load from a path or hf:// alone: architecture, layout and config are read from the tensors."""
from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from contraclip_core import registry
from contraclip_core.errors import WeightsError
from contraclip_core.generators import from_pretrained
from contraclip_core.generators.inference import infer
from contraclip_core.generators.pggan import PGGANConfig, PGGANGenerator
from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

from .conftest import FIXTURES, fixture_config, populate_hf_cache
from .test_loading import _run_isolated

TOL = 1e-4


@pytest.fixture()
def rosinality_pt(tmp_path):
    io = load_file(FIXTURES / "stylegan2_rosinality_tiny.io.safetensors")
    path = tmp_path / "tiny-rosinality.pt"
    torch.save({"g_ema": load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors"),
                "latent_avg": io["w_avg"]}, path)
    return path


@pytest.fixture()
def genforce_bin(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    torch.save(load_file(FIXTURES / "pggan_genforce_tiny.generator.safetensors"), path)
    return path


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_rosinality_config_is_read_from_the_tensors(rosinality_pt, contraclip_home):
    io = load_file(FIXTURES / "stylegan2_rosinality_tiny.io.safetensors")
    g = from_pretrained(rosinality_pt)
    expected = fixture_config("stylegan2_rosinality_tiny")
    for key in ("size", "style_dim", "n_mlp", "channels"):
        assert getattr(g.config, key) == expected[key], key
    with torch.no_grad():
        assert max_err(g.synthesis(io["wplus"], "w+"), io["img_from_wplus"]) < TOL
        assert max_err(g.mapping(io["z"]), io["w"]) < TOL


def test_genforce_config_is_read_from_the_tensors(genforce_bin, contraclip_home):
    io = load_file(FIXTURES / "pggan_genforce_tiny.io.safetensors")
    g = from_pretrained(genforce_bin)
    expected = fixture_config("pggan_genforce_tiny")
    for key in ("resolution", "z_space_dim", "fmaps_base", "fmaps_max", "fused_scale"):
        assert getattr(g.config, key) == expected[key], key
    with torch.no_grad():
        assert max_err(g.synthesis(io["z"], "z"), io["img_from_z"]) < TOL


def test_full_size_layouts_are_recognised():
    """The real models' key shapes give the real configs (built from our modules, same names and shapes)."""
    sg2 = StyleGAN2Generator(StyleGAN2Config(size=256, channel_multiplier=2)).state_dict()
    found = infer({"g_ema": sg2, "latent_avg": torch.zeros(512)}, "cat.pt")
    assert (found.arch, found.layout) == ("stylegan2", "rosinality")
    assert found.config == {"size": 256, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}
    pg = PGGANGenerator(PGGANConfig(resolution=1024)).state_dict()
    found = infer(pg, "pytorch_model.bin")
    assert (found.arch, found.layout) == ("pggan", "genforce")
    assert found.config == {"resolution": 1024, "z_space_dim": 512, "fmaps_base": 16384, "fmaps_max": 512,
                            "fused_scale": False}
    fused = PGGANGenerator(PGGANConfig(resolution=64, fused_scale=True, fmaps_base=2048, fmaps_max=64)).state_dict()
    assert infer({"generator_smooth": fused}, "f.pth").config["fused_scale"] is True


def test_explicit_config_wins(rosinality_pt, contraclip_home):
    """Given a config, it is used as is: here a wrong one, so the file does not fit it and the key is named."""
    with pytest.raises(WeightsError, match=r"'conv1\.activate\.bias' has shape \(32,\) in the file but \(512,\)"):
        from_pretrained(rosinality_pt, config={"size": 32, "style_dim": 64, "n_mlp": 2})


def test_given_arch_that_the_file_is_not(genforce_bin, contraclip_home):
    with pytest.raises(WeightsError, match=r"pytorch_model\.bin is a pggan checkpoint \(genforce layout\), "
                                           r"not stylegan2"):
        from_pretrained(genforce_bin, arch="stylegan2")


@pytest.mark.parametrize("content, found", [
    ({"encoder.weight": torch.zeros(3, 4), "encoder.bias": torch.zeros(3)},
     r"found 2 tensors \(encoder\.weight \(3, 4\), encoder\.bias \(3,\)\)"),
    ({"model": {"layer.weight": torch.zeros(2)}, "epoch": 3}, r"found a dict with keys \['model', 'epoch'\]"),
    (torch.zeros(5), r"found a single tensor of shape \(5,\)"),
])
def test_unknown_layout_is_refused_naming_what_was_found(tmp_path, contraclip_home, content, found):
    path = tmp_path / "mystery.pt"
    torch.save(content, path)
    with pytest.raises(WeightsError, match=r"mystery\.pt matches no known generator layout \(rosinality StyleGAN2, "
                                           r"NVIDIA StyleGAN2-ADA, genforce ProgGAN\): " + found):
        from_pretrained(path)


# --- the catalogue -------------------------------------------------------------------------------------------------

def test_catalogue_entries_are_complete():
    names = registry.canonical_names()
    assert len(names) == 20 and "shapes" not in names
    domains = [registry.GENERATORS[n].domain for n in names]
    assert domains == sorted(domains, key=registry.DOMAINS.index)  # grouped by domain, in the picker's order
    for name in names:
        p = registry.GENERATORS[name]
        assert p.domain in registry.DOMAINS and p.description and p.resolution >= 128, name
        assert p.corpus in registry.CORPORA and len(registry.CORPORA[p.corpus]) >= 3, name
        assert "{}" in p.template and p.default_space in ("z", "w", "w+") and 0 < p.default_truncation <= 1
        assert 0 < p.eps_range[0] < p.eps_range[1]
        if p.arch == "stylegan2":
            num_ws = 2 * int(math.log2(p.resolution)) - 2
            assert 0 <= p.default_layers < num_ws and p.source.startswith("hf://aaronb/StyleGAN2/"), name
            assert p.download_mb == {256: 121, 512: 124, 1024: 133}[p.resolution], name
        assert str(p.resolution) in p.description.replace("×", " ").split() or p.arch == "shapes", name
        label = registry.generator_label(name)
        assert label.startswith(p.domain.capitalize()) and ("MB download on first use" in label) == p.needs_hub
    for domain in ("faces", "cats", "dogs", "wild animals", "cars", "horses", "churches", "bicycles", "elephants",
                   "giraffes", "lions", "parrots", "art faces", "histology"):
        assert domain in domains


def test_picker_rows_are_grouped_with_sizes(tmp_path):
    from contraclip_core.service import Service

    rows = Service(tmp_path / "data").generators()
    assert [r["name"] for r in rows] == registry.canonical_names()
    lions = next(r for r in rows if r["name"] == "stylegan2-sd-lions-512")
    assert lions["label"] == "Lions · Self-Distilled StyleGAN, lions, 512×512 · 124 MB download on first use"
    assert (lions["domain"], lions["resolution"], lions["download_mb"]) == ("lions", 512, 124.0)


def test_catalogue_loads_every_layout_from_an_offline_hf_cache(tmp_path, rosinality_pt, genforce_bin):
    """Tiny random-weight files at the real repo paths; registry names and hf:// URLs load with no config."""
    hub = tmp_path / "hf-home" / "hub"
    populate_hf_cache(hub, "aaronb/StyleGAN2", {"stylegan2-cat-config-f.pt": rosinality_pt,
                                                "self_distill/lions_512.pt": rosinality_pt,
                                                "ada/metfaces.pt": rosinality_pt})
    populate_hf_cache(hub, "aaronb/StyleGAN2-pkl", {"ada/afhqcat.pkl": FIXTURES / "stylegan2ada_nvidia_tiny.pkl"})
    populate_hf_cache(hub, "huggan/pggan-celebahq-1024", {"pytorch_model.bin": genforce_bin})
    code = f"""
import json, torch
from safetensors.torch import load_file
from contraclip_core.generators import from_pretrained
out = {{}}
ros = load_file({str(FIXTURES / "stylegan2_rosinality_tiny.io.safetensors")!r})
nv = load_file({str(FIXTURES / "stylegan2ada_nvidia_tiny.io.safetensors")!r})
pg = load_file({str(FIXTURES / "pggan_genforce_tiny.io.safetensors")!r})
with torch.no_grad():
    for name in ["stylegan2-cat-256", "stylegan2-sd-lions-512", "stylegan2-metfaces-1024"]:
        out[name] = (from_pretrained(name).synthesis(ros["wplus"], "w+") - ros["img_from_wplus"]).abs().max().item()
    g = from_pretrained("hf://aaronb/StyleGAN2-pkl/ada/afhqcat.pkl")
    out["afhqcat.pkl"] = (g.synthesis(nv["wplus"], "w+") - nv["img_from_wplus"]).abs().max().item()
    out["pggan-celebahq-1024"] = (from_pretrained("pggan-celebahq-1024").synthesis(pg["z"], "z")
                                  - pg["img_from_z"]).abs().max().item()
print(json.dumps(out))
"""
    result = _run_isolated(code, {"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1",
                                  "CONTRACLIP_HOME": str(tmp_path / "cc")})
    assert result.returncode == 0, result.stderr
    errors = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(errors) == {"stylegan2-cat-256", "stylegan2-sd-lions-512", "stylegan2-metfaces-1024", "afhqcat.pkl",
                           "pggan-celebahq-1024"}
    assert all(e < TOL for e in errors.values()), errors
