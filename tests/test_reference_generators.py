"""Our StyleGAN2 and ProgGAN reproduce the reference implementations' outputs (fixtures from ../shared)."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from contraclip_core.generators import from_pretrained, load_folder, save_pretrained
from contraclip_core.generators.pggan import PGGANConfig, PGGANGenerator
from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

from .conftest import FIXTURES, fixture_config
from .roundoff import float32_roundoff, tolerance

# The references ran in float32 on another implementation (other op order), so agreement is bounded by both sides'
# float32 round-off, not bit-exact: ours measures ≤ ~6e-6 against float64 on these images (|x| up to ~2), and the
# test below checks that roundoff.tolerance of it stays under TOL, so TOL is a bound with room, not a guess.
TOL = 1e-4


@pytest.fixture(scope="module")
def sg2_io() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "stylegan2_rosinality_tiny.io.safetensors")


@pytest.fixture()
def rosinality_checkpoint(tmp_path, sg2_io):
    """A checkpoint laid out as rosinality's train.py saves it: a torch.save dict with g_ema, latent_avg, args."""
    g_ema = load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors")
    path = tmp_path / "tiny-rosinality.pt"
    torch.save({"g_ema": g_ema, "latent_avg": sg2_io["w_avg"], "args": {"size": 32}}, path)
    return path


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("impl", ["fast", "activations", "grouped"])
def test_stylegan2_reproduces_rosinality(rosinality_checkpoint, sg2_io, contraclip_home, impl):
    g = from_pretrained(rosinality_checkpoint, arch="stylegan2", config=fixture_config("stylegan2_rosinality_tiny"))
    g.set_impl(impl)
    assert (g.resolution, g.num_ws, g.spaces) == (32, 8, ("z", "w", "w+"))
    with torch.no_grad():
        assert max_err(g.mapping(sg2_io["z"]), sg2_io["w"]) < TOL
        assert max_err(g.synthesis(sg2_io["z"], "z"), sg2_io["img_from_z"]) < TOL
        assert max_err(g.synthesis(sg2_io["w"], "w"), sg2_io["img_from_w"]) < TOL
        truncated = g.encode(sg2_io["z"], "w+", truncation=0.7)
        assert max_err(g.synthesis(truncated, "w+"), sg2_io["img_from_z_trunc0.7"]) < TOL
        assert max_err(g.synthesis(sg2_io["wplus"], "w+"), sg2_io["img_from_wplus"]) < TOL
    # The images are not trivially small: an error of 1e-4 is meaningful against them.
    assert sg2_io["img_from_z"].abs().max() > 1.0
    # TOL covers the float32 round-off of this computation on this machine and library version (see TOL).
    roundoff = float32_roundoff(g, lambda m: m.synthesis(sg2_io["wplus"].to(m.dtype), "w+"))
    assert tolerance(roundoff, sg2_io["img_from_wplus"].abs().max().item()) < TOL


def test_stylegan2_without_latent_avg_estimates_it(tmp_path, sg2_io, contraclip_home):
    """A bare g_ema file (no latent_avg) converts; w_avg is then the mean mapping output, near the reference's."""
    g = from_pretrained(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors", arch="stylegan2",
                        config=fixture_config("stylegan2_rosinality_tiny"))
    spread = sg2_io["w"].std(0).mean().item()
    assert max_err(g.w_avg(), sg2_io["w_avg"]) < 0.25 * spread
    with torch.no_grad():
        assert max_err(g.synthesis(sg2_io["wplus"], "w+"), sg2_io["img_from_wplus"]) < TOL


def test_pggan_reproduces_genforce(tmp_path, contraclip_home):
    io = load_file(FIXTURES / "pggan_genforce_tiny.io.safetensors")
    g = from_pretrained(FIXTURES / "pggan_genforce_tiny.generator.safetensors", arch="pggan",
                        config=fixture_config("pggan_genforce_tiny"))
    assert g.spaces == ("z",) and g.resolution == 32
    with torch.no_grad():
        image = g.synthesis(io["z"], "z")
    assert image.shape == (4, 3, 32, 32)
    assert max_err(image, io["img_from_z"]) < TOL
    assert io["img_from_z"].abs().max() > 1.0


def test_pggan_genforce_checkpoint_dict(tmp_path, contraclip_home):
    """genforce .pth checkpoints wrap the state dict under 'generator'; torch.load(weights_only=True) reads them."""
    io = load_file(FIXTURES / "pggan_genforce_tiny.io.safetensors")
    path = tmp_path / "pggan.pth"
    torch.save({"generator": load_file(FIXTURES / "pggan_genforce_tiny.generator.safetensors")}, path)
    g = from_pretrained(path, arch="pggan", config=fixture_config("pggan_genforce_tiny"))
    with torch.no_grad():
        assert max_err(g.synthesis(io["z"], "z"), io["img_from_z"]) < TOL


def test_our_format_round_trip_and_conversion_cache(rosinality_checkpoint, sg2_io, contraclip_home, tmp_path):
    config = fixture_config("stylegan2_rosinality_tiny")
    g = from_pretrained(rosinality_checkpoint, arch="stylegan2", config=config)
    converted = list((contraclip_home / "converted").iterdir())
    assert len(converted) == 1 and (converted[0] / "model.safetensors").is_file()
    mtime = (converted[0] / "model.safetensors").stat().st_mtime_ns
    from_pretrained(rosinality_checkpoint, arch="stylegan2", config=config)  # second load: no new conversion
    assert (converted[0] / "model.safetensors").stat().st_mtime_ns == mtime
    assert len(list((contraclip_home / "converted").iterdir())) == 1

    folder = save_pretrained(g, tmp_path / "ours")
    again = load_folder(folder)
    assert again.state_dict().keys() == g.state_dict().keys()
    assert all(torch.equal(again.state_dict()[k], v) for k, v in g.state_dict().items())  # weights round-trip exactly
    with torch.no_grad():  # and so the images (same weights, same inputs, same shapes: the same computation)
        assert torch.equal(again.synthesis(sg2_io["wplus"], "w+"), g.synthesis(sg2_io["wplus"], "w+"))
    # dtype and device are explicit and honoured
    half = load_folder(folder, dtype=torch.float64)
    assert half.dtype == torch.float64 and not any(p.requires_grad for p in half.parameters())
    assert not half.training


def test_full_size_configs_describe_the_real_models():
    """The same code builds FFHQ-1024 config-f and CelebA-HQ ProgGAN with the real key shapes."""
    sg2 = StyleGAN2Generator(StyleGAN2Config(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2))
    state = sg2.state_dict()
    assert sg2.num_ws == 18 and sg2.num_layers == 17
    assert state["style.8.weight"].shape == (512, 512)
    assert state["convs.15.conv.weight"].shape == (1, 32, 32, 3, 3)  # 1024 px: 16 · channel_multiplier
    assert state["to_rgbs.7.conv.weight"].shape == (1, 3, 32, 1, 1)
    assert state["noises.noise_16"].shape == (1, 1, 1024, 1024)
    n_params = sum(p.numel() for p in sg2.parameters())
    assert n_params == 30_370_060  # rosinality config-f g_ema
    assert StyleGAN2Generator(StyleGAN2Config(size=512)).num_ws == 16

    pg = PGGANGenerator(PGGANConfig(resolution=1024, z_space_dim=512, fmaps_base=16384, fmaps_max=512))
    state = pg.state_dict()
    assert state["layer0.weight"].shape == (512, 512, 4, 4)
    assert state["layer17.weight"].shape == (16, 16, 3, 3)
    assert state["output8.weight"].shape == (3, 16, 1, 1)
    assert sum(p.numel() for p in pg.parameters()) == 23_079_115  # ProgGAN-1024 generator (paper: 23.1M)
