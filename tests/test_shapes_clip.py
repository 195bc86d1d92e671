"""The tiny Shapes CLIP: shipped weights, zero-shot quality bars, preprocessing, captions and the loss."""
from __future__ import annotations

import json
import math

import pytest
import torch

from contraclip_core.clip import SHAPES_CLIP_DIR, SHAPES_CLIP_WEIGHTS, ClipModel, load_shapes_clip, preprocess
from contraclip_core.generators.loading import from_pretrained
from contraclip_core.generators.shapes import ShapesGenerator
from contraclip_core.shapes_clip.captions import (FACTOR_NAMES, FACTORS, NOT_APPLICABLE, caption, caption_matches, prompts,
                                                  random_captions, swapped_shape_captions)
from contraclip_core.shapes_clip.evaluate import BARS, zero_shot
from contraclip_core.shapes_clip.train import hue_variant, multi_positive_clip_loss, render_pool, turned_variant

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


@pytest.fixture(scope="module")
def clip() -> ClipModel:
    return load_shapes_clip()


@pytest.fixture(scope="module")
def G() -> ShapesGenerator:
    return from_pretrained("shapes-128")


def test_shipped_weights_are_small_fp16_safetensors() -> None:
    from safetensors import safe_open

    path = SHAPES_CLIP_DIR / SHAPES_CLIP_WEIGHTS
    assert path.stat().st_size <= 10 * 1024**2
    with safe_open(str(path), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes == {torch.float16}
    config = json.loads((SHAPES_CLIP_DIR / "shapes-clip.json").read_text())
    assert config["vision_cfg"]["image_size"] == 64


def test_loaded_model_is_ready(clip: ClipModel) -> None:
    assert clip.image_size == 64 and clip.mean == pytest.approx(MEAN) and clip.std == pytest.approx(STD)
    assert not clip.model.training
    assert next(clip.model.parameters()).dtype == torch.float32
    # the longest caption of eight factors fits (of nine, only "cyan" and "tilted" together run one token over: the
    # tokenizer drops the last word, "background", of those few training captions)
    tokens = clip.tokenizer([caption({"size": "small", "brightness": "bright", "saturation": "vivid", "colour": "cyan",
                                      "shape": "triangle", "horizontal": "right", "vertical": "bottom",
                                      "background": "light"})])
    assert tokens.shape == (1, clip.model.context_length) and tokens[0, -1] == 0


@pytest.fixture(scope="module")
def zero_shot_result(clip: ClipModel, G: ShapesGenerator):
    return zero_shot(clip, G, num_images=400)  # held-out seeds, disjoint from training


@pytest.mark.parametrize("factor", ["colour", "size", "horizontal", "brightness", "saturation", "rotation"])
def test_zero_shot_accuracy_meets_the_bars(zero_shot_result, factor: str) -> None:
    assert zero_shot_result.accuracy[factor] >= BARS[factor], zero_shot_result.table()


def test_zero_shot_vertical_position(zero_shot_result) -> None:
    assert zero_shot_result.accuracy["vertical"] >= 0.85, zero_shot_result.table()


def test_zero_shot_shape_meets_the_bar(zero_shot_result) -> None:
    assert zero_shot_result.accuracy["shape"] >= BARS["shape"], zero_shot_result.table()


def test_preprocess_maps_a_constant_image_to_the_normalised_constant() -> None:
    images = torch.full((2, 3, 128, 128), 0.2)  # generator range [-1, 1] → 0.6 in [0, 1]
    out = preprocess(images, 64, MEAN, STD)
    assert out.shape == (2, 3, 64, 64)
    expected = (0.6 - torch.tensor(MEAN)) / torch.tensor(STD)  # (3,)
    torch.testing.assert_close(out, expected.view(1, 3, 1, 1).expand(2, 3, 64, 64), atol=1e-5, rtol=1e-5)
    clipped = preprocess(torch.full((1, 3, 64, 64), 3.0), 64, MEAN, STD)  # out-of-range values clamp to 1
    torch.testing.assert_close(clipped[0, :, 0, 0], (1 - torch.tensor(MEAN)) / torch.tensor(STD))


def test_preprocess_resizes_a_ramp_to_the_ramp_and_is_differentiable() -> None:
    # A horizontal ramp in [0, 1]: an antialiased (triangle-filter) resize keeps a linear function linear, so each
    # interior output pixel is the ramp's value at that pixel's centre.
    coords = (torch.arange(128) + 0.5) / 128  # (128,) pixel centres in [0, 1]
    images = (coords * 2 - 1).view(1, 1, 1, 128).expand(1, 3, 128, 128).clone().requires_grad_(True)
    out = preprocess(images, 64, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # (1, 3, 64, 64) in [0, 1]
    centres = (torch.arange(64) + 0.5) / 64
    torch.testing.assert_close(out[0, 0, 10, 2:-2], centres[2:-2], atol=1e-5, rtol=0)
    out[:, 0].sum().backward()
    grad = images.grad
    assert grad[:, 0].sum() == pytest.approx(64 * 64 / 2, rel=1e-4)  # each output is a weighted mean: ½ per input
    assert grad[:, 1:].abs().sum() == 0  # channels do not mix


def test_clip_gradient_reaches_the_latent(clip: ClipModel, G: ShapesGenerator) -> None:
    w = G.mapping(G.sample_z([5])).requires_grad_(True)
    text = clip.encode_text(["a red shape"], normalize=True)
    similarity = (clip.encode_images(G(w, "w"), normalize=True) * text).sum()
    similarity.backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_captions_and_their_matches() -> None:
    assert caption({"size": "large", "colour": "red", "shape": "circle", "horizontal": "left"}) == (
        "a large red circle on the left"
    )
    assert prompts("colour")[0] == "a red shape" and prompts("shape") == ["a circle", "a square", "a triangle"]
    na = NOT_APPLICABLE
    labels = torch.tensor([[2, 0, 0, 0, 0, 0, 1, 1, na], [0, 0, 1, 2, 2, 1, 0, 0, 1]])  # large red circle … / small red square …
    texts, mentioned = random_captions(labels, torch.Generator().manual_seed(0))
    assert len(texts) == 2 and mentioned.any(1).all()
    only_colour = torch.zeros(2, len(FACTOR_NAMES), dtype=torch.bool)
    only_colour[:, 1] = True
    assert caption_matches(labels, labels, only_colour).all()  # "a red shape" is true of both
    only_shape = torch.zeros_like(only_colour)
    only_shape[:, 2] = True
    assert torch.equal(caption_matches(labels, labels, only_shape), torch.eye(2, dtype=torch.bool))


def test_multi_positive_loss_prefers_the_true_pairs() -> None:
    matches = torch.eye(4, dtype=torch.bool)
    matches[0, 1] = matches[1, 0] = True  # captions 0 and 1 are both true of images 0 and 1
    right = torch.where(matches, 10.0, -10.0)
    wrong = torch.where(matches, -10.0, 10.0)
    # With two equally true captions the best achievable loss is the targets' entropy: ln 2 on 2 of 4 rows.
    assert multi_positive_clip_loss(right, matches) == pytest.approx(math.log(2) / 2, abs=1e-3)
    assert multi_positive_clip_loss(wrong, matches) > 10


def test_shape_triplets_differ_only_in_shape(G: ShapesGenerator) -> None:
    images, labels = render_pool(G, range(2), 64, MEAN, STD, variants=3)  # (2, 3, 3, 64, 64), (2, 3, 9)
    shape = FACTOR_NAMES.index("shape")
    assert sorted(labels[0, :, shape].tolist()) == [0, 1, 2]  # the three variants are the three shapes
    rotation = FACTOR_NAMES.index("rotation")  # whose label depends on the shape (a circle has none)
    others = [i for i in range(len(FACTOR_NAMES)) if i not in (shape, rotation)]
    assert (labels[:, :, others] == labels[:, :1, others]).all()  # and agree on everything else
    assert ((labels[:, :, shape] == 0) == (labels[:, :, rotation] == NOT_APPLICABLE)).all()
    torch.testing.assert_close(images[:, 0], render_pool(G, range(2), 64, MEAN, STD)[0][:, 0])  # variant 0 = the seed
    assert (images[0, 0] - images[0, 1]).abs().max() > 0.5


def test_swapped_shape_captions_are_hard_negatives() -> None:
    labels = torch.tensor([[2, 0, 0, 0, 0, 0, 1, 1, NOT_APPLICABLE], [0, 2, 1, 2, 2, 1, 1, 1, 0]])
    mentioned = torch.zeros(2, len(FACTOR_NAMES), dtype=torch.bool)
    mentioned[0, :3] = True  # "a large red circle"
    mentioned[1, 1] = True  # "a yellow shape": names no shape, gets no counterfactual
    texts, new_labels, new_mentioned = swapped_shape_captions(labels, mentioned)
    assert texts == ["a large red square", "a large red triangle"]
    matches = caption_matches(labels, torch.cat([labels, new_labels]), torch.cat([mentioned, new_mentioned]))
    assert matches.tolist() == [[True, False, False, False], [False, True, False, False]]
    logits = torch.where(matches, 5.0, -5.0)
    assert torch.isfinite(multi_positive_clip_loss(logits, matches))  # captions true of no image are negatives only


def test_every_colour_word_is_named_right(clip: ClipModel, G: ShapesGenerator) -> None:
    """Issue 29: every colour word (orange, purple and pink among them) ≥ 90% of its renders named right, on the
    2,000 held-out renders docs/SHAPES.md reports (≥ 120 of the rarest colour)."""
    result = zero_shot(clip, G, num_images=2000)
    words = result.class_accuracy("colour")
    assert set(words) == set(FACTORS["colour"]) and {"orange", "purple", "pink"} <= set(words)
    assert min(words.values()) >= 0.90, words


def test_factors_that_do_not_apply_are_never_named() -> None:
    """A circle's rotation and a grey's saturation are never named, and a caption naming them is true of no such
    image; a row whose only drawn factors do not apply names another one."""
    na = NOT_APPLICABLE
    grey_circle = torch.tensor([[1, 9, 0, 1, 1, 0, 1, na, na]] * 64)
    texts, mentioned = random_captions(grey_circle, torch.Generator().manual_seed(1))
    assert mentioned.any(1).all() and not mentioned[:, [7, 8]].any()
    assert not any(w in t.split() for t in texts for w in ("pale", "vivid", "upright", "tilted"))
    tilted = torch.zeros(1, len(FACTOR_NAMES), dtype=torch.bool)
    tilted[0, 8] = True
    assert not caption_matches(grey_circle[:1], torch.tensor([[1, 9, 0, 1, 1, 0, 1, 1, 1]]), tilted).any()
    assert caption({"rotation": "upright", "shape": "square"}) == "an upright square"
    assert caption({"colour": "orange"}) == "an orange shape" and prompts("brightness") == ["a dim shape", "a bright shape"]


def test_rotation_pairs_are_the_same_shape_upright_and_tilted(G: ShapesGenerator) -> None:
    images, labels = render_pool(G, range(6), 64, MEAN, STD, extra=(turned_variant,))  # (6, 2, …), (6, 2, 9)
    rotation, shape = FACTOR_NAMES.index("rotation"), FACTOR_NAMES.index("shape")
    others = [i for i in range(len(FACTOR_NAMES)) if i != rotation]
    assert (labels[:, 1, others] == labels[:, 0, others]).all()  # only the turn differs
    turnable = labels[:, 0, shape] != 0
    assert turnable.any() and (labels[turnable, 1, rotation] == 1 - labels[turnable, 0, rotation]).all()
    assert (labels[~turnable, :, rotation] == NOT_APPLICABLE).all()
    assert (images[turnable, 0] - images[turnable, 1]).abs().amax((1, 2, 3)).min() > 0.5


def test_hue_pairs_turn_only_the_hue_by_30_degrees(G: ShapesGenerator) -> None:
    z = G.sample_z(list(range(8)))
    attrs = G.attributes(G.mapping(z), "w")
    turned = hue_variant(attrs)
    change = torch.remainder(turned["hue"] - attrs["hue"] + math.pi, 2 * math.pi) - math.pi
    assert change.tolist() == pytest.approx([math.pi / 6, -math.pi / 6] * 4, abs=1e-5)
    assert all(torch.equal(turned[k], attrs[k]) for k in attrs if k != "hue")
