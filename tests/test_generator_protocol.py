"""The generator protocol: seeded sampling, spaces, shapes, truncation, clear errors."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from contraclip_core.generators import seeded_normal
from contraclip_core.generators.pggan import PGGANConfig, PGGANGenerator
from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

from .conftest import FIXTURES, fixture_config


@pytest.fixture(scope="module")
def sg2() -> StyleGAN2Generator:
    g = StyleGAN2Generator(StyleGAN2Config(**fixture_config("stylegan2_rosinality_tiny")))
    state = load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors")
    state["latent_avg"] = load_file(FIXTURES / "stylegan2_rosinality_tiny.io.safetensors")["w_avg"]
    g.load_state_dict(state)
    return g.eval().requires_grad_(False)


def test_seeded_z_is_portable_and_batch_independent():
    z = seeded_normal([0, 1, 2], 8)
    # torch's CPU generator (mt19937) normal stream for seed 0: the same on every machine and OS.
    assert torch.allclose(z[0, :4], torch.tensor([1.5410, -0.2934, -2.1788, 0.5684]), atol=1e-4)
    assert torch.equal(seeded_normal([2], 8)[0], z[2])  # a code depends on its seed only
    assert not torch.equal(z[0], z[1])
    with pytest.raises(ValueError, match="seed must be an integer"):
        seeded_normal([-1], 8)


def test_sample_z_follows_device_and_dtype(sg2):
    z = sg2.sample_z([3, 4])
    assert z.shape == (2, 64) and z.dtype == torch.float32 and z.device.type == "cpu"
    assert torch.equal(sg2.sample_z(3)[0], z[0])


def test_spaces_and_latent_shapes(sg2):
    assert sg2.spaces == ("z", "w", "w+")
    assert sg2.latent_shape("w+") == (8, 64)
    z = sg2.sample_z([0, 1])
    assert sg2.encode(z, "w").shape == (2, 64) and sg2.encode(z, "w+").shape == (2, 8, 64)
    image = sg2.synthesis(sg2.encode(z, "w+"), "w+")
    assert image.shape == (2, 3, 32, 32) and image.dtype == torch.float32
    with pytest.raises(ValueError, match=r"a 'w\+' code for this generator has shape \(B, 8, 64\)"):
        sg2.synthesis(torch.zeros(2, 7, 64), "w+")
    pg = PGGANGenerator(PGGANConfig(**fixture_config("pggan_genforce_tiny")))
    with pytest.raises(ValueError, match=r"supports the latent spaces \['z'\], not 'w'"):
        pg.synthesis(torch.zeros(1, 64), "w")


def test_truncation_pulls_toward_the_average(sg2):
    z = sg2.sample_z(list(range(16)))
    w_avg = sg2.w_avg()
    far = (sg2.mapping(z) - w_avg).norm(dim=1)
    near = (sg2.mapping(z, truncation=0.5) - w_avg).norm(dim=1)
    assert torch.allclose(near, 0.5 * far, rtol=1e-5)
    assert torch.allclose(sg2.mapping(z, truncation=0.0), w_avg.expand(16, -1))


def test_synthesis_is_differentiable_in_the_latent(sg2):
    w = sg2.encode(sg2.sample_z([5]), "w+").requires_grad_(True)
    sg2.synthesis(w, "w+").square().mean().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
