"""The fast StyleGAN2 synthesis (generators/fast_ops.py) computes the reference's image and gradients: batched and
per-sample branches, with and without NNPACK's Winograd convolutions, in float64, and under reduced precision."""
from __future__ import annotations

import math

import pytest
import torch

from contraclip_core.generators import fast_ops
from contraclip_core.generators.ops import make_kernel, upfirdn2d
from contraclip_core.generators.stylegan2 import StyleGAN2Generator, Upsample

from .helpers import random_stylegan2


@pytest.fixture(scope="module")
def noisy_stylegan2() -> StyleGAN2Generator:
    """The weights of conftest's `random_tiny_stylegan2` (seed 0; 32 px, 32 channels: layers ≤ 8 px take the batched
    branch, 16–32 px the per-sample one on the CPU), then random noise strengths and biases. Local: no other module
    uses those. Scope: module (the tests switch its impl between them)."""
    g = random_stylegan2(seed=0)
    with torch.no_grad():  # non-zero noise strengths and biases, so the folded epilogue is really exercised
        for name, p in g.named_parameters():
            if name.endswith("noise.weight") or name.endswith("activate.bias") or name.endswith("to_rgb1.bias"):
                p.copy_(torch.randn_like(p) * 0.3)
    return g.eval().requires_grad_(False)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(4.0 / float((a.float() - b.float()).pow(2).mean()))


def test_both_branches_are_used_at_this_size(noisy_stylegan2):
    x8, x32 = torch.zeros(2, 32, 8, 8), torch.zeros(2, 32, 32, 32)
    weight = torch.zeros(32, 32, 3, 3)
    assert not fast_ops._per_sample(x8, 32, weight) and fast_ops._per_sample(x32, 32, weight)


@pytest.mark.parametrize("nnpack", [True, False])
def test_fast_matches_the_reference_forward_and_backward(noisy_stylegan2, nnpack, monkeypatch):
    monkeypatch.setattr(fast_ops, "USE_NNPACK", nnpack)
    monkeypatch.setattr(fast_ops, "WINOGRAD_MIN_CHANNELS", 0)  # this tiny model's layers all take Winograd
    monkeypatch.setattr(fast_ops, "WINOGRAD_MIN_SIZE", 0)
    if nnpack and fast_ops.nnpack_ok():
        calls = []
        real = torch._nnpack_spatial_convolution
        monkeypatch.setattr(torch, "_nnpack_spatial_convolution", lambda *a: calls.append(1) or real(*a))
    ws = torch.randn(3, noisy_stylegan2.num_ws, 64, generator=torch.Generator().manual_seed(1))
    ref_in, fast_in = ws.clone().requires_grad_(True), ws.clone().requires_grad_(True)
    ref = noisy_stylegan2.set_impl("grouped").synthesis(ref_in, "w+")
    out = noisy_stylegan2.set_impl("fast").synthesis(fast_in, "w+")
    assert out.shape == ref.shape == (3, 3, 32, 32) and ref.abs().max() > 1.0
    # Winograd's round-off is ~1e-5 relative per layer; the direct convolution's ~1e-7
    assert (out - ref).abs().max().item() < (1e-4 if nnpack else 1e-5)
    if nnpack and fast_ops.nnpack_ok():
        # each stride-1 3×3 conv (4 here) ran Winograd, at least once
        assert len(calls) >= (noisy_stylegan2.num_layers + 1) // 2
    (grad_ref,) = torch.autograd.grad(ref.square().sum(), ref_in)
    (grad_fast,) = torch.autograd.grad(out.square().sum(), fast_in)
    assert ((grad_fast - grad_ref).abs().max() / grad_ref.abs().max()).item() < 1e-4
    # and one sample's image does not depend on the others in its batch
    with torch.no_grad():
        assert (noisy_stylegan2.synthesis(ws[1:2], "w+") - out[1:2]).abs().max().item() < 1e-4


def test_fast_in_float64_is_exact_to_the_reference(noisy_stylegan2):
    g = StyleGAN2Generator(noisy_stylegan2.config).double()
    g.load_state_dict(noisy_stylegan2.state_dict())
    ws = torch.randn(2, g.num_ws, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = g.set_impl("grouped").synthesis(ws, "w+")
        out = g.set_impl("fast").synthesis(ws, "w+")
    assert out.dtype == torch.float64 and (out - ref).abs().max().item() < 1e-12


def test_skip_upsampling_is_upfirdn2d(noisy_stylegan2):
    up = Upsample([1, 3, 3, 1])
    x = torch.randn(2, 3, 8, 8)
    expected = upfirdn2d(x, make_kernel([1, 3, 3, 1]) * 4, up=2, pad=up.pad)
    assert (fast_ops._upsample_skip(up, x) - expected).abs().max().item() < 1e-6


def test_weights_cache_follows_weight_changes(noisy_stylegan2):
    g = StyleGAN2Generator(noisy_stylegan2.config)
    g.load_state_dict(noisy_stylegan2.state_dict())
    g.eval().requires_grad_(False)
    ws = torch.randn(1, g.num_ws, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = g.synthesis(ws, "w+")
        g.convs[1].conv.weight.mul_(0.5).add_(0.1)  # an in-place change bumps the version: the cache must refresh
        after_fast = g.synthesis(ws, "w+")
        after_ref = g.set_impl("grouped").synthesis(ws, "w+")
    assert (after_fast - before).abs().max() > 1e-2
    assert (after_fast - after_ref).abs().max().item() < 1e-4


def test_bf16_autocast_runs_the_top_resolutions_in_bf16_and_stays_close(noisy_stylegan2):
    ws = torch.randn(2, noisy_stylegan2.num_ws, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = noisy_stylegan2.set_impl("fast").synthesis(ws, "w+")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = noisy_stylegan2.synthesis(ws, "w+")
    assert low.dtype == torch.float32  # the RGB sum stays fp32, as in StyleGAN2-ADA
    assert 30 < psnr(low, ref) < 90  # close, and really reduced


def test_fp16_clamps_activations_like_nvidia(noisy_stylegan2, monkeypatch):
    """In fp16 every conv output is clamped to ±256 (StyleGAN2-ADA's fp16 layers); in fp32 nothing is."""
    seen: list[tuple[torch.dtype, float]] = []
    original = fast_ops._epilogue

    def spy(y, noise, noise_gain, clamp, out_format):
        out = original(y, noise, noise_gain, clamp, out_format)
        seen.append((out.dtype, float(out.abs().max())))
        return out

    monkeypatch.setattr(fast_ops, "_epilogue", spy)
    monkeypatch.setattr(fast_ops, "FP16_CLAMP", 0.5)  # small enough that these random weights hit it
    ws = torch.randn(1, noisy_stylegan2.num_ws, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        noisy_stylegan2.set_impl("fast")._synthesize_ws(ws)
        assert max(m for _, m in seen) > 0.5
        seen.clear()
        with torch.autocast("cpu", dtype=torch.float16):
            image = noisy_stylegan2._synthesize_ws(ws)
    reduced = [m for dtype, m in seen if dtype == torch.float16]
    assert reduced and max(reduced) <= 0.5 and torch.isfinite(image).all()


def test_winograd_only_where_it_pays():
    """NNPACK's Winograd runs for wide layers on large enough images (fp32, CPU); narrow or small layers run the
    direct convolution in channels_last, which measured faster there (no layout copies, no padded tiles)."""
    cpu = torch.device("cpu")
    if not fast_ops.nnpack_ok():
        pytest.skip("this torch build has no NNPACK")
    assert fast_ops.winograd(cpu, torch.float32, 512, 64) and fast_ops.winograd(cpu, torch.float32, 256, 128)
    assert not fast_ops.winograd(cpu, torch.float32, 128, 256)  # narrow: the copies cost more
    assert not fast_ops.winograd(cpu, torch.float32, 512, 8)  # small: mostly padding
    assert not fast_ops.winograd(cpu, torch.bfloat16, 512, 64)
