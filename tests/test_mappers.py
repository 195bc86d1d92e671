"""Mapper mechanics on tiny budgets: shapes of every use, exact resume, the file round trip (folder and hf://),
refusals of damaged or foreign mapper files, and the upload reader's caps."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contraclip_core.errors import WeightsError
from contraclip_core.methods.mappers.artefact import MapperSet
from contraclip_core.methods.mappers.train import MapperTrainConfig, MapperTrainer
from contraclip_core.methods.mappers.uses import edit, image_to_latent, text_to_latent
from contraclip_core.uploads import MAX_UPLOAD_BYTES, UploadError, read_image
from tests.conftest import populate_hf_cache

TINY = dict(iterations=4, batch_size=8, image_batch=2, hidden=32, depth=2, checkpoint_every=2, domain_samples=8)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("objective", ["clip2gan", "csla"])
def test_resume_continues_exactly(shapes_world, tmp_path, objective):
    g, clip = shapes_world
    straight = MapperTrainer(MapperTrainConfig(objective=objective, **TINY), g, clip).train()
    ckpt = tmp_path / "ckpt.pt"
    first = MapperTrainer(MapperTrainConfig(objective=objective, **TINY), g, clip)
    first.train(checkpoint=ckpt, callback=lambda p: p.iteration < 2)  # stopped (cancelled) after 2 iterations
    resumed_trainer = MapperTrainer(MapperTrainConfig(objective=objective, **TINY), g, clip)
    resumed = resumed_trainer.train(checkpoint=ckpt)
    assert resumed_trainer.resumed_from == 2 and resumed.iterations == 4
    for (k, a), b in zip(straight.mapper.state_dict().items(), resumed.mapper.state_dict().values()):
        assert torch.equal(a, b), k
    assert straight.mapper.config.residual is (objective == "csla")


def test_a_damaged_or_foreign_checkpoint_is_one_sentence_not_a_traceback(shapes_world, tmp_path):
    """A truncated checkpoint, or one from a longer run, is refused with a WeightsError naming the file and what to
    do (the path trainer's rule, now shared: training_loop.read_checkpoint)."""
    from contraclip_core.errors import WeightsError

    g, clip = shapes_world
    ckpt = tmp_path / "ckpt.pt"
    MapperTrainer(MapperTrainConfig(objective="csla", **TINY), g, clip).train(checkpoint=ckpt)
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="ckpt.pt could not be read"):
        MapperTrainer(MapperTrainConfig(objective="csla", **TINY), g, clip).train(checkpoint=ckpt)
    ckpt.write_bytes(data)  # whole, but 4 iterations done: a 3-iteration run cannot resume from it
    with pytest.raises(WeightsError, match=r"ckpt.pt cannot be resumed from .*'iteration' is 4.*delete it"):
        MapperTrainer(MapperTrainConfig(objective="csla", **{**TINY, "iterations": 3}), g, clip).train(checkpoint=ckpt)


def test_training_improves_held_out_inversion(shapes_world):
    g, clip = shapes_world
    trainer = MapperTrainer(MapperTrainConfig(objective="clip2gan", **{**TINY, "iterations": 100, "batch_size": 16,
                                                                      "hidden": 64, "lr": 5e-3}), g, clip)
    w = g.encode(g.sample_z(range(10**6, 10**6 + 16)), "w")
    images = g.synthesis(w, "w")

    def error() -> float:  # pixel MSE of the re-render of held-out renders
        with torch.no_grad():
            codes, _ = image_to_latent(trainer.mapper_set(), clip, images)
            return float((g.synthesis(codes, "w") - images).pow(2).mean())

    before = error()
    trainer.train()
    assert error() < 0.8 * before


@pytest.fixture(scope="module")
def tiny_mapper(shapes_world, tmp_path_factory) -> Path:
    """A CSLA mapper trained for 4 iterations on the Shapes world, saved as ``tiny``: its folder. Scope: module."""
    g, clip = shapes_world
    ms = MapperTrainer(MapperTrainConfig(objective="csla", **TINY), g, clip).train()
    ms.name = "tiny"
    return ms.save(tmp_path_factory.mktemp("mapper") / "tiny")


def test_uses_give_codes_of_the_space(shapes_world, tiny_mapper):
    g, clip = shapes_world
    ms = MapperSet.load(tiny_mapper, g)
    z = text_to_latent(ms, clip, ["a red circle", "a small shape"])
    assert z.shape == (2, 32)
    noisy = text_to_latent(ms, clip, ["a red circle", "a red circle"], seeds=[1, 2], noise=1.0)
    assert not torch.allclose(noisy[0], noisy[1])  # seeds vary the result
    again = text_to_latent(ms, clip, ["a red circle", "a red circle"], seeds=[1, 2], noise=1.0)
    assert torch.equal(noisy, again)  # and are reproducible
    w = g.encode(g.sample_z([0, 1]), "w")
    codes, e = image_to_latent(ms, clip, g.synthesis(w, "w"))
    assert codes.shape == (2, 32) and torch.allclose(e.norm(dim=-1), torch.ones(2), atol=1e-5)
    edited = edit(ms, clip, w, "a red shape", "a blue shape", [-1.0, 0.0, 2.0])
    assert edited.shape == (2, 3, 32)
    assert torch.allclose(edited[:, 1], w, atol=1e-6)  # strength 0 is the source
    assert torch.allclose((edited[:, 2] - w).norm(dim=-1), torch.full((2,), 2.0), atol=1e-4)


def test_round_trip_folder_and_hub(shapes_world, tiny_mapper, tmp_path, monkeypatch):
    g, clip = shapes_world
    ms = MapperSet.load(tiny_mapper, g)
    meta = json.loads((tiny_mapper / "mapper.json").read_text())
    assert meta["objective"] == "csla" and meta["generator"] == "shapes-128" and meta["space"] == "w"
    assert meta["iterations"] == 4 and meta["settings"]["relative"] and "domain_min_psnr_db" in meta["settings"]
    cache = tmp_path / "hf"
    populate_hf_cache(cache, "someone/mappers", {f"shapes-128/tiny/{n}": tiny_mapper / n
                                                  for n in ("mapper.json", "mapper.safetensors")})
    import huggingface_hub.constants as constants
    from contraclip_core import hub

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    monkeypatch.setattr(hub, "endpoint_reachable", lambda **_: False)
    from_hub = MapperSet.from_pretrained("hf://someone/mappers/shapes-128/tiny", g, generator_name="shapes-128")
    e = torch.nn.functional.normalize(torch.randn(3, 128), dim=-1)
    assert torch.equal(from_hub.mapper(e), ms.mapper(e))


def _copy(tiny_mapper, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_mapper, folder)
    return folder


def test_refuses_another_generators_mapper(shapes_world, tiny_mapper):
    g, _ = shapes_world
    with pytest.raises(WeightsError, match="not on 'stylegan2-ffhq-1024'"):
        MapperSet.from_pretrained(str(tiny_mapper), g, generator_name="stylegan2-ffhq-1024")


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.update(latent_shape=[18, 512]), "does not match latent_dim"),
    (lambda m: m.update(objective="pickle"), "'objective' must be one of"),
    (lambda m: m.pop("network"), "not a valid mapper description"),
    (lambda m: m["network"].update(hidden=64), "expected"),
])
def test_refuses_damaged_descriptions(shapes_world, tiny_mapper, tmp_path, damage, message):
    folder = _copy(tiny_mapper, tmp_path)
    meta = json.loads((folder / "mapper.json").read_text())
    damage(meta)
    (folder / "mapper.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match=message):
        MapperSet.load(folder, shapes_world[0])


def test_refuses_nan_weights_and_junk(shapes_world, tiny_mapper, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = _copy(tiny_mapper, tmp_path)
    state = load_file(str(folder / "mapper.safetensors"))
    state["latent_mean"][0] = float("nan")
    save_file(state, str(folder / "mapper.safetensors"))
    with pytest.raises(WeightsError, match="NaN"):
        MapperSet.load(folder)
    (folder / "mapper.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not a valid mapper"):
        MapperSet.load(folder)


def test_upload_reader(tmp_path):
    rgba = np.zeros((60, 90, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255
    rgba[:, :10, 3] = 0  # transparent strip → white
    Image.fromarray(rgba).save(tmp_path / "ok.png")
    x = read_image(tmp_path / "ok.png", 32)
    assert x.shape == (1, 3, 32, 32) and float(x.min()) >= -1 and float(x.max()) <= 1
    assert torch.allclose(x[0, :, 16, 16], torch.tensor([1.0, -1.0, -1.0]), atol=1e-2)  # red, centre-cropped
    (tmp_path / "notes.png").write_text("this is text, not a picture")
    with pytest.raises(UploadError, match="not an image"):
        read_image(tmp_path / "notes.png", 32)
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(UploadError, match="MB"):
        read_image(big, 32)
    Image.new("L", (5000, 4000)).save(tmp_path / "wide.png")  # small file, 20 M pixels when decoded
    with pytest.raises(UploadError, match="5000×4000"):
        read_image(tmp_path / "wide.png", 32)
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UploadError):
        read_image(tmp_path / "cut.png", 32)


def test_publish_stages_a_folder_that_loads_back_from_the_hub(shapes_world, tiny_mapper, tmp_path, monkeypatch):
    from contraclip_core import hub
    from contraclip_core.methods.mappers.publish import publish, stage

    staged = stage([tiny_mapper], tmp_path / "up", repo_id="me/mappers")
    assert staged == ["shapes-128/mappers/tiny"]
    card = (tmp_path / "up" / staged[0] / "README.md").read_text()
    assert "csla" in card and 'from_pretrained("hf://me/mappers/shapes-128/mappers/tiny")' in card

    class FakeApi:  # stands in for HfApi: records the upload
        def create_repo(self, *a, **k):
            pass

        def upload_folder(self, folder_path, **k):
            self.files = sorted(p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file())
            return "commit"

    api = FakeApi()
    assert publish([tiny_mapper], "me/mappers", api=api) == "commit"
    assert "shapes-128/mappers/tiny/mapper.safetensors" in api.files
    cache = tmp_path / "hf"
    populate_hf_cache(cache, "me/mappers", {f: tmp_path / "up" / f for f in api.files})
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "endpoint_reachable", lambda **_: False)
    ms = MapperSet.from_pretrained("hf://me/mappers/shapes-128/mappers/tiny", shapes_world[0])
    assert ms.name == "tiny"


def test_a_stylegan2_goes_through_the_same_code_in_w_plus(shapes_world, random_tiny_stylegan2, tmp_path):
    """A tiny random-weight StyleGAN2 (no real weights can be downloaded here): train, save, load, check, invert
    and edit in W+, where edits use adaptive style mixing (the most-changed style input takes the whole change)."""
    shapes, clip = shapes_world
    g = random_tiny_stylegan2
    config = MapperTrainConfig(objective="clip2gan", generator="tiny-stylegan2", clip="shapes-clip", space="w+",
                               truncation=0.7, **{**TINY, "iterations": 2})
    ms = MapperTrainer(config, g, clip).train()
    ms = MapperSet.load(ms.save(tmp_path / "sg2"), g)
    shape = tuple(g.latent_shape("w+"))
    assert ms.space == "w+" and tuple(ms.latent_shape) == shape
    with pytest.raises(WeightsError, match="makes 'w\\+' codes|does not have"):
        ms.check_fits(shapes)
    w = g.encode(g.sample_z([0, 1]), "w+", 0.7)
    codes, _ = image_to_latent(ms, clip, g.synthesis(w, "w+"))
    assert codes.shape == (2, *shape)
    edited = edit(ms, clip, w, "a photo of a smiling face.", "a photo of a face.", [1.0])[:, 0]  # (2, L, w_dim)
    per_layer = (edited - w).norm(dim=-1)  # (2, L)
    from contraclip_core.methods.mappers.uses import text_direction

    n = text_direction(ms, clip, "a photo of a smiling face.", "a photo of a face.").reshape(shape).norm(dim=-1)
    expected = n * (n / n.max())  # each layer's share of the unit change, weighted by its size relative to the largest
    assert torch.allclose(per_layer, expected.expand_as(per_layer), atol=1e-5)
    assert float(expected.min()) < 0.5 * float(expected.max())  # some layers keep far more of the source


def test_a_mappers_samples_render_a_bounded_batch_at_a_time(shapes_world, monkeypatch):
    """A CSLA step renders 64 samples without gradients; at 1024 px in one batch that held more than 18 GB
    (bench/training_cost.py). They render ``per_chunk`` images at a time (64 at 1024 px → 32 batches of 2) and give
    what one batch gives."""
    from contraclip_core.generators.base import per_chunk
    from contraclip_core.methods.mappers import train

    assert [per_chunk(r) for r in (64, 128, 256, 1024, 4096)] == [512, 128, 32, 2, 1]
    g, clip = shapes_world
    whole = MapperTrainer(MapperTrainConfig(objective="csla", **TINY), g, clip).sample()
    trainer = MapperTrainer(MapperTrainConfig(objective="csla", **TINY), g, clip)
    sizes: list[int] = []
    render = trainer.renderer.synthesis
    monkeypatch.setattr(trainer.renderer, "synthesis", lambda w, s: (sizes.append(len(w)), render(w, s))[1])
    monkeypatch.setattr(train, "per_chunk", lambda resolution: 3)
    chunked = trainer.sample()
    assert sizes == [3, 3, 2]  # the batch of 8
    assert torch.equal(chunked.latent, whole.latent) and torch.allclose(chunked.embedding, whole.embedding, atol=1e-5)
    # the same pixels up to GEMM round-off, which depends on the batch size and which the anti-aliased edge (a
    # slope of ~180 per unit of position at 128 px) amplifies: 1.2e-5 on an AMD EPYC; a wrong chunk differs by ~1
    assert torch.allclose(chunked.images, whole.images, atol=1e-4), (chunked.images - whole.images).abs().max()
