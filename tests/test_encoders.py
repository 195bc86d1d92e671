"""pSp / e4e encoders: the authors' checkpoints load safely and reproduce the authors' W+ codes and decoder images.

The reference is tests/fixtures/e4e_tiny.* (see its README): the authors' Encoder4Editing, GradualStyleEncoder and
StyleGAN2 decoder at their real architecture (IR-SE50, 512-channel heads; a 32-px decoder: 8 style inputs, every
level of the feature pyramid), run on weights drawn from a seeded recipe. The weights are drawn again here and written
as the authors' training code writes a checkpoint; the module's checkpoint is built once (~0.6 GB in a temp folder).
"""
from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from contraclip_core import registry
from contraclip_core.encoders import encoder_config, load_encoder
from contraclip_core.encoders.loading import build
from contraclip_core.errors import ContraCLIPError, UnknownNameError, WeightsError
from contraclip_core.generators import from_pretrained
from contraclip_core.generators.formats import read_weights

from .conftest import FIXTURES, populate_hf_cache
from .e4e_recipe import read_recipe

TOL = 1e-4


@pytest.fixture(scope="module")
def recipe() -> dict:
    return read_recipe(FIXTURES / "e4e_tiny.recipe.json")


@pytest.fixture(scope="module")
def io() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "e4e_tiny.io.safetensors")


@pytest.fixture(scope="module")
def checkpoint(e4e_checkpoint) -> dict:
    """The recipe's weights as the authors' coach saves them (conftest: realised once per session)."""
    return e4e_checkpoint


@pytest.fixture(scope="module")
def checkpoint_file(e4e_checkpoint_file) -> Path:
    return e4e_checkpoint_file


@pytest.fixture(scope="module")
def encoder(checkpoint_file):
    return load_encoder(checkpoint_file)


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def altered(checkpoint: dict, **changes) -> dict:
    """A shallow copy of the checkpoint with top-level entries changed (None removes one)."""
    out = dict(checkpoint) | changes
    return {k: v for k, v in out.items() if v is not None}


# --- parity with the authors' code ------------------------------------------------------------------------------

def test_e4e_reproduces_the_authors_codes(encoder, io):
    assert (encoder.config.kind, encoder.num_ws, encoder.w_dim, encoder.config.input_size) == ("e4e", 8, 512,
                                                                                               (256, 256))
    with torch.no_grad():
        wplus = encoder.encode(io["x"])  # 256 px: no resize, the authors' pSp.forward with start_from_latent_avg
        assert max_err(wplus, io["e4e_wplus"]) <= TOL
        assert max_err(encoder(io["x64"]), io["e4e_wplus_x64"]) <= TOL  # a batch, at another size
    # e4e's codes are w0 + deltas: they differ between style inputs, and by more than the tolerance
    assert (io["e4e_wplus_x64"][:, 1:] - io["e4e_wplus_x64"][:, :1]).abs().amax(dim=(0, 2)).min() > 0.1


def test_psp_reproduces_the_authors_codes(checkpoint, io):
    """pSp's GradualStyleEncoder has e4e's modules; only the forward differs (each head its own style input)."""
    obj = altered(checkpoint, opts=checkpoint["opts"] | {"encoder_type": "GradualStyleEncoder"})
    psp = build(*encoder_config(obj, "psp.pt"), "psp.pt")
    assert psp.config.kind == "psp"
    with torch.no_grad():
        assert max_err(psp(io["x64"]), io["psp_wplus_x64"]) <= TOL
    assert max_err(io["psp_wplus_x64"], io["e4e_wplus_x64"]) > 0.1  # the two forwards are told apart


def test_encode_resizes_to_the_input_size(encoder, io, monkeypatch):
    """Images of another size are resized to the encoder's input size (64 px here, to keep the test quick)."""
    monkeypatch.setattr(encoder.config, "input_size", (64, 48))
    image = io["x"][:, :, :96, :72]
    with torch.no_grad():
        direct = encoder(torch.nn.functional.interpolate(image, size=(64, 48), mode="bilinear",
                                                         align_corners=False, antialias=True))
        assert max_err(encoder.encode(image), direct) == 0.0
        assert max_err(encoder.encode(image), encoder(image)) > 1e-3  # resizing changed the code
    with pytest.raises(ContraCLIPError, match=r"takes RGB images of shape \(B, 3, H, W\), got \(3, 64, 64\)"):
        encoder.encode(io["x64"][0])


def test_decoder_loads_as_a_generator_and_renders_the_codes(checkpoint_file, encoder, io, contraclip_home):
    """from_pretrained on the same file: the decoder.* part, a rosinality StyleGAN2; it renders the encoder's codes
    as the authors' decoder does (its fixed noise buffers)."""
    g = from_pretrained(checkpoint_file)
    assert (g.arch, g.resolution, g.num_ws, g.w_dim) == ("stylegan2", 32, encoder.num_ws, encoder.w_dim)
    encoder.check_fits(g)
    assert torch.equal(g.w_avg(), io["latent_avg"].mean(0))
    with torch.no_grad():
        for impl in ("fast", "grouped"):
            assert max_err(g.set_impl(impl).synthesis(io["e4e_wplus_x64"], "w+"), io["decoder_img"]) <= TOL
        image = g.synthesis(encoder(io["x64"]), "w+")
    assert image.shape == (2, 3, 32, 32) and torch.isfinite(image).all()
    assert io["decoder_img"].abs().max() > 1.0  # 1e-4 is meaningful against these images


def test_check_fits_refuses_another_generator(encoder):
    from .helpers import random_stylegan2

    with pytest.raises(ContraCLIPError, match=r"gives W\+ codes of 8 × 512, but the generator takes 8 × 64"):
        encoder.check_fits(random_stylegan2())


def test_hub_source(checkpoint, tmp_path, monkeypatch):
    """hf://org/repo/file resolves through the HF cache, as generator sources do (a small file: its refusal proves
    the reader got it)."""
    small = tmp_path / "small.pt"
    torch.save(altered(checkpoint, state_dict={"encoder.styles.0.linear.weight": torch.zeros(512, 512)}), small)
    cache = tmp_path / "hf"
    populate_hf_cache(cache, "someone/e4e", {"e4e.pt": small})
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError, match=r"e4e\.pt: its opts say a 32-px generator \(8 style inputs\) but "
                                           r"the encoder has 1 style heads"):
        load_encoder("hf://someone/e4e/e4e.pt")


def test_the_catalogue_lists_no_unverified_encoder():
    assert registry.ENCODERS == {}
    with pytest.raises(UnknownNameError, match=r"unknown encoder 'e4e-ffhq'; choose one of none listed yet"):
        load_encoder("e4e-ffhq")


# --- safety ---------------------------------------------------------------------------------------------------------

class Armed:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_object_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Armed(marker)))  # armed: plain unpickling runs it
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "evil_e4e.pt"
    torch.save({"state_dict": {"encoder.styles.0.linear.weight": torch.zeros(2, 2)}, "opts": Armed(marker)}, path)
    with pytest.raises(WeightsError, match=r"refused to load evil_e4e\.pt: it holds pickled Python objects other than "
                                           r"tensors.*(posix|os|nt)\.system"):
        load_encoder(path)
    assert not marker.exists()


def test_a_namespace_lets_nothing_else_through(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "ns_evil.pt"
    torch.save({"opts": argparse.Namespace(encoder_type="Encoder4Editing", hook=Armed(marker))}, path)
    with pytest.raises(WeightsError, match=r"refused to load ns_evil\.pt"):
        load_encoder(path)
    assert not marker.exists()


def test_opts_as_a_namespace_are_read(checkpoint, tmp_path):
    """Older training code pickles opts as an argparse.Namespace: let through (it only holds values), nothing else."""
    path = tmp_path / "ns.pt"
    torch.save({"opts": argparse.Namespace(**checkpoint["opts"]), "latent_avg": checkpoint["latent_avg"]}, path)
    obj = read_weights(path)
    config, _ = encoder_config(obj | {"state_dict": checkpoint["state_dict"]}, "ns.pt")
    assert (config.kind, config.num_ws, config.add_latent_avg) == ("e4e", 8, True)


# --- malformed checkpoints: one sentence each -----------------------------------------------------------------------

def malformed(checkpoint: dict) -> list[tuple[object, str]]:
    state, opts = checkpoint["state_dict"], checkpoint["opts"]
    no_head = {k: v for k, v in state.items() if not k.startswith("encoder.styles.5.")}
    nan = dict(state) | {"encoder.latlayer1.weight": torch.full_like(state["encoder.latlayer1.weight"], float("nan"))}
    shape = dict(state) | {"encoder.latlayer2.bias": torch.zeros(7)}
    return [
        (torch.zeros(3), r"bad\.pt is not a pSp / e4e checkpoint: expected a dict with 'state_dict'"),
        ({"g_ema": {}}, r"bad\.pt is not a pSp / e4e checkpoint: .*found \['g_ema'\]"),
        (altered(checkpoint, state_dict={"decoder.x": torch.zeros(1)}), r"holds no encoder weights"),
        (altered(checkpoint, state_dict={"encoder.a": 3}), r"'state_dict' is not a dict of tensors"),
        (altered(checkpoint, opts=opts | {"encoder_type": "SingleStyleCodeEncoder"}),
         r"holds a SingleStyleCodeEncoder, which gives one W code"),
        (altered(checkpoint, opts=opts | {"encoder_type": "ResNet"}), r"its opts name the encoder type 'ResNet'"),
        (altered(checkpoint, opts=[1, 2]), r"'opts' is neither a dict nor an argparse\.Namespace"),
        (altered(checkpoint, state_dict=no_head), r"style heads are incomplete \(found heads \[0, 1, 2, 3, 4, 6, 7\]\)"),
        (altered(checkpoint, opts=opts | {"stylegan_size": 1024}),
         r"its opts say a 1024-px generator \(18 style inputs\) but the encoder has 8 style heads"),
        (altered(checkpoint, latent_avg=None), r"trained with start_from_latent_avg but its 'latent_avg' is not a "
                                               r"\(8, 512\) or \(512,\) tensor \(found NoneType\)"),
        (altered(checkpoint, latent_avg=torch.zeros(3, 512)), r"'latent_avg' is not .* \(found \(3, 512\)\)"),
        (altered(checkpoint, state_dict=nan), r"'latlayer1\.weight' holds NaN or infinite values"),
        (altered(checkpoint, state_dict=shape), r"'latlayer2\.bias' has shape \(7,\) in the file but \(512,\)"),
    ]


def test_malformed_checkpoints_are_refused_with_a_sentence(checkpoint):
    for obj, message in malformed(checkpoint):
        with pytest.raises(WeightsError, match=message):
            build(*encoder_config(obj, "bad.pt"), "bad.pt")


def test_a_sketch_model_is_refused(checkpoint):
    state = dict(checkpoint["state_dict"]) | {"encoder.input_layer.0.weight": torch.zeros(64, 1, 3, 3)}
    with pytest.raises(WeightsError, match=r"takes 1-channel inputs, not RGB photos"):
        encoder_config(altered(checkpoint, state_dict=state), "sketch.pt")


def test_damaged_files_are_refused(checkpoint_file, tmp_path):
    half = tmp_path / "half.pt"
    with open(checkpoint_file, "rb") as f:
        half.write_bytes(f.read(1 << 20))
    with pytest.raises(WeightsError, match=r"half\.pt could not be read as a PyTorch checkpoint \(truncated or "
                                           r"corrupted\?\)"):
        load_encoder(half)
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(WeightsError, match=r"is a folder; give the checkpoint file"):
        load_encoder(folder)
