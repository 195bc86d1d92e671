"""The generator protocol: seeded sampling, spaces, shapes, truncation, clear errors."""
from __future__ import annotations

import pytest
import torch

from contraclip_core.generators import seeded_normal
from contraclip_core.generators.pggan import PGGANConfig, PGGANGenerator

from .conftest import fixture_config


def test_seeded_z_is_portable_and_batch_independent():
    z = seeded_normal([0, 1, 2], 8)
    # torch's CPU generator (mt19937) normal stream for seed 0: the same on every machine and OS.
    assert torch.allclose(z[0, :4], torch.tensor([1.5410, -0.2934, -2.1788, 0.5684]), atol=1e-4)
    assert torch.equal(seeded_normal([2], 8)[0], z[2])  # a code depends on its seed only
    assert not torch.equal(z[0], z[1])
    with pytest.raises(ValueError, match="seed must be an integer"):
        seeded_normal([-1], 8)


def test_sample_z_follows_device_and_dtype(tiny_stylegan2):
    z = tiny_stylegan2.sample_z([3, 4])
    assert z.shape == (2, 64) and z.dtype == torch.float32 and z.device.type == "cpu"
    assert torch.equal(tiny_stylegan2.sample_z(3)[0], z[0])


def test_spaces_and_latent_shapes(tiny_stylegan2):
    assert tiny_stylegan2.spaces == ("z", "w", "w+")
    assert tiny_stylegan2.latent_shape("w+") == (8, 64)
    z = tiny_stylegan2.sample_z([0, 1])
    assert tiny_stylegan2.encode(z, "w").shape == (2, 64) and tiny_stylegan2.encode(z, "w+").shape == (2, 8, 64)
    image = tiny_stylegan2.synthesis(tiny_stylegan2.encode(z, "w+"), "w+")
    assert image.shape == (2, 3, 32, 32) and image.dtype == torch.float32
    with pytest.raises(ValueError, match=r"a 'w\+' code for this generator has shape \(B, 8, 64\)"):
        tiny_stylegan2.synthesis(torch.zeros(2, 7, 64), "w+")
    pg = PGGANGenerator(PGGANConfig(**fixture_config("pggan_genforce_tiny")))
    with pytest.raises(ValueError, match=r"supports the latent spaces \['z'\], not 'w'"):
        pg.synthesis(torch.zeros(1, 64), "w")


def test_truncation_pulls_toward_the_average(tiny_stylegan2):
    z = tiny_stylegan2.sample_z(list(range(16)))
    w_avg = tiny_stylegan2.w_avg()
    far = (tiny_stylegan2.mapping(z) - w_avg).norm(dim=1)
    near = (tiny_stylegan2.mapping(z, truncation=0.5) - w_avg).norm(dim=1)
    assert torch.allclose(near, 0.5 * far, rtol=1e-5)
    assert torch.allclose(tiny_stylegan2.mapping(z, truncation=0.0), w_avg.expand(16, -1))


def test_synthesis_is_differentiable_in_the_latent(tiny_stylegan2):
    w = tiny_stylegan2.encode(tiny_stylegan2.sample_z([5]), "w+").requires_grad_(True)
    tiny_stylegan2.synthesis(w, "w+").square().mean().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
