"""CF-CLIP edit models: mapper shapes, the CLIP-NCE loss against a hand computation, exact resume, the
edit.safetensors + edit.json round trip (folder and hf://), refusals, the service's edit and its background job."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from contraclip_core.errors import WeightsError
from contraclip_core.inputs import ServiceError
from contraclip_core.jobs import Job, JobStore
from contraclip_core.methods.cfclip.artefact import META_NAME, WEIGHTS_NAME, EditSet
from contraclip_core.methods.cfclip.losses import clip_nce_loss
from contraclip_core.methods.cfclip.model import MapperConfig, TextConditionedMapper
from contraclip_core.methods.cfclip.train import EditTrainConfig, EditTrainer, edit_config
from contraclip_core.methods.registry import REQUEST_CHECKS

from .conftest import populate_hf_cache
from .helpers import open_service

TARGETS = ["a red shape", "a circle"]


def tiny_config(iterations: int = 4) -> EditTrainConfig:
    return EditTrainConfig(targets=TARGETS, iterations=iterations, batch_size=2, checkpoint_every=2,
                           residual_scale=1.0, clip_lambda=1.0)


@pytest.fixture(scope="module")
def trained(shapes_world, tmp_path_factory) -> Path:
    g, clip = shapes_world
    edit_set = EditTrainer(tiny_config(), g, clip).train()
    edit_set.name = "tiny"
    return edit_set.save(tmp_path_factory.mktemp("edits") / "tiny")


def test_mapper_levels_and_residual_shapes():
    wplus = MapperConfig(latent_dim=8, text_dim=6, num_layers=18)
    assert [(r.start, r.stop) for r in wplus.levels()] == [(0, 4), (4, 8), (8, 18)]  # coarse, medium, fine
    assert [(r.start, r.stop) for r in MapperConfig(8, 6, 1).levels()] == [(0, 1)]  # Z / W: one level
    mapper = TextConditionedMapper(wplus, seed=0)
    assert len(mapper.text_mappers) == 18 and len(mapper.level_mappers) == 3
    codes, text = torch.randn(3, 18, 8), torch.randn(1, 6)
    residual = mapper.residual(codes, text)
    assert residual.shape == (3, 18, 8)
    assert torch.equal(mapper(codes, text, 0.0), codes)  # strength 0: no edit
    half = mapper(codes, text, 0.5)
    assert torch.allclose(half, codes + 0.5 * 0.1 * residual, atol=1e-6)  # strength scales λ·Δw linearly
    other = mapper.residual(codes, torch.randn(1, 6))
    assert not torch.allclose(residual, other)  # the sentence conditions the edit
    with pytest.raises(ValueError, match="18 style inputs"):
        mapper.residual(torch.randn(3, 1, 8), text)


def test_clip_nce_matches_a_hand_computation():
    torch.manual_seed(0)
    e, e2 = F.normalize(torch.randn(2, 5), dim=-1), F.normalize(torch.randn(2, 5), dim=-1)
    t, g = F.normalize(torch.randn(2, 5), dim=-1), F.normalize(torch.randn(2, 5), dim=-1)
    src = F.normalize(torch.randn(3, 5), dim=-1)
    tau = 0.1
    expected = 0.0
    for i in range(2):
        q = F.normalize(e2[i] - e[i], dim=0)
        negs = [math.exp(float(q @ F.normalize(s - e[i], dim=0)) / tau) for s in src]
        for p in (g[i], F.normalize(t[i] - e[i], dim=0)):
            pos = math.exp(float(q @ p) / tau)
            expected += -math.log(pos / (pos + sum(negs)))
    got = clip_nce_loss(e, e2, t, g, src, tau)
    assert abs(float(got) - expected / 4) < 1e-4
    # moving the image along the positives lowers the loss; along a negative raises it
    toward = clip_nce_loss(e, F.normalize(e + 0.5 * g, dim=-1), t, g, src, tau)
    away = clip_nce_loss(e, F.normalize(e + 0.5 * (src[:1] - e), dim=-1), t, g, src, tau)
    assert float(toward) < float(away)


def shapes_config(iterations: int = 4) -> EditTrainConfig:
    """The Shapes settings (text gate, offset input, cosine step), tiny."""
    config = edit_config("shapes-128", TARGETS)
    config.iterations, config.batch_size, config.checkpoint_every = iterations, 2, 2
    return config


@pytest.mark.parametrize("make", [tiny_config, shapes_config], ids=["authors", "shapes"])
def test_training_resumes_exactly_from_a_checkpoint(shapes_world, tmp_path, make):
    g, clip = shapes_world
    straight = EditTrainer(make(4), g, clip)
    straight.train()
    ckpt = tmp_path / "checkpoint.pt"
    first = EditTrainer(make(4), g, clip)
    first.train(checkpoint=ckpt, callback=lambda p: p.iteration < 2)  # "cancelled" after 2 iterations
    assert first.iteration == 2 and ckpt.is_file()
    resumed = EditTrainer(make(4), g, clip)
    resumed.train(checkpoint=ckpt)
    assert resumed.resumed_from == 2 and resumed.iteration == 4
    for (k, a), b in zip(straight.mapper.state_dict().items(), resumed.mapper.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    assert straight.losses == pytest.approx(resumed.losses, rel=1e-5)


def test_file_round_trip_and_metadata(shapes_world, trained):
    g, clip = shapes_world
    meta = json.loads((trained / META_NAME).read_text())
    assert meta["method"] == "cf-clip" and meta["generator"] == "shapes-128" and meta["space"] == "w"
    assert meta["targets"] == TARGETS and meta["clip"] == "shapes-clip" and meta["iterations"] == 4
    assert meta["settings"]["nce_lambda"] == 0.3 and meta["mapper"]["num_layers"] == 1
    edit_set = EditSet.load(trained, g)
    w = g.encode(g.sample_z([0, 1]), "w")
    text = edit_set.text_embedding(clip, "a red shape")
    again = EditSet.from_pretrained(str(trained), g, generator_name="shapes")
    assert torch.equal(edit_set.edit(w, text), again.edit(w, text))
    assert not torch.equal(edit_set.edit(w, text), w)


def test_hub_url_loads_from_a_cache_laid_out_like_the_hub(shapes_world, trained, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-cache"
    populate_hf_cache(cache, "me/edits", {f"shapes-128/edits/tiny/{n}": trained / n for n in (META_NAME, WEIGHTS_NAME)})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    edit_set = EditSet.from_pretrained("hf://me/edits/shapes-128/edits/tiny", shapes_world[0])
    assert edit_set.targets == TARGETS
    with pytest.raises(WeightsError, match="not an edit model"):
        EditSet.from_pretrained("hf://me/edits/shapes-128/edits/missing")


def _edited(trained: Path, tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "edited"
    shutil.copytree(trained, folder)
    meta = json.loads((folder / META_NAME).read_text())
    meta.update(changes)
    (folder / META_NAME).write_text(json.dumps(meta))
    return folder


def test_refusals_are_sentences(shapes_world, trained, tmp_path):
    g, _ = shapes_world
    with pytest.raises(WeightsError, match="trained on 'shapes-128', not on 'stylegan2-ffhq-1024'"):
        EditSet.load(trained).check_fits(g, "it", "stylegan2-ffhq-1024")
    other = _edited(trained, tmp_path, generator="stylegan2-ffhq-1024", space="w+", latent_shape=[18, 512])
    with pytest.raises(WeightsError, match="does not match"):
        EditSet.load(other)
    (trained.parent / "junk").mkdir(exist_ok=True)
    (trained.parent / "junk" / META_NAME).write_text("{not json")
    (trained.parent / "junk" / WEIGHTS_NAME).write_bytes(b"x")
    with pytest.raises(WeightsError, match="not a valid edit-model description"):
        EditSet.load(trained.parent / "junk")
    with pytest.raises(WeightsError, match="needs edit.json and edit.safetensors"):
        EditSet.load(tmp_path)


@pytest.fixture()
def service(tmp_path, trained):
    """Overrides conftest's module-wide `service`: one per test (a test here adds a foreign edit model to the results
    folder, and each must see only its own), holding the tiny edit model, without a worker (jobs run by hand)."""
    with open_service(tmp_path / "data", start_worker=False) as s:
        shutil.copytree(trained, s.method("cfclip").results / "tiny")
        yield s


def test_service_edit_makes_before_after_and_gif(service):
    models = service.method("cfclip").models("shapes-128")
    local = next(m for m in models if m["id"] == "local:tiny")
    assert local["origin"] == "trained here"
    r = service.method("cfclip").edit("shapes-128", "local:tiny", "0, 1", "a green square", 0.5, frames=4)
    from PIL import Image

    pair = Image.open(r["before_after"])
    assert pair.size == (2 * 128 + 2, 2 * 128 + 2)  # two seeds × [before | after]
    gif = Image.open(r["gif"])
    assert gif.n_frames == 2 * 4 + 1  # strength 0 → 1 → 0 over 5 levels: 0,¼,…,1 then ¾,…,0
    assert r["strength"] == 0.5


def test_service_refuses_bad_input_with_a_sentence(service, tmp_path):
    with pytest.raises(ServiceError, match="the target sentence is empty"):
        service.method("cfclip").edit("shapes-128", "local:tiny", "0", "   ")
    with pytest.raises(ServiceError, match="strength must be"):
        service.method("cfclip").edit("shapes-128", "local:tiny", "0", "a red shape", 2.0)
    with pytest.raises(ServiceError, match="unknown edit model"):
        service.method("cfclip").edit("shapes-128", "local:nope", "0", "a red shape")
    with pytest.raises(ServiceError, match="target sentence is empty"):
        service.submit("edit", "shapes-128", " ; \n ")
    # an edit model of another generator: not listed for this one, and refused with a sentence if asked for
    foreign = service.method("cfclip").results / "foreign"
    shutil.copytree(service.method("cfclip").results / "tiny", foreign)
    meta = json.loads((foreign / META_NAME).read_text())
    meta["generator"] = "stylegan2-ffhq-1024"
    (foreign / META_NAME).write_text(json.dumps(meta))
    assert all(m["id"] != "local:foreign" for m in service.method("cfclip").models("shapes-128"))
    with pytest.raises(ServiceError, match="not on 'shapes-128'"):
        service.method("cfclip").edit("shapes-128", "local:foreign", "0", "a red shape")
    assert service.method("cfclip").edit("shapes-128", "local:tiny", "0", "a red shape", frames=2)["gif"]  # still serving


def test_a_mapper_over_the_vocabulary_trains_longer_than_one_over_typed_sentences():
    from contraclip_core.methods.cfclip.train import MANY_TARGETS_ITERATIONS, SHAPES_SETTINGS
    from contraclip_core.methods.cfclip.vocab import training_sentences

    assert edit_config("shapes-128", TARGETS).iterations == SHAPES_SETTINGS["iterations"] == 2000
    assert edit_config("shapes-128", training_sentences()).iterations == MANY_TARGETS_ITERATIONS
    assert SHAPES_SETTINGS["iterations"] == 2000  # edit_config did not change the shared table
    assert edit_config("stylegan2-ffhq-config-f", TARGETS * 40).iterations == EditTrainConfig(targets=TARGETS).iterations


def test_edit_training_is_a_background_job_kind(service):
    row = service.submit("edit", "shapes-128", "a red shape\na circle", iterations=3)
    job = service.queue.store.load(row["id"])
    assert job.kind == "edit" and job.request["targets"] == TARGETS
    service.queue._run_one(job)  # what the worker thread does
    job = service.queue.store.load(row["id"])
    assert job.status == "done", job.error
    assert (Path(job.result) / META_NAME).is_file()
    assert any(m["id"] == f"local:{job.id}" for m in service.method("cfclip").models("shapes-128"))
    assert (service.queue.store.folder(job.id) / "checkpoint.pt").is_file()


def test_job_records_without_a_kind_are_path_jobs(tmp_path):
    store = JobStore(tmp_path, REQUEST_CHECKS)
    store.save(Job(id="abc123", request={"generator": "shapes-128", "dipoles": [["a", "b"]], "preset": "quick"}))
    data = json.loads((tmp_path / "abc123" / "job.json").read_text())
    del data["kind"]
    (tmp_path / "abc123" / "job.json").write_text(json.dumps(data))
    assert store.load("abc123").kind == "paths"


def test_publish_stages_a_model_card_and_uploads_in_one_commit(trained, tmp_path, monkeypatch):
    from contraclip_core.methods.cfclip import publish

    class FakeApi:
        def __init__(self):
            self.calls = []

        def create_repo(self, repo_id, **kwargs):
            self.calls.append(("create", repo_id))

        def upload_folder(self, **kwargs):
            self.calls.append(("upload", kwargs["repo_id"]))
            self.uploaded = sorted(str(p.relative_to(kwargs["folder_path"])) for p in Path(kwargs["folder_path"]).rglob("*")
                                   if p.is_file())
            self.card = (Path(kwargs["folder_path"]) / "shapes-128/edits/tiny/README.md").read_text()

    api = FakeApi()
    publish.publish([trained], "me/edits", api=api)
    assert api.calls == [("create", "me/edits"), ("upload", "me/edits")]
    assert api.uploaded == [f"shapes-128/edits/tiny/{n}" for n in ("README.md", META_NAME, WEIGHTS_NAME)]
    assert "shapes-128" in api.card and "“a red shape”" in api.card and "hf://me/edits/shapes-128/edits/tiny" in api.card
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(WeightsError):
        publish.stage([trained, broken], tmp_path / "out", repo_id="me/edits")
    assert not (tmp_path / "out").exists()  # nothing staged when one model is broken


def test_command_line_edits_and_stages_a_publish(trained, tmp_path, capsys):
    from contraclip_core.cli import main

    assert main(["cfclip", "edit", str(trained), "--sentence", "a green square", "--seeds", "0", "1", "--frames", "3",
                 "--out", str(tmp_path / "media")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "media" / "edit.gif").n_frames == 7
    assert main(["cfclip", "publish", str(trained), "--repo", "me/edits", "--dry-run", str(tmp_path / "staged")]) == 0
    assert (tmp_path / "staged" / "shapes-128" / "edits" / "tiny" / "README.md").is_file()
    assert main(["cfclip", "train", "--sentence", "  ", "--out", str(tmp_path / "x")]) == 2
    assert "give a target sentence" in capsys.readouterr().err
