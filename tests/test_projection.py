"""The projection (issue #30, "your own photo: faithful inversion"): the issue's bars on a handful of held-out seeds
with a small budget (scripts/projection_quality.py measures the shipped settings on many, docs/PROJECTION.md), its
streamed form, its CLI, and its refusals of bad input."""
from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from contraclip_core.cli import main
from contraclip_core.methods.mappers.guess import shipped_mapper
from contraclip_core.methods.projection.evaluate import (
    FACTOR_BAR,
    HELD_OUT,
    PSNR_BAR_DB,
    generator_quality,
    random_stylegan2,
    shapes_quality,
)
from contraclip_core.methods.projection.lbfgs import BatchLBFGS
from contraclip_core.methods.projection.losses import ProjectionError, pixel_loss, psnr
from contraclip_core.methods.mappers.guess import mapper_guess, shipped_mapper
from contraclip_core.methods.projection.artefact import load_code
from contraclip_core.methods.projection.service import start_for
from contraclip_core.methods.registry import GUESSES
from contraclip_core.methods.projection.train import (
    ProjectionConfig,
    Projector,
    carry_state,
    check_pictures,
    load_picture,
    project,
    project_iter,
)
from contraclip_core.uploads import UploadError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ProjectionConfig(steps=100, search_steps=60, starts=8)  # the tests' budget; the shipped default is larger
SEEDS = range(HELD_OUT, HELD_OUT + 4)  # held out: never used to choose the settings


@pytest.fixture(scope="module")
def mapper(shapes_generator):
    found = shipped_mapper(shapes_generator, "shapes-128")
    assert found is not None and found.space == "w"
    return found


@pytest.fixture(scope="module")
def narrow_stylegan2():
    """A random-weights StyleGAN2, 64 px, narrow (32 channels, 64-d w) so that a projection takes seconds."""
    return random_stylegan2(size=64, style_dim=64, channels=32, seed=0)


def test_shapes_renders_are_reproduced_and_every_factor_recovered(shapes_world, mapper):
    from contraclip_core.shapes_clip.captions import FACTOR_NAMES

    g, clip = shapes_world
    figures = shapes_quality(g, SEEDS, SMALL, guess=lambda p: mapper_guess(mapper, clip, p, "w", g), clip=clip, batch=4,
                             factors=FACTOR_NAMES)  # all nine: brightness, saturation and rotation too
    projection, alone = figures["projection"], figures["mapper_alone"]
    assert list(projection["per_factor"]) == list(FACTOR_NAMES)
    assert projection["psnr_min_db"] >= PSNR_BAR_DB, figures
    assert min(projection["per_factor"].values()) >= FACTOR_BAR, figures  # on 4 renders: all of them
    assert alone["psnr_mean_db"] < 25 and projection["psnr_mean_db"] > alone["psnr_mean_db"] + 10, figures


def test_a_random_stylegan2s_own_samples_are_reproduced(narrow_stylegan2):
    """One held-out sample (the script measures more, and the config-f width): W+ from the mean code, pixels only."""
    figures = generator_quality(narrow_stylegan2, range(HELD_OUT, HELD_OUT + 1),
                                ProjectionConfig(steps=600, search_steps=0, lr=0.1), batch=1)
    assert figures["space"] == "w+" and figures["projection"]["psnr_min_db"] >= PSNR_BAR_DB, figures


def test_the_mean_code_alone_is_far_from_the_picture(shapes_world):
    """The bars can fail: with no steps of refinement and no mapper the projection is the mean code, far below them."""
    g, _ = shapes_world
    figures = shapes_quality(g, SEEDS, ProjectionConfig(steps=1, search_steps=0, lr=0.0))
    assert figures["projection"]["psnr_mean_db"] < 20 and figures["projection"]["all_factors"] < FACTOR_BAR


def test_project_iter_streams_progress_and_ends_with_the_result(shapes_world):
    g, _ = shapes_world
    with torch.no_grad():
        pictures = g.synthesis(g.encode(g.sample_z([HELD_OUT + 10, HELD_OUT + 11]), "w"), "w")
    config = ProjectionConfig(steps=20, search_steps=10, starts=3, keep=1, polish_steps=0)
    updates = list(project_iter(g, pictures, config, preview_every=5))
    assert [u.progress.iteration for u in updates] == [5, 10, 15, 20, 25, 30]
    assert [u.phase for u in updates] == ["search", "refine", "refine", "refine", "refine", "done"]
    assert all(u.progress.total == 30 and u.progress.eta_s >= 0 and u.image.shape == (2, 3, 128, 128)
               for u in updates)
    assert updates[-1].progress.eta_s == 0 and [u.done for u in updates] == [False] * 5 + [True]
    result = updates[-1].result
    assert result.space == "w" and result.latent.shape == (2, 32) and result.noise is None
    with torch.no_grad():  # the result's image and PSNR are those of its code
        again = g.synthesis(result.latent, "w")
    assert torch.allclose(again, result.image, atol=1e-5)
    assert torch.allclose(psnr(again, pictures), result.psnr_db, atol=1e-3)


def test_project_stops_when_the_callback_says_so(shapes_world):
    g, _ = shapes_world
    with torch.no_grad():
        picture = g.synthesis(g.encode(g.sample_z([HELD_OUT + 12]), "w"), "w")
    seen = []
    result = project(g, picture, ProjectionConfig(steps=50, search_steps=10, starts=2), preview_every=5,
                     callback=lambda u: seen.append(u.progress.iteration) or u.progress.iteration < 15)
    assert seen == [5, 10, 15] and result.latent.shape == (1, 32)


def test_a_resumed_projection_ends_where_an_uninterrupted_one_does(shapes_world, tmp_path):
    g, _ = shapes_world
    with torch.no_grad():
        picture = g.synthesis(g.encode(g.sample_z([HELD_OUT + 13]), "w"), "w")
    config = ProjectionConfig(steps=12, search_steps=6, starts=3, keep=2, keep_steps=4, search_noise=0.3,
                              polish_steps=8)
    whole = Projector(g, picture, config).train()
    for stop in (9, 22):  # in the refinement, two starts still side by side; in the L-BFGS polish
        checkpoint = tmp_path / f"checkpoint{stop}.pt"
        Projector(g, picture, config).train(checkpoint, callback=lambda p, stop=stop: p.iteration < stop)
        resumed = Projector(g, picture, config).train(checkpoint)
        assert torch.allclose(resumed.latent, whole.latent, atol=1e-6), stop


def test_batch_lbfgs_gives_each_row_its_own_step():
    """Rows whose curvatures differ a thousandfold (a shared line search stalls on them) each reach their own
    minimum: quadratics ½xᵀAx − bᵀx, checked against the solution of Ax = b."""
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(3, 8, 8, generator=gen)
    a = m @ m.transpose(1, 2) + torch.eye(8)
    a[1] *= 1000.0
    b = torch.randn(3, 8, generator=gen)
    opt = BatchLBFGS(torch.zeros(3, 8), first_step=0.1)
    for _ in range(60):
        x = opt.trial().requires_grad_(True)
        loss = 0.5 * (x[:, None, :] @ a @ x[:, :, None]).reshape(3) - (b * x).sum(1)
        opt.tell(loss.detach(), torch.autograd.grad(loss.sum(), x)[0])
    solution = torch.linalg.solve(a, b)
    assert ((opt.x - solution).norm(dim=1) / solution.norm(dim=1)).max() < 1e-3


def test_the_polish_sharpens_the_refinement(shapes_world):
    """The per-picture L-BFGS after a short refinement brings the render much closer than the refinement alone."""
    g, _ = shapes_world
    with torch.no_grad():
        codes = g.encode(g.sample_z([HELD_OUT + 50, HELD_OUT + 51]), "w")
        pictures = g.synthesis(codes, "w")
    start = codes + 0.05 * torch.randn(codes.shape, generator=torch.Generator().manual_seed(1))  # in the basin
    plain = project(g, pictures, ProjectionConfig(steps=20, search_steps=0, polish_steps=0), start=start)
    updates = list(project_iter(g, pictures, ProjectionConfig(steps=20, search_steps=0, polish_steps=40),
                                start=start, preview_every=10))
    assert [u.phase for u in updates] == ["refine", "polish", "polish", "polish", "polish", "done"]
    assert (updates[-1].result.psnr_db > plain.psnr_db + 10).all(), (updates[-1].result.psnr_db, plain.psnr_db)


def test_the_refinement_goes_on_with_the_kept_starts_optimiser_state():
    """Adam's moments of the starts kept after the search are handed on, row for row."""
    code = torch.nn.Parameter(torch.randn(4, 3))
    old = torch.optim.Adam([code], lr=0.1)
    (code**2).sum().backward()
    old.step()
    kept = torch.nn.Parameter(code.data[[1, 3]].clone())
    new = torch.optim.Adam([kept], lr=0.1)
    carry_state(old, new, torch.tensor([1, 3]))
    assert torch.equal(new.state[kept]["exp_avg"], old.state[code]["exp_avg"][[1, 3]])
    assert torch.equal(new.state[kept]["exp_avg_sq"], old.state[code]["exp_avg_sq"][[1, 3]])


def test_the_search_noise_fades_out_and_keeps_k_starts(shapes_generator):
    """The search's code noise is on at first and gone after three quarters of the search; ``keep`` starts per
    picture are refined side by side for ``keep_steps`` steps, then one is kept."""
    g = shapes_generator
    with torch.no_grad():
        pictures = g.synthesis(g.encode(g.sample_z([HELD_OUT + 60, HELD_OUT + 61]), "w"), "w")
    p = Projector(g, pictures, ProjectionConfig(steps=6, search_steps=8, starts=4, keep=3, keep_steps=2,
                                                search_noise=0.5, polish_steps=0))
    assert float(p.code_noise().abs().amax()) > 0.1
    seen = []
    while p.iteration < p.total:
        if p.iteration == 6:
            assert float(p.code_noise().abs().amax()) == 0.0
        p.step()
        seen.append(len(p.code.code))
    assert seen == [8] * 7 + [6, 6, 2, 2, 2, 2, 2]


def test_noise_maps_are_optimised_for_stylegan2(narrow_stylegan2):
    g = narrow_stylegan2
    with torch.no_grad():
        ws = g.encode(g.sample_z([HELD_OUT + 20]), "w+")
        picture = g.synthesis(ws, "w+").clamp(-1, 1)
        # the reference: the module forwards with the fixed noise equal the fast synthesis
        assert torch.allclose(g.synthesis_with_noise(ws, g.noise_inputs()), g.synthesis(ws, "w+"), atol=1e-4)
    result = project(g, picture, ProjectionConfig(steps=10, search_steps=0, noise=True))
    assert result.noise is not None and len(result.noise) == len(g.noise_inputs())
    assert all(n.shape[0] == 1 and abs(float(n.std()) - 1) < 0.05 for n in result.noise)
    with torch.no_grad():
        again = g.synthesis_with_noise(result.latent, result.noise)
    assert torch.allclose(psnr(again, picture), result.psnr_db, atol=1e-3)


def test_pixel_loss_forgives_renders_beyond_a_saturated_picture():
    target = torch.tensor([1.0, -1.0, 0.5]).view(1, 3, 1, 1)
    assert float(pixel_loss(torch.tensor([1.7, -1.3, 0.5]).view(1, 3, 1, 1), target)) == 0.0
    assert math.isclose(float(pixel_loss(torch.tensor([0.7, -1.0, 0.5]).view(1, 3, 1, 1), target)), 0.03, rel_tol=1e-5)


@pytest.mark.parametrize("bad, words", [
    ("photo.png", "must be an image tensor"),
    (torch.zeros(1, 3, 64, 64), "is 64×64 pixels but the generator draws 128×128"),
    (torch.zeros(1, 1, 128, 128), "float RGB image tensor"),
    (torch.zeros(1, 3, 128, 128, dtype=torch.uint8), "float RGB image tensor"),
    (torch.full((1, 3, 128, 128), 255.0), "values must lie in [-1, 1]"),
    (torch.full((1, 3, 128, 128), float("nan")), "NaN/Inf"),
])
def test_bad_pictures_are_refused_with_a_sentence(shapes_generator, bad, words):
    with pytest.raises(ProjectionError, match=None) as e:
        check_pictures(bad, shapes_generator)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_bad_settings_are_refused_with_a_sentence(shapes_generator):
    picture = torch.zeros(1, 3, 128, 128)  # (LPIPS without its weights: tests/test_projection_lpips.py, isolated)
    with pytest.raises(ProjectionError, match="has the latent spaces"):
        Projector(shapes_generator, picture, ProjectionConfig(space="w+"))
    with pytest.raises(ProjectionError, match=r"the start must be 'w' codes shaped \(1 or 1, 32\)"):
        Projector(shapes_generator, picture, start=torch.zeros(1, 7))
    with pytest.raises(ProjectionError, match="steps must be a whole number"):
        Projector(shapes_generator, picture, ProjectionConfig(steps=-1))
    with pytest.raises(ProjectionError, match="has no per-layer noise"):
        Projector(shapes_generator, picture, ProjectionConfig(noise=True))


def test_a_file_that_is_not_an_image_is_refused(shapes_generator, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(UploadError, match="not an image"):
        load_picture(text, shapes_generator)


def test_the_cli_projects_a_picture_file(shapes_world, tmp_path, capsys):
    g, _ = shapes_world
    with torch.no_grad():
        codes = g.encode(g.sample_z([HELD_OUT + 30]), "w")
        picture = g.synthesis(codes, "w")
    png = tmp_path / "photo.png"
    Image.fromarray(((picture[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()).save(png)
    out = tmp_path / "code.pt"
    assert main(["project", "--generator", "shapes-128", "--image", str(png), "--out", str(out), "--steps", "100",
                 "--search-steps", "60", "--starts", "8"]) == 0
    said = capsys.readouterr().out
    best = shipped_mapper(g, "shapes-128").name  # the shipped mapper with the best recorded inversion
    assert f"starting from the {best} mapper's guess" in said and "LPIPS: off" in said
    code = load_code(out)
    assert code["space"] == "w" and code["generator"] == "shapes-128" and code["latent"].shape == (1, 32)
    assert out.with_suffix(".png").is_file()
    with torch.no_grad():  # the saved code re-renders the file as well as the CLI said, far above the mapper (~20 dB)
        again = g.synthesis(code["latent"], "w")
    assert math.isclose(float(psnr(again, load_picture(png, g))), code["psnr_db"], abs_tol=0.05)
    assert float(psnr(again, picture)) > 25  # and the picture before its 8-bit rounding
    assert main(["project", "--image", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert "no image was uploaded" in capsys.readouterr().err


def test_the_start_is_the_mappers_guess(shapes_world, mapper):
    g, clip = shapes_world
    with torch.no_grad():
        picture = g.synthesis(g.encode(g.sample_z([HELD_OUT + 40]), "w"), "w")
    guess, note = start_for(g, "shapes-128", picture, GUESSES, clip=lambda name: clip)
    assert guess.shape == (1, 32) and shipped_mapper(g, "shapes-128").name in note  # the best recorded inversion
    assert start_for(g, "shapes-128", picture, ())[0] is None  # no guesses: the mean code
    with torch.no_grad():
        assert float(psnr(g.synthesis(guess, "w"), picture)) > 12  # a semantic guess, not the picture
