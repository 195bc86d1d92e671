"""Support sets, directions and losses: formulas against autograd, conventions, and masking."""
from __future__ import annotations

import math

import pytest
import torch

from contraclip_core.methods.contraclip.losses import contrastive_loss, cosine_loss
from contraclip_core.training_loop import step_decay_lr
from contraclip_core.methods.contraclip.model import (CorpusSupportSets, LatentSupportSets, LatentView, LinearPaths, jung_radius)


def test_latent_support_sets_initialisation():
    radii = torch.tensor([1.0, 2.0, 3.0])
    lss = LatentSupportSets(num_paths=3, num_pairs=4, dim=5, radii=radii, beta=0.5, seed=1)
    sv = lss.support_sets.detach()  # (3, 8, 5)
    assert sv.shape == (3, 8, 5)
    assert torch.allclose(sv[:, 0::2], -sv[:, 1::2])  # antipodal pairs (v, −v)
    assert torch.allclose(sv.norm(dim=-1), radii.view(3, 1).expand(3, 8))
    assert lss.alpha.tolist() == [1.0, -1.0] * 4 and "alpha" in dict(lss.named_buffers())
    assert torch.allclose(lss.log_gamma.exp(), -math.log(0.5) / (2 * radii) ** 2)
    assert {n for n, _ in lss.named_parameters()} == {"support_sets", "log_gamma"}


def test_latent_gradient_matches_autograd():
    lss = LatentSupportSets(2, 3, 6, radii=[1.5, 2.5], seed=0)
    w = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    paths = torch.tensor([0, 1, 1, 0])
    lss = lss.double()
    sv, gamma = lss.support_sets[paths], lss.log_gamma.exp()[paths]
    f = (lss.alpha * torch.exp(-gamma[:, None] * (w[:, None] - sv).square().sum(-1))).sum()
    (auto,) = torch.autograd.grad(f, w)
    assert torch.allclose(lss.gradient(w, paths), auto, atol=1e-12)
    assert torch.allclose(lss.direction(w, paths).norm(dim=1), torch.ones(4, dtype=torch.float64))


def test_corpus_direction_points_to_the_first_sentence():
    torch.manual_seed(0)
    pos, neg = torch.randn(2, 16), torch.randn(2, 16)
    css = CorpusSupportSets(pos, neg, beta=0.5)
    assert torch.allclose(css.gamma, -math.log(0.5) / (neg - pos).square().sum(-1))
    e = torch.randn(5, 16, requires_grad=True)
    k = torch.tensor([0, 1, 0, 1, 1])
    s = css.support_sets[k]
    f = (torch.exp(-css.gamma[k][:, None] * (e[:, None] - s).square().sum(-1)) * css.alpha).sum()
    (auto,) = torch.autograd.grad(f, e)
    assert torch.allclose(css.gradient(e, k), auto, atol=1e-6)
    # At the midpoint the direction is exactly (s⁺ − s⁻)/‖·‖; a small step along it gets nearer t⁺ than t⁻.
    mid = (pos + neg) / 2
    u = css.direction(mid, torch.tensor([0, 1]))
    assert torch.allclose(u, torch.nn.functional.normalize(pos - neg, dim=1), atol=1e-6)
    moved = mid + 0.1 * u
    assert ((moved - pos).norm(dim=1) < (moved - neg).norm(dim=1)).all()


def test_jung_radius():
    two_points = torch.tensor([[0.0], [2.0]])
    assert jung_radius(two_points) == pytest.approx(2.0 * math.sqrt(1 / 4))
    cube = torch.tensor([[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)])
    assert jung_radius(cube) == pytest.approx(math.sqrt(3) * math.sqrt(3 / 8))


def test_latent_view_wplus_moves_only_the_first_layers():
    view = LatentView("w+", (6, 4), layers=2)
    assert view.dim == 12
    latent = torch.randn(3, 6, 4)
    flat = view.flat(latent)
    assert torch.equal(view.merge(flat, latent), latent)
    moved = view.merge(flat + 1.0, latent)
    assert torch.allclose(moved[:, :3], latent[:, :3] + 1.0) and torch.equal(moved[:, 3:], latent[:, 3:])
    with pytest.raises(ValueError, match="layers must be in"):
        LatentView("w+", (6, 4), layers=6)


def test_contrastive_loss_prefers_matching_columns_and_masks_same_path():
    t = torch.eye(4)
    aligned = contrastive_loss(t, t, tau=0.07)
    shuffled = contrastive_loss(t, t[[1, 0, 3, 2]], tau=0.07)
    assert aligned < 1e-4 < 1.0 < shuffled
    # Two samples of the same path whose Δt differ slightly: without the mask each is the other's hard negative.
    de = torch.tensor([[1.0, 0.0], [1.0, 0.1]])
    dt = torch.tensor([[1.0, 0.05], [1.0, 0.08]])
    unmasked = contrastive_loss(de, dt, tau=0.07)
    masked = contrastive_loss(de, dt, tau=0.07, paths=torch.tensor([0, 0]))
    assert masked < 1e-6 < 0.5 < unmasked
    # Extra negatives enter the softmax: one equal to the target doubles the partition function.
    extra = dt.unsqueeze(1)  # (B, 1, E)
    with_extra = contrastive_loss(de, dt, tau=0.07, paths=torch.tensor([0, 0]), extra_negatives=extra)
    assert with_extra == pytest.approx(math.log(2), abs=1e-3)


def test_cosine_loss_and_lr_schedule():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert cosine_loss(a, 3 * a) == pytest.approx(0.0, abs=1e-6)
    assert cosine_loss(a, -a) == pytest.approx(2.0)
    assert step_decay_lr(1e-4, 899, 1000) == 1e-4 and step_decay_lr(1e-4, 900, 1000) == pytest.approx(1e-5)


def test_linear_paths_are_constant():
    lin = LinearPaths(2, 3, seed=0)
    k = torch.tensor([1, 1])
    u = lin.direction(torch.randn(2, 3) * 10, k)
    assert torch.allclose(u[0], u[1]) and torch.allclose(u.norm(dim=1), torch.ones(2))
