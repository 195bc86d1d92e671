"""LPIPS in the projection (issue #30 item 1, "LPIPS when its weights are on the machine"): our re-derivation agrees
with the ``lpips`` package (a test dependency, never imported by the project) on the same weights, the shipped lin
weights are the package's, a projection without the VGG16 weights is refused before anything runs, and one with
them optimises the LPIPS term."""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import contraclip_core.methods.projection.lpips as lp
import contraclip_core.methods.projection.train as train
from contraclip_core.errors import WeightsError
from contraclip_core.methods.projection.evaluate import random_stylegan2
from contraclip_core.methods.projection.losses import ProjectionError, pixel_loss
from contraclip_core.methods.projection.model import resize
from contraclip_core.methods.projection.train import ProjectionConfig, Projector, project
from contraclip_core.generators.formats import read_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def images(seed: int, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def reference():
    """The package's LPIPS v0.1 (VGG): its shipped lin weights, a seeded random trunk; any download is an error."""
    import lpips

    with pytest.MonkeyPatch.context() as mp, torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's notes on the package's ``pretrained=False``
        for name in ("load_state_dict_from_url", "download_url_to_file"):
            mp.setattr(torch.hub, name, lambda *a, **k: pytest.fail("the reference tried to download weights"))
        torch.manual_seed(0)
        net = lpips.LPIPS(net="vgg", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    return net.eval()


@pytest.fixture(scope="module")
def trunk_file(reference, tmp_path_factory) -> Path:
    """The reference's trunk as torchvision's VGG16 state dict (``features.N.*``), in the legacy (non-zip) torch format
    that torchvision's ``vgg16-397923af.pth`` has."""
    state = {f"features.{k.split('.', 1)[1]}": v.clone() for k, v in reference.net.state_dict().items()}
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    return path


@pytest.fixture(scope="module")
def ours(trunk_file):
    return lp.load_lpips("cpu", trunk_file)


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (3, 3, 48, 40)])
def test_lpips_agrees_with_the_package(reference, ours, shape):
    x, y = images(1, *shape), images(2, *shape)
    near = (y + 0.05 * images(3, *shape)).clamp(-1, 1)  # a close pair: the projection's regime
    for a, b in ((x, y), (near, y)):
        want = reference(a, b).flatten()
        got = ours(a, b)
        assert got.shape == (shape[0],) and (want > 1e-4).all()
        assert (got - want).abs().max() <= 1e-5, (got, want)
        assert ((got - want).abs() / want).max() <= 1e-4, (got, want)  # the close pair's values are ~5e-4


def test_lpips_gradient_agrees_with_the_package(reference, ours):
    y = images(5, 2, 3, 32, 32)
    grads = []
    for net in (reference, ours):
        x = images(4, 2, 3, 32, 32).requires_grad_(True)
        net(x, y).sum().backward()
        grads.append(x.grad)
    scale = grads[0].abs().max()
    assert scale > 0 and (grads[0] - grads[1]).abs().max() <= 1e-5 * scale


def test_the_shipped_lin_weights_are_the_packages(reference, tmp_path):
    spec = importlib.util.find_spec("lpips")  # located, not imported here: the conversion reads it weights_only
    package_file = Path(spec.origin).parent / "weights" / "v0.1" / "vgg.pth"
    converted = read_weights(lp.convert_lin_weights(package_file, tmp_path / "lin.safetensors"))
    shipped = read_weights(lp.LIN_FILE)
    assert sorted(shipped) == [f"lin{i}" for i in range(5)]
    for i in range(5):
        assert torch.equal(shipped[f"lin{i}"], converted[f"lin{i}"])
        assert torch.equal(shipped[f"lin{i}"], getattr(reference, f"lin{i}").model[-1].weight.flatten())


def test_bad_weight_files_are_refused(tmp_path, ours):
    bad = tmp_path / "not-vgg.safetensors"
    save_file({"features.0.weight": torch.zeros(8, 3, 3, 3)}, str(bad))
    with pytest.raises(WeightsError, match="not torchvision's VGG16 weights"):
        lp.load_lpips("cpu", bad)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"features.0.weight": Path("x")}, unsafe)  # a pickled object that is not a tensor
    with pytest.raises(WeightsError, match="refused to load"):
        lp.load_lpips("cpu", unsafe)
    negative = {f"lin{i}": -torch.ones(c) for i, c in enumerate(lp.CHANNELS)}
    with pytest.raises(WeightsError, match="lin0 holds negative"):
        lp.LPIPS(lin=negative)
    with pytest.raises(ProjectionError, match="at least 16 pixels"):
        ours(images(0, 1, 3, 8, 8), images(1, 1, 3, 8, 8))


# --- where the VGG16 weights come from ---------------------------------------------------------------------------


@pytest.fixture()
def empty_machine(tmp_path, monkeypatch) -> Path:
    """No $CONTRACLIP_LPIPS_VGG, an empty torch hub cache, download.pytorch.org unreachable; downloads fail."""
    hub = tmp_path / "hub"
    monkeypatch.delenv(lp.VGG_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setattr(lp, "reachable", lambda *a, **k: False)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    return hub


@pytest.fixture(scope="module")
def narrow():
    return random_stylegan2(size=32, style_dim=32, channels=16, seed=0)


def picture(g, seed: int = 1) -> torch.Tensor:
    with torch.no_grad():
        return g.synthesis(g.encode(torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(seed)), "w"),
                           "w").float().clamp(-1, 1)


def test_without_the_vgg_weights_a_projection_is_refused_before_it_runs(empty_machine, narrow, monkeypatch):
    monkeypatch.setattr(train, "prior_spread", lambda *a, **k: pytest.fail("the projection started"))
    for run in (lambda: Projector(narrow, picture(narrow), ProjectionConfig(lpips=0.5)),
                lambda: project(narrow, picture(narrow), ProjectionConfig(lpips=0.5, steps=1))):
        with pytest.raises(ProjectionError) as refused:
            run()
        said = str(refused.value)
        assert said.startswith("LPIPS is not available here: torchvision's VGG16 weights vgg16-397923af.pth")
        assert str(empty_machine / "checkpoints") in said and "$CONTRACLIP_LPIPS_VGG" in said
        assert said.count(". ") == 0 and said.count(";") == 1  # one sentence
    monkeypatch.setenv(lp.VGG_ENV, str(empty_machine / "nowhere.pth"))
    with pytest.raises(ProjectionError, match=r"\$CONTRACLIP_LPIPS_VGG names .*nowhere.pth', which is not a file"):
        Projector(narrow, picture(narrow), ProjectionConfig(lpips=0.5))
    with pytest.raises(ProjectionError, match="search_size must be ≥ 16"):
        ProjectionConfig(lpips=0.5, search_size=8).check()
    with pytest.raises(ProjectionError, match="lpips must be a finite number ≥ 0"):
        ProjectionConfig(lpips=float("nan")).check()


def test_an_unreachable_host_is_seen_as_unreachable():
    assert lp.reachable("https://download.invalid/vgg16-397923af.pth", timeout=1.0) is False


def test_the_vgg_weights_are_found_in_the_hub_cache_or_downloaded_there(empty_machine, trunk_file, monkeypatch):
    fetched = []

    def download(url, dst, hash_prefix=None, progress=True):
        fetched.append((url, hash_prefix))
        Path(dst).write_bytes(trunk_file.read_bytes())

    monkeypatch.setattr(lp, "reachable", lambda *a, **k: True)
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    cached = empty_machine / "checkpoints" / "vgg16-397923af.pth"
    assert lp.vgg_path() == cached and cached.read_bytes() == trunk_file.read_bytes()
    assert fetched == [("https://download.pytorch.org/models/vgg16-397923af.pth", "397923af")]
    assert lp.vgg_path() == cached and len(fetched) == 1  # the second time from the cache
    monkeypatch.setenv(lp.VGG_ENV, str(trunk_file))
    assert lp.vgg_path() == trunk_file  # the named file comes first


# --- the loss in a projection ----------------------------------------------------------------------------------------


def test_the_projection_adds_lpips_and_lowers_it(narrow, ours, trunk_file, monkeypatch):
    monkeypatch.setenv(lp.VGG_ENV, str(trunk_file))
    target = picture(narrow)
    config = ProjectionConfig(steps=40, search_steps=0, starts=1, lr=0.1, lpips=1.0)
    projector = Projector(narrow, target, config)
    with torch.no_grad():
        start = projector.code.render(narrow)
        term = ours(start, target)
        assert torch.allclose(projector.per_picture_loss(None), pixel_loss(start, target) + term, atol=1e-6)
        assert term > 1e-3
    result = projector.train()
    losses = projector.losses
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    with torch.no_grad():
        assert ours(result.image, target) < 0.5 * term


def test_renders_larger_than_256_px_are_compared_at_256(ours, monkeypatch):
    assert lp.MAX_SIZE == 256
    monkeypatch.setattr(lp, "MAX_SIZE", 32)  # the same rule at a size a test affords
    target, render = images(7, 1, 3, 40, 40), images(8, 2, 3, 40, 40)
    loss = lp.LpipsLoss(ours, target)
    with torch.no_grad():
        got = loss(render, torch.zeros(2, dtype=torch.long))
        want = ours(resize(render, 32), resize(target, 32).expand(2, -1, -1, -1))
        small = loss(resize(render, 24), torch.zeros(2, dtype=torch.long))  # the search's size: compared as it is
        assert torch.allclose(small, ours(resize(render, 24), resize(target, 24).expand(2, -1, -1, -1)), atol=1e-6)
    assert set(loss.target_features) == {32, 24} and torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(got, ours(render, target.expand(2, -1, -1, -1)), atol=1e-4)
