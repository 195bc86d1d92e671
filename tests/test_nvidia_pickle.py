"""NVIDIA StyleGAN2-ADA snapshot pickles: imported without running anything, reproducing NVIDIA's outputs."""
from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from contraclip_core.errors import WeightsError
from contraclip_core.generators import from_pretrained
from contraclip_core.generators.nvidia_pickle import NvidiaModule, load_nvidia_pickle

from .conftest import FIXTURES
from .nvidia_writer import write_snapshot

PKL = FIXTURES / "stylegan2ada_nvidia_tiny.pkl"
TOL = 1e-4
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def io() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "stylegan2ada_nvidia_tiny.io.safetensors")


@pytest.fixture()
def snapshot() -> dict:
    """The fixture snapshot as data (NvidiaModule trees), to re-write in altered forms."""
    return load_nvidia_pickle(PKL)


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("impl", ["activations", "grouped"])
def test_g_ema_reproduces_nvidia_outputs(io, contraclip_home, impl):
    """A local .pkl alone: config from the pickle; mapping, truncation and synthesis match NVIDIA's within 1e-4."""
    g = from_pretrained(PKL).set_impl(impl)
    assert (g.resolution, g.z_dim, g.num_ws, g.config.n_mlp, g.config.conv_clamp) == (32, 32, 8, 2, 256.0)
    assert g.config.channels == {"4": 32, "8": 32, "16": 32, "32": 16}
    with torch.no_grad():
        assert max_err(g.w_avg(), io["w_avg"]) == 0.0
        assert max_err(g.mapping(io["z"]), io["w"]) < TOL
        assert max_err(g.encode(io["z"], "w+"), io["ws"]) < TOL
        assert max_err(g.encode(io["z"], "w+", truncation=0.7), io["ws_trunc0.7"]) < TOL
        assert max_err(g.synthesis(io["z"], "z"), io["img_from_z"]) < TOL
        assert max_err(g.synthesis(io["w"], "w"), io["img_from_z"]) < TOL
        assert max_err(g.synthesis(g.encode(io["z"], "w+", 0.7), "w+"), io["img_from_z_trunc0.7"]) < TOL
        assert max_err(g.synthesis(io["wplus"], "w+"), io["img_from_wplus"]) < TOL
    assert io["img_from_wplus"].abs().max() > 1.0  # 1e-4 is meaningful against these images


ZDIM_PKL = FIXTURES / "stylegan2ada_nvidia_zdim.pkl"


@pytest.mark.parametrize("impl", ["fast", "grouped"])
def test_z_dim_and_mapping_width_other_than_w_dim(contraclip_home, impl):
    """NVIDIA lets z (24), the mapping layers (40) and w (32) differ: made with NVIDIA's code
    (scripts/make_nvidia_zdim_fixture.py), the snapshot loads and reproduces its mapping and images within 1e-4."""
    io = load_file(FIXTURES / "stylegan2ada_nvidia_zdim.io.safetensors")
    g = from_pretrained(ZDIM_PKL).set_impl(impl)
    assert (g.z_dim, g.w_dim, g.num_ws, g.config.mapping_width, g.config.n_mlp) == (24, 32, 8, 40, 3)
    assert g.latent_shape("z") == (24,) and g.sample_z([0, 1]).shape == (2, 24)
    with torch.no_grad():
        assert max_err(g.w_avg(), io["w_avg"]) == 0.0
        assert max_err(g.encode(io["z"], "w+"), io["ws"]) < TOL
        assert max_err(g.encode(io["z"], "w+", truncation=0.7), io["ws_trunc0.7"]) < TOL
        assert max_err(g.synthesis(io["z"], "z"), io["img_from_z"]) < TOL
        assert max_err(g.synthesis(g.encode(io["z"], "w+", 0.7), "w+"), io["img_from_z_trunc0.7"]) < TOL
        assert max_err(g.synthesis(io["wplus"], "w+"), io["img_from_wplus"]) < TOL
    assert io["img_from_wplus"].abs().max() > 1.0


def test_z_dim_other_than_w_dim_in_rosinality_layout(tmp_path, contraclip_home):
    """The same generator saved in rosinality's layout (as NVIDIA models converted to .pt are): dims read again."""
    io = load_file(FIXTURES / "stylegan2ada_nvidia_zdim.io.safetensors")
    state = from_pretrained(ZDIM_PKL).state_dict()
    path = tmp_path / "zdim.pt"
    torch.save({"g_ema": {k: v for k, v in state.items() if k != "latent_avg"}, "latent_avg": state["latent_avg"]}, path)
    g = from_pretrained(path)
    assert (g.z_dim, g.w_dim, g.config.mapping_width) == (24, 32, 40)
    with torch.no_grad():
        assert max_err(g.synthesis(io["z"], "z"), io["img_from_z"]) < TOL


def test_mapping_layers_that_do_not_chain_are_refused(tmp_path, contraclip_home):
    snapshot = load_nvidia_pickle(ZDIM_PKL)
    g = copy.deepcopy(snapshot["G_ema"])
    g.modules["mapping"].modules["fc1"].parameters["weight"] = torch.zeros(40, 36)
    path = write_snapshot(tmp_path / "odd-mapping.pkl", {"G_ema": g})
    with pytest.raises(WeightsError, match=r"odd-mapping\.pkl: the mapping layers have shapes \[\(40, 24\), \(40, 36\), "
                                           r"\(32, 40\)\], which is not NVIDIA's z_dim → layer_features → … → w_dim"):
        from_pretrained(path)


def test_conversion_is_cached_in_our_format(contraclip_home):
    from_pretrained(PKL)
    folders = list((contraclip_home / "converted").iterdir())
    assert len(folders) == 1
    meta = json.loads((folders[0] / "config.json").read_text())
    assert meta["arch"] == "stylegan2" and meta["config"]["conv_clamp"] == 256.0
    mtime = (folders[0] / "model.safetensors").stat().st_mtime_ns
    from_pretrained(PKL)
    assert (folders[0] / "model.safetensors").stat().st_mtime_ns == mtime
    assert len(list((contraclip_home / "converted").iterdir())) == 1


def test_conv_clamp_is_applied(io, contraclip_home):
    """NVIDIA clamps every conv and toRGB output to ±conv_clamp (fp32 layers too): a small clamp bounds the image."""
    g = from_pretrained(PKL, config={**from_pretrained(PKL).config.__dict__, "conv_clamp": 0.01})
    with torch.no_grad():
        image = g.synthesis(io["wplus"], "w+")
    # Four toRGB outputs, each within ±0.01; the skip up-sampling filter's taps are positive and sum to 1 per
    # output pixel, so the image stays within 4 · 0.01. Unclamped, it exceeds 1.
    assert image.abs().max() <= 0.04 + 1e-6
    assert io["img_from_wplus"].abs().max() > 1.0


def test_reading_imports_neither_torch_utils_nor_dnnlib():
    code = (f"import sys; from contraclip_core.generators.nvidia_pickle import load_nvidia_pickle; "
            f"load_nvidia_pickle({str(PKL)!r}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch_utils', 'dnnlib', 'training')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_nvidia_state_dict_alone_loads(tmp_path, io, snapshot, contraclip_home):
    """G_ema.state_dict() saved with torch.save (NVIDIA names) is recognised from its keys."""
    path = tmp_path / "g_ema_state.pt"
    torch.save(snapshot["G_ema"].state_dict(), path)
    g = from_pretrained(path)
    with torch.no_grad():
        assert max_err(g.synthesis(io["wplus"], "w+"), io["img_from_wplus"]) < TOL


# --- hostile and unsupported pickles ------------------------------------------------------------------------------

def touch(path: str) -> None:
    Path(path).touch()


class ReduceTouch:
    """A class whose __reduce__ would call a function of this test module (an unknown global)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (touch, (str(self.marker),))


class Armed:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def payloads(marker: Path) -> dict[str, object]:
    return {
        "os.system": Armed(os.system, f"touch {marker}"),
        "builtins.eval": Armed(eval, f"open({str(marker)!r}, 'w')"),
        "subprocess": Armed(subprocess.check_call, ["touch", str(marker)]),
        "reduce of an unknown class": ReduceTouch(marker),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "subprocess", "reduce of an unknown class"])
def test_hostile_global_is_refused_and_never_runs(tmp_path, snapshot, contraclip_home, kind):
    marker = tmp_path / "pwned"
    payload = payloads(marker)[kind]
    # The payload is armed: plain pickle would run it.
    pickle.loads(pickle.dumps(payload))
    assert marker.exists()
    marker.unlink()
    # Hidden inside an otherwise genuine snapshot, after the generator.
    path = write_snapshot(tmp_path / "evil.pkl", {"G_ema": snapshot["G_ema"], "training_set_kwargs": payload})
    with pytest.raises(WeightsError, match=r"evil\.pkl: refused this NVIDIA pickle: it asks for .*nothing in the "
                                           r"file was run"):
        from_pretrained(path)
    assert not marker.exists()
    assert not (contraclip_home / "converted").exists() or not any((contraclip_home / "converted").iterdir())


def test_persistent_object_of_unknown_class_is_refused_and_its_source_never_runs(tmp_path, snapshot):
    marker = tmp_path / "pwned"
    evil = copy.copy(snapshot["G_ema"])
    evil.class_name = "Backdoor"
    from .nvidia_writer import _standin_modules, to_persistent

    with _standin_modules():
        data = {"G_ema": to_persistent(evil, module_src=f"open({str(marker)!r}, 'w')\nclass Backdoor: pass\n")}
        path = tmp_path / "unknown-class.pkl"
        path.write_bytes(pickle.dumps(data, protocol=4))
    with pytest.raises(WeightsError, match="persistent object of class 'Backdoor', which is not one of NVIDIA's"):
        load_nvidia_pickle(path)
    assert not marker.exists()


def test_discriminator_only_is_refused(tmp_path, snapshot, contraclip_home):
    path = write_snapshot(tmp_path / "d-only.pkl", {"D": snapshot["D"]})
    with pytest.raises(WeightsError, match=r"d-only\.pkl holds a discriminator only \(no G_ema or G\)"):
        from_pretrained(path)


def test_stylegan3_is_refused(tmp_path, snapshot, contraclip_home):
    g = copy.deepcopy(snapshot["G_ema"])
    g.modules["synthesis"].modules["input"] = NvidiaModule("SynthesisInput", buffers={"freqs": torch.zeros(4, 2)})
    path = write_snapshot(tmp_path / "sg3.pkl", {"G_ema": g})
    with pytest.raises(WeightsError, match=r"sg3\.pkl is a StyleGAN3 generator; only StyleGAN2"):
        from_pretrained(path)


def test_conditional_generator_is_refused(tmp_path, snapshot, contraclip_home):
    g = copy.deepcopy(snapshot["G_ema"])
    g.init_kwargs["c_dim"] = 10
    g.modules["mapping"].modules["embed"] = NvidiaModule("FullyConnectedLayer", parameters={
        "weight": torch.zeros(32, 10), "bias": torch.zeros(32)})
    path = write_snapshot(tmp_path / "cond.pkl", {"G_ema": g})
    with pytest.raises(WeightsError, match=r"cond\.pkl is a class-conditional generator \(c_dim = 10\); conditional "
                                           r"generators are not supported yet"):
        from_pretrained(path)


def test_truncated_pickle(tmp_path, contraclip_home):
    path = tmp_path / "half.pkl"
    path.write_bytes(PKL.read_bytes()[: PKL.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"half\.pkl could not be read as an NVIDIA pickle \(truncated or "
                                           r"corrupted\?\)"):
        from_pretrained(path)


def test_rewritten_fixture_still_loads(tmp_path, io, snapshot, contraclip_home):
    """The writer the hostile tests use produces snapshots the importer reads like NVIDIA's own."""
    path = write_snapshot(tmp_path / "again.pkl", {"G_ema": snapshot["G_ema"], "augment_pipe": None})
    with torch.no_grad():
        assert max_err(from_pretrained(path).synthesis(io["wplus"], "w+"), io["img_from_wplus"]) < TOL


def test_malformed_constructor_arguments_are_refused(tmp_path, snapshot, contraclip_home):
    g = copy.deepcopy(snapshot["G_ema"])
    g.init_kwargs["mapping_kwargs"] = {"num_layers": 2, "lr_multiplier": "fast"}
    path = write_snapshot(tmp_path / "odd.pkl", {"G_ema": g})
    with pytest.raises(WeightsError, match=r"odd\.pkl: the NVIDIA generator's constructor arguments are malformed"):
        from_pretrained(path)


def to_nvidia_names(ours: dict[str, torch.Tensor], n_mlp: int, size: int) -> dict[str, torch.Tensor]:
    """Our StyleGAN2 state dict in NVIDIA's names and shapes (the inverse of the importer, written independently)."""
    nv = {"mapping.w_avg": ours["latent_avg"], "synthesis.b4.const": ours["input.input"][0]}
    for i in range(n_mlp):
        nv[f"mapping.fc{i}.weight"] = ours[f"style.{i + 1}.weight"]
        nv[f"mapping.fc{i}.bias"] = ours[f"style.{i + 1}.bias"]
    layers = [("synthesis.b4.conv1", "conv1")]
    rgbs = [("synthesis.b4.torgb", "to_rgb1")]
    res = 8
    while res <= size:
        k = len(rgbs) - 1
        layers += [(f"synthesis.b{res}.conv0", f"convs.{2 * k}"), (f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}")]
        rgbs.append((f"synthesis.b{res}.torgb", f"to_rgbs.{k}"))
        res *= 2
    for n, (src, dst) in enumerate(layers):
        nv[f"{src}.weight"] = ours[f"{dst}.conv.weight"][0]
        nv[f"{src}.affine.weight"] = ours[f"{dst}.conv.modulation.weight"]
        nv[f"{src}.affine.bias"] = ours[f"{dst}.conv.modulation.bias"]
        nv[f"{src}.noise_strength"] = ours[f"{dst}.noise.weight"][0]
        nv[f"{src}.bias"] = ours[f"{dst}.activate.bias"]
        nv[f"{src}.noise_const"] = ours[f"noises.noise_{n}"][0, 0]
    for src, dst in rgbs:
        nv[f"{src}.weight"] = ours[f"{dst}.conv.weight"][0]
        nv[f"{src}.affine.weight"] = ours[f"{dst}.conv.modulation.weight"]
        nv[f"{src}.affine.bias"] = ours[f"{dst}.conv.modulation.bias"]
        nv[f"{src}.bias"] = ours[f"{dst}.bias"].reshape(-1)
    return nv


def test_full_size_nvidia_layout_round_trips():
    """config-f 1024 (18 styles, 17 noise inputs, widths 512 … 32) in NVIDIA's names comes back tensor for tensor."""
    from contraclip_core.generators.inference import infer
    from contraclip_core.generators.nvidia_layout import nvidia_to_ours
    from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    ours = StyleGAN2Generator(StyleGAN2Config(size=1024)).state_dict()
    ours["latent_avg"] = torch.randn(512)
    nv = to_nvidia_names(ours, 8, 1024)
    found = infer(nv, "ffhq.pkl")
    assert (found.arch, found.layout, found.config["size"], found.config["n_mlp"]) == ("stylegan2", "nvidia", 1024, 8)
    assert found.config["channels"] == {"4": 512, "8": 512, "16": 512, "32": 512, "64": 512, "128": 256, "256": 128,
                                        "512": 64, "1024": 32}
    back = nvidia_to_ours(nv, "ffhq.pkl")
    assert set(back) == set(ours)
    assert all(torch.equal(back[k], ours[k]) for k in ours)
