"""CLIP under the CPU's bf16 autocast (contraclip_core/clip.py): the image tower runs as a bf16 copy with autocast off
and batch-first attention computed in place — the same function as the fp32 tower to bf16 round-off, gradients
reaching the images — because autocast re-cast every weight on every call and torch's attention module fell to a
batched matmul over weight copies when the input needed a gradient (a ViT-B/32 step 6.5× slower than this)."""
from __future__ import annotations

import json

import open_clip
import pytest
import torch
from torch import nn

from contraclip_core.clip import BatchFirstAttention, _wrap, batched_attention


def test_batch_first_attention_is_torchs_module_computed_without_transposes():
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(32, 4, batch_first=True).double()
    x = torch.randn(3, 7, 32, dtype=torch.float64, requires_grad=True)
    ref = attn(x, x, x, need_weights=False)[0]
    (g_ref,) = torch.autograd.grad(ref.square().sum(), x)
    out, weights = BatchFirstAttention(attn)(x, x, x, need_weights=False)
    (g_out,) = torch.autograd.grad(out.square().sum(), x)
    assert weights is None and torch.allclose(out, ref, atol=1e-12) and torch.allclose(g_out, g_ref, atol=1e-12)
    mask = torch.zeros(7, 7, dtype=torch.float64)
    mask[:, -1] = float("-inf")  # a masked call is the module's own
    masked = BatchFirstAttention(attn)(x, x, x, need_weights=False, attn_mask=mask)[0]
    assert torch.allclose(masked, attn(x, x, x, need_weights=False, attn_mask=mask)[0])
    tower = nn.Sequential(nn.Sequential(nn.MultiheadAttention(8, 2, batch_first=True)), nn.MultiheadAttention(8, 2))
    batched_attention(tower)
    assert isinstance(tower[0][0], BatchFirstAttention) and isinstance(tower[1], nn.MultiheadAttention)


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A small random open_clip ViT (32 px, 8-px patches, 2 layers of width 64): the architecture of ViT-B/32."""
    config = {"embed_dim": 32, "quick_gelu": True,
              "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 16},
              "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    path = tmp_path_factory.mktemp("clip") / "tiny-vit-test.json"
    path.write_text(json.dumps(config))
    open_clip.add_model_config(path)
    torch.manual_seed(0)
    return _wrap(open_clip.create_model("tiny-vit-test"), "tiny-vit-test", "cpu", torch.float32)


def test_under_cpu_bf16_autocast_clip_runs_a_bf16_copy_close_to_fp32(tiny_vit):
    clip = tiny_vit
    images = (torch.rand(4, 3, 48, 48) * 2 - 1).requires_grad_(True)
    reference = clip.encode_images(images, normalize=True)
    assert clip.bf16_tower is None  # fp32: nothing copied
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reduced = clip.encode_images(images, normalize=True)
    assert clip.bf16_tower is not None and reduced.dtype == torch.bfloat16
    assert next(clip.model.visual.parameters()).dtype == torch.float32  # the model itself is untouched
    assert (reference * reduced.float()).sum(-1).min() > 0.99
    (grad,) = torch.autograd.grad(reduced.float().sum(), images)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()
    with torch.autocast("cpu", dtype=torch.float16):  # fp16 (a T4's mode) is autocast's own
        assert clip.encode_images(images).dtype == torch.float16
