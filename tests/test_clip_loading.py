"""ViT-B/32 loads through the real Hub code path (from a populated local HF cache) and open_clip; cached texts."""
from __future__ import annotations

import open_clip
import pytest
import torch
from safetensors.torch import save_file

from contraclip_core import hub
from contraclip_core.clip import cached_text_embeddings, load_clip, preprocess
from contraclip_core.errors import HubUnavailableError

from .conftest import populate_hf_cache


@pytest.fixture()
def offline_hf_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_vit_b32_loads_from_the_hub_cache_with_quickgelu(tmp_path, offline_hf_cache):
    torch.manual_seed(0)
    reference = open_clip.create_model("ViT-B-32", force_quick_gelu=True).eval()
    weights = tmp_path / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, weights)
    populate_hf_cache(offline_hf_cache, "timm/vit_base_patch32_clip_224.openai", {"open_clip_model.safetensors": weights})

    clip = load_clip("ViT-B-32/openai")
    assert clip.image_size == 224 and clip.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    images = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        expected = reference.encode_image(preprocess(images, 224, clip.mean, clip.std))
        assert torch.allclose(clip.encode_images(images), expected, atol=1e-5)
    text = cached_text_embeddings(clip, ["a photo of a smiling face.", "a photo of a sad face."])
    assert text.shape == (2, 512)
    with torch.no_grad():
        assert torch.allclose(text[1], reference.encode_text(open_clip.tokenize(["a photo of a sad face."]))[0],
                              atol=1e-5)


def test_vit_b32_offline_without_cache_is_a_clear_error(offline_hf_cache):
    with pytest.raises(HubUnavailableError, match="the CLIP model ViT-B-32/openai needs hf://timm/"):
        load_clip("ViT-B-32/openai")
