"""Your own picture in the app's service (issue #30 item 5): upload → (aligned, for a face generator) → projection or
encoder → an anchor that a traversal and an edit start from, the reconstruction beside the original with its PSNR,
and the code to download. Shapes renders stand in for a user's picture where the truth is known; the astronaut
(scikit-image, public domain) for a face; the e4e fixture (tests/fixtures/e4e_tiny.*) for an encoder."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skimage_data  # scikit-image: requirements-dev.txt

from contraclip_core.faces import align_face
from contraclip_core.inputs import LIMITS, ServiceError
from contraclip_core.methods.mappers.guess import shipped_mapper
from contraclip_core.methods.projection.artefact import load_code
from contraclip_core.methods.projection.losses import psnr
from contraclip_core.methods.projection.train import ProjectionConfig

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.service_options(start_worker=False)]

QUICK = ProjectionConfig(steps=60, search_steps=40, starts=8)  # the tests' budget; the app's default is larger


def png_of(tensor: torch.Tensor, path) -> str:
    Image.fromarray(((tensor[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()).save(path)
    return str(path)


def read(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def shapes_picture(service, tmp_path_factory):
    g = service.generator("shapes-128")
    with torch.no_grad():
        w = g.encode(g.sample_z([3_000_321]), "w")  # a held-out seed
        picture = g.synthesis(w, "w")
    return w, png_of(picture, tmp_path_factory.mktemp("pictures") / "render.png")


@pytest.fixture(scope="module")
def projected(service, shapes_picture):
    return list(service.method("projection").project("shapes-128", shapes_picture[1], config=QUICK, preview_every=20))


def test_a_projection_streams_then_gives_a_faithful_anchor(service, shapes_picture, projected):
    *progress, done = projected
    assert progress and all(r["stage"] in ("search", "refine", "polish") and r["eta_s"] >= 0 for r in progress)
    assert [r["done"] for r in progress] == sorted(r["done"] for r in progress) and done["stage"] == "done"
    best = shipped_mapper(service.generator("shapes-128"), "shapes-128").name  # the best recorded inversion
    assert done["way"] == "projection" and best in done["start"] and not done["stopped"]
    assert done["psnr_db"] >= 30, done  # the mapper alone reaches ~20 dB on such renders (docs/PROJECTION.md)
    latent, space = service.anchors.load("shapes-128", done["anchor"])
    g = service.generator("shapes-128")
    with torch.no_grad():  # the stored code re-renders the reconstruction shown, and the PSNR shown is the truth
        again = g.synthesis(latent, space)
    original = read(done["picture"])
    assert float(psnr(again, original)) == pytest.approx(done["psnr_db"], abs=0.3)
    assert float(psnr(read(done["image"]), again)) > 40
    code = load_code(done["code"])  # the download: the same code, readable by the CLI's loader
    assert torch.equal(code["latent"], latent) and code["generator"] == "shapes-128" and code["space"] == "w"


def test_the_anchor_starts_a_traversal_and_an_edit(service, projected):
    anchor, recon = projected[-1]["anchor"], read(projected[-1]["image"])
    path = next(p.id for p in service.method("contraclip").paths("shapes-128") if p.label.startswith("a red shape"))
    t = service.method("contraclip").traverse("shapes-128", path, "5, 6", steps=2, anchor=anchor)
    strip = np.asarray(Image.open(t["strip"]))
    assert strip.shape[0] == 128  # one row: the picture's, not the two seeds'
    middle = strip[:, 2 * (128 + 2): 2 * (128 + 2) + 128][4:-4, 4:-4].astype(int)
    assert np.abs(middle - np.asarray(Image.open(projected[-1]["image"]))[4:-4, 4:-4].astype(int)).mean() < 2
    model = service.method("cfclip").models("shapes-128")[0]["id"]
    e = service.method("cfclip").edit("shapes-128", model, "0, 1, 2", "a green shape", 1.0, anchor=anchor)
    assert e["anchor"] == anchor and e["seeds"] == [0]
    before_after = np.asarray(Image.open(e["before_after"]).convert("RGB"))
    seeds_edit = service.method("cfclip").edit("shapes-128", model, "0, 1, 2", "a green shape", 1.0)
    assert before_after.shape[0] < np.asarray(Image.open(seeds_edit["before_after"])).shape[0]  # one row, not three
    before = torch.from_numpy(before_after[4:124, 4:124].astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    assert float(psnr(before, recon[..., 4:124, 4:124])) > 35  # the edit starts from the picture's code (framed)
    with pytest.raises(ServiceError, match="unknown anchor"):
        service.method("cfclip").edit("shapes-128", model, "0", "a green shape", 1.0, anchor="feedfacefeedface")


def test_a_projection_stops_at_the_time_limit_with_its_best_code(service, shapes_picture, monkeypatch):
    monkeypatch.setitem(LIMITS, "max_projection_s", 0)
    *progress, done = service.method("projection").project("shapes-128", shapes_picture[1], config=QUICK,
                                                           preview_every=5)
    assert done["stopped"] and done["done"] == 1 < done["total"] and progress == []  # checked after every step
    service.anchors.load("shapes-128", done["anchor"])  # kept: the best code so far


def test_bad_pictures_get_a_sentence(service, tmp_path):
    (tmp_path / "a.png").write_text("not a picture")
    runs = {"not an image": str(tmp_path / "a.png"), "upload a picture first": None}
    for words, upload in runs.items():
        with pytest.raises(ServiceError, match=words):
            list(service.method("projection").project("shapes-128", upload, config=QUICK))
    coffee = png_of(torch.from_numpy(skimage_data.coffee()).permute(2, 0, 1)[None].float() / 127.5 - 1,
                    tmp_path / "coffee.png")
    with pytest.raises(ServiceError, match="no face"):  # aligning a photo with no face
        list(service.method("projection").project("shapes-128", coffee, align=True, config=QUICK))
    with pytest.raises(ServiceError, match="has no e4e / pSp encoder"):
        service.method("projection").encode("shapes-128", coffee)


def test_face_generators_align_first(service, tmp_path):
    assert service.method("projection").aligns("stylegan2-ffhq-1024")
    assert service.method("projection").aligns("stylegan2-metfaces-1024")
    assert not service.method("projection").aligns("shapes-128") and not service.method("projection").aligns(
        "stylegan2-afhqcat-512")
    photo = Image.fromarray(skimage_data.astronaut())
    photo.save(tmp_path / "astronaut.png")
    picture, note = service.method("projection").picture("shapes-128", str(tmp_path / "astronaut.png"), align=True)
    expected = np.asarray(align_face(photo, size=128).image, dtype=np.float32) / 127.5 - 1
    assert "aligned as FFHQ's" in note and picture.shape == (1, 3, 128, 128)
    assert np.abs(picture[0].permute(1, 2, 0).numpy() - expected).max() < 0.02  # the aligned face, not a crop
    cropped, note = service.method("projection").picture("shapes-128", str(tmp_path / "astronaut.png"))
    assert note == "centre-cropped" and (cropped - picture).abs().mean() > 0.1


def test_an_e4e_checkpoint_gives_its_encoder_and_its_generator(service, e4e_checkpoint_file, tmp_path):
    """An e4e checkpoint added as your generator: its decoder draws, its encoder is offered, encodes in one pass and
    is where the projection starts from; a generator without one is not offered one."""
    name = service.add_generator(str(e4e_checkpoint_file), clip="shapes-clip")
    actions = service.method("projection")
    assert actions.ways(name) == ["projection", "encoder"] and actions.ways("shapes-128") == ["projection"]
    photo = Image.fromarray(skimage_data.astronaut())
    photo.save(tmp_path / "astronaut.png")
    r = actions.encode(name, str(tmp_path / "astronaut.png"), align=True)
    assert r["way"] == "encoder" and r["space"] == "w+" and "aligned" in r["note"]
    latent, space = service.anchors.load(name, r["anchor"])
    encoder, g = actions.encoder(name), service.generator(name)
    picture, _ = actions.picture(name, str(tmp_path / "astronaut.png"), align=True)
    with torch.no_grad():
        assert torch.allclose(latent, encoder.encode(picture), atol=1e-5)  # the encoder's code, stored as it is
        shown = g.synthesis(latent, "w+").clamp(-1, 1)
    assert math.isclose(float(psnr(shown, picture)), r["psnr_db"], abs_tol=0.05)  # random weights: any value
    *_, done = actions.project(name, str(tmp_path / "astronaut.png"), align=True,
                               config=ProjectionConfig(steps=1, search_steps=0, lr=0.0))  # a step that moves nothing
    assert done["start"] == "the e4e encoder's code"
    assert torch.allclose(service.anchors.load(name, done["anchor"])[0], latent, atol=1e-5)  # it started there
