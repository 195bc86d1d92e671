"""Training mechanics on the Shapes world with an untrained tiny CLIP: fast, and independent of CLIP quality."""
from __future__ import annotations

import json
import math

import open_clip
import pytest
import torch

from contraclip_core.clip import ClipModel
from contraclip_core.errors import WeightsError
from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.methods.contraclip.train import Progress, TrainConfig, Trainer

DIPOLES = [("a red shape", "a blue shape"), ("a large shape", "a small shape"), ("a circle", "a square")]


@pytest.fixture(scope="module")
def random_clip() -> ClipModel:
    open_clip.add_model_config("contraclip_core/shapes_clip/shapes-clip.json")
    torch.manual_seed(0)
    model = open_clip.create_model("shapes-clip").eval().requires_grad_(False)
    cfg = model.visual.preprocess_cfg
    return ClipModel(model, open_clip.get_tokenizer("shapes-clip"), int(model.visual.image_size[0]),
                     tuple(cfg["mean"]), tuple(cfg["std"]))


def config(**kw) -> TrainConfig:
    values = dict(dipoles=DIPOLES, iterations=6, lr=1e-2, num_pairs=4, checkpoint_every=3, seed=3)
    return TrainConfig(**(values | kw))


def test_resume_continues_exactly(shapes_generator, random_clip, tmp_path):
    straight = Trainer(config(), shapes_generator, random_clip)
    straight.train()
    ckpt = tmp_path / "ckpt.pt"
    first = Trainer(config(iterations=6), shapes_generator, random_clip)
    first.train(checkpoint=ckpt, callback=lambda p: p.iteration < 3)  # "crash" after the checkpoint at 3
    assert first.iteration == 3
    resumed = Trainer(config(), shapes_generator, random_clip)
    resumed.train(checkpoint=ckpt)
    assert resumed.iteration == 6
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6)
    for a, b in zip(straight.paths.parameters(), resumed.paths.parameters()):
        assert torch.allclose(a, b, atol=1e-7)


def test_no_duplicate_paths_when_batch_fits(shapes_generator, random_clip):
    trainer = Trainer(config(batch_size=3), shapes_generator, random_clip)
    for _ in range(5):
        _, paths, eps = trainer._sample()
        assert sorted(paths.tolist()) == [0, 1, 2]
        assert ((eps.abs() >= 0.5) & (eps.abs() <= 1.0)).all()


def test_progress_callback_and_path_file(shapes_generator, random_clip, tmp_path):
    seen: list[Progress] = []
    trainer = Trainer(config(), shapes_generator, random_clip)
    path_set = trainer.train(callback=seen.append)
    assert [p.iteration for p in seen] == list(range(1, 7))
    assert all(p.eta_s >= 0 and p.total == 6 for p in seen) and seen[-1].eta_s == 0
    path_set.metrics["note"] = "test"
    path_set.save(tmp_path / "ps")
    meta = json.loads((tmp_path / "ps" / "paths.json").read_text())
    for key in ("dipoles", "generator", "space", "layers", "truncation", "settings", "iterations", "metrics", "created"):
        assert key in meta
    assert meta["settings"]["lr"] == 1e-2 and meta["iterations"] == 6 and meta["space"] == "w"
    loaded = PathSet.load(tmp_path / "ps", shapes_generator)
    w = torch.randn(4, 32)
    k = torch.tensor([0, 1, 2, 0])
    assert torch.allclose(loaded.lss.direction(w, k), path_set.lss.direction(w, k), atol=1e-6)


def test_path_set_for_another_generator_is_refused(shapes_generator, random_clip, tmp_path):
    path_set = Trainer(config(iterations=1), shapes_generator, random_clip).train()
    path_set.save(tmp_path / "ps")
    other = StyleGAN2Generator(StyleGAN2Config(size=8, style_dim=16, n_mlp=1, channels={"4": 8, "8": 8}))
    with pytest.raises(WeightsError, match=r"trained for 'w' codes of shape \(32,\).*this generator's are \(16,\)"):
        PathSet.load(tmp_path / "ps", other)
    (tmp_path / "ps" / "paths.json").write_text("{junk")
    with pytest.raises(WeightsError, match="not a valid path-set description"):
        PathSet.load(tmp_path / "ps")


@pytest.mark.parametrize("bad, message", [
    (dict(dipoles=[]), "at least one dipole"),
    (dict(dipoles=[("a circle", "A circle ")]), "two different sentences"),
    (dict(dipoles=[("", "a square")]), "must not be empty"),
    (dict(loss="hinge"), "loss must be"),
])
def test_bad_configs_are_refused(shapes_generator, random_clip, bad, message):
    with pytest.raises(ValueError, match=message):
        Trainer(config(**bad), shapes_generator, random_clip)


def test_anchor_pool_embeds_each_anchor_once_and_resumes_exactly(shapes_generator, random_clip, tmp_path):
    """With ``anchor_pool`` N, a step renders and embeds only anchors it has not drawn before (then only its shifted
    images); the pool is rebuilt from its seed on resume, so a resumed run continues exactly."""
    trainer = Trainer(config(anchor_pool=5, batch_size=4, iterations=8), shapes_generator, random_clip)
    anchor_rows: list[int] = []
    compute = trainer.pool.compute
    trainer.pool.compute = lambda z: (anchor_rows.append(len(z)), compute(z))[1]
    trainer.train()
    assert sum(anchor_rows) == 5  # 32 draws from 5 anchors: each rendered and embedded once
    assert trainer.pool.ready.all()
    latent, embedding = trainer.pool.draw(torch.tensor([3, 3, 0]))
    fresh_latent, fresh_embedding = trainer._anchor(trainer.pool.z[[3, 3, 0]])
    # the pool mapped 5 codes at once, _anchor maps 3: another GEMM blocking, so equal to float32 round-off only
    assert torch.allclose(latent, fresh_latent, rtol=1e-6, atol=1e-6)
    assert torch.allclose(embedding, fresh_embedding, atol=1e-5)

    straight = Trainer(config(anchor_pool=5, batch_size=4), shapes_generator, random_clip)
    straight.train()
    ckpt = tmp_path / "ckpt.pt"
    first = Trainer(config(anchor_pool=5, batch_size=4), shapes_generator, random_clip)
    first.train(checkpoint=ckpt, callback=lambda p: p.iteration < 3)
    resumed = Trainer(config(anchor_pool=5, batch_size=4), shapes_generator, random_clip)
    resumed.train(checkpoint=ckpt)
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-5)
    with pytest.raises(ValueError, match="anchor pool"):
        config(anchor_pool=-1).validate()


def test_anchors_render_in_chunks_that_bound_memory_and_keep_values(shapes_generator, random_clip, monkeypatch):
    """Anchors are rendered ``per_chunk`` images at a time (a pool block of 32 at 1024 px in one batch would hold
    ~10 GB of activations): two at a time, five anchors render as 2 + 2 + 1 and give the values of one batch (to
    float32 round-off); the real-size quick preset draws from a pool."""
    from contraclip_core.methods.contraclip import presets, train

    trainer = Trainer(config(), shapes_generator, random_clip)
    z = torch.randn(5, shapes_generator.z_dim, generator=torch.Generator().manual_seed(0))
    whole_latent, whole = trainer._anchor(z)
    sizes: list[int] = []
    render = shapes_generator.synthesis_for
    monkeypatch.setattr(shapes_generator, "synthesis_for", lambda w, s, n: (sizes.append(len(w)), render(w, s, n))[1])
    monkeypatch.setattr(train, "per_chunk", lambda resolution: 2)
    latent, embedding = trainer._anchor(z)
    assert sizes == [2, 2, 1] and torch.equal(latent, whole_latent)
    assert torch.allclose(embedding, whole, atol=1e-5)
    assert presets.train_config("stylegan2-ffhq-1024", "quick", dipoles=[("a", "b")]).anchor_pool == 256


def test_shapes_draw_at_clip_size_like_a_resized_full_render(shapes_generator, shapes_clip):
    """The trainer's renders for CLIP are drawn at CLIP's 64 px with the edge ramp a resize would give: per pixel
    within 1e-3 on average of the resized 128-px render (the same ramp without widening is 1.4e-3 away)."""
    clip = shapes_clip
    w = shapes_generator.encode(shapes_generator.sample_z(list(range(64))), "w")
    resized = clip.preprocess(shapes_generator.synthesis(w, "w"))
    drawn = shapes_generator.synthesis_for(w, "w", clip.image_size)
    assert drawn.shape[-1] == clip.image_size == 64
    drawn = clip.preprocess(drawn)
    assert (drawn - resized).abs().mean() < 1e-3
    with torch.no_grad():
        a, b = clip.model.encode_image(resized, normalize=True), clip.model.encode_image(drawn, normalize=True)
    assert (1 - (a * b).sum(-1)).mean() < 5e-4
    assert shapes_generator.synthesis_for(w, "w", 128).shape[-1] == 128  # at full size: the plain render


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_training_under_reduced_precision_autocast_stays_finite(shapes_generator, dtype):
    """What a T4 (fp16) or an Ampere GPU (bf16) trains in, reproduced with CPU autocast on the Shapes world and its
    CLIP: the losses and the paths stay finite and the paths move. In fp16 the rasteriser's 1e-12 guard flushed to
    zero and its backward returned NaN, and unscaled fp16 gradients can underflow: the Shapes world and the paths'
    directions now run in fp32 under any autocast, and the loss is scaled in fp16 only."""
    from contraclip_core.methods.contraclip import presets
    from contraclip_core.clip import load_clip

    # Its own CLIP, not the module's `shapes_clip`: the text embeddings computed under this dtype's autocast are
    # cached on the CLIP object, and each dtype must compute its own.
    g, clip = shapes_generator, load_clip("shapes-clip")
    config = presets.train_config("shapes-128", "quick", dipoles=[("a red shape", "a blue shape")])
    config.iterations, config.anchor_pool = 4, 32
    trainer = Trainer(config, g, clip)
    before = [p.detach().clone() for p in trainer.paths.parameters()]
    with torch.autocast("cpu", dtype=dtype):
        trainer.train()
    assert all(math.isfinite(x) for x in trainer.losses), trainer.losses
    after = list(trainer.paths.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))  # the optimiser stepped
    assert trainer.scaler.is_enabled() == (dtype == torch.float16)  # scaled in fp16 only
    with torch.autocast("cpu", dtype=dtype):  # the Shapes world itself is unaffected by autocast
        image = g.synthesis(g.sample_z([0, 1]), "z")
    assert image.dtype == torch.float32 and torch.allclose(image, g.synthesis(g.sample_z([0, 1]), "z"))
