"""Whitened path coordinates (issue 14's conditioning lever): the map, the file format, the trainer's use of it."""
from __future__ import annotations

import json

import pytest
import torch

from contraclip_core.errors import WeightsError
from contraclip_core.methods.contraclip.model import LatentSupportSets, LinearPaths
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.methods.contraclip.whitening import LatentWhitening


def correlated(n: int, block: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(block, block, generator=g) * torch.logspace(-1, 1, block)  # eigenvalue ratio ~10⁴
    mean = torch.randn(block, generator=g)
    return torch.randn(n, block, generator=g) @ mix.T + mean, mean, mix @ mix.T


def test_fit_whitens_and_lift_inverts_the_map_blockwise():
    samples, mean, cov = correlated(20000, 6)
    w = LatentWhitening.fit(samples, block=6)
    u = w.to_u(samples)
    assert torch.allclose(torch.cov(u.T), torch.eye(6), atol=1e-2)  # whitened: identity covariance (raw: up to ~10²)
    assert torch.allclose(w.mean, mean, atol=0.05 * cov.diagonal().sqrt().max())
    # three W+ rows: each 6-block whitened alike; lift maps a difference in u to the difference in w
    a, b = samples[:5].repeat(1, 3), samples[5:10].repeat(1, 3)
    assert torch.allclose(w.lift(w.to_u(b) - w.to_u(a)), b - a, atol=1e-3)
    assert w.condition_number() > 1e3
    with pytest.raises(ValueError, match="multiple"):
        LatentWhitening.fit(torch.randn(10, 7), block=6)


@pytest.mark.parametrize("kind", ["linear", "contraclip"])
def test_whitened_paths_step_one_unit_in_u_and_survive_save_and_load(kind, tmp_path):
    samples, _, _ = correlated(5000, 4)
    whitening = LatentWhitening.fit(samples, block=4)
    lss = LinearPaths(2, 8) if kind == "linear" else LatentSupportSets(2, 3, 8, torch.tensor([1.0, 1.2]))
    lss.whitening = whitening
    x, k = samples[:6].repeat(1, 2), torch.tensor([0, 1, 0, 1, 0, 1])
    step = lss.direction(x, k)
    assert torch.allclose(whitening.to_u(x + step) - whitening.to_u(x), torch.nn.functional.normalize(
        whitening.to_u(x + step) - whitening.to_u(x), dim=-1), atol=1e-4)  # a unit step in u
    assert not torch.allclose(step.norm(dim=-1), torch.ones(6), atol=1e-2)  # not a unit step in w
    ps = PathSet(lss=lss, dipoles=[("a", "b"), ("c", "d")], generator="test", space="w+", layers=1,
                 truncation=1.0, latent_shape=(3, 4))
    ps.save(tmp_path / "ps")
    assert json.loads((tmp_path / "ps" / "paths.json").read_text())["whitening_block"] == 4
    loaded = PathSet.load(tmp_path / "ps")
    assert torch.allclose(loaded.lss.direction(x, k), step, atol=1e-6)


def test_a_damaged_whitening_is_refused_with_a_sentence(tmp_path):
    from safetensors.torch import load_file, save_file

    lss = LinearPaths(1, 4)
    lss.whitening = LatentWhitening.fit(correlated(1000, 4)[0], block=4)
    ps = PathSet(lss=lss, dipoles=[("a", "b")], generator="test", space="w", layers=0, truncation=1.0,
                 latent_shape=(4,))
    ps.save(tmp_path / "ps")
    weights = tmp_path / "ps" / "paths.safetensors"
    state = load_file(weights)
    state["whitening.chol"] = state["whitening.chol"].T.contiguous()  # upper triangular: not a Cholesky factor
    save_file(state, weights)
    with pytest.raises(WeightsError, match="Cholesky"):
        PathSet.load(tmp_path / "ps")
    meta = json.loads((tmp_path / "ps" / "paths.json").read_text())
    meta["whitening_block"] = 3  # does not divide the width 4
    (tmp_path / "ps" / "paths.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="whitening_block"):
        PathSet.load(tmp_path / "ps")


def test_the_trainer_fits_w_statistics_and_paths_step_in_them():
    from contraclip_core.clip import load_shapes_clip
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip.train import TrainConfig, Trainer

    g = from_pretrained("shapes-128")
    trainer = Trainer(TrainConfig(dipoles=[("a red shape", "a blue shape")], generator="shapes-128", iterations=2,
                                  num_pairs=2, whiten=True, lr=1e-2), g, load_shapes_clip())
    whitening = trainer.paths.whitening
    assert whitening is not None and whitening.block == 32 and whitening.condition_number() > 100  # W: ≈ 290
    ps = trainer.train()
    assert ps.lss.whitening is whitening and ps.metadata()["whitening_block"] == 32
