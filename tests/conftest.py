from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gradio_client import Client

from .app_server import running_app
from .helpers import open_service, random_stylegan2

FIXTURES = Path(__file__).parent / "fixtures"  # copies of ../shared/fixtures/reference_generators


def pytest_configure(config):
    config.addinivalue_line("markers", "service_options(**kwargs): keyword arguments to Service for the module's "
                                       "`service` fixture, e.g. start_worker=False (set as the module's pytestmark)")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A gradio_client Client of the app started on loopback, one app per test module."""
    with running_app(tmp_path_factory.mktemp("app-data")) as url:
        yield Client(url, verbose=False)


@pytest.fixture()
def contraclip_home(tmp_path, monkeypatch) -> Path:
    """A private conversion cache, so tests never see (or write) the user's."""
    home = tmp_path / "contraclip-home"
    monkeypatch.setenv("CONTRACLIP_HOME", str(home))
    return home


def populate_hf_cache(cache_dir: Path, repo_id: str, files: dict[str, Path], commit: str = "a" * 40) -> None:
    """Lay out files as huggingface_hub's cache does: blobs/, refs/main, snapshots/<commit>/<path> → blob."""
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for i, (filename, src) in enumerate(files.items()):
        blob = repo_dir / "blobs" / f"{i:040x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, blob)
        link = repo_dir / "snapshots" / commit / filename
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)


def fixture_config(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.config.json").read_text())


SHIPPED_SHAPES_PATHS = Path(__file__).resolve().parent.parent / "checkpoints" / "shapes" / "paths" / "shapes-corpus"


def hub_path_repo(cache_dir: Path, repo_id: str, sets: dict[str, Path], commit: str = "b" * 40) -> Path:
    """A Hub path-set repo in a local HF cache, laid out as ``publish`` uploads it: each ``sets`` item is
    ``"<generator>/<set>": path-set folder``. Returns the cache dir (HF_HUB_CACHE)."""
    files = {}
    for where, folder in sets.items():
        for name in ("paths.json", "paths.safetensors"):
            files[f"{where}/{name}"] = folder / name
    populate_hf_cache(cache_dir, repo_id, files, commit)
    return cache_dir


# --- shared fixtures -------------------------------------------------------------------------------------------------
# Each is built once per test module (scope="module"), as each module built its own before they lived here: a module's
# tests share one, no two modules do. The Shapes CLIP keeps a text-embedding cache on the object and the services keep
# jobs and files, so sharing them across modules would let one module's state reach another's assertions.


@pytest.fixture(scope="module")
def service(request, tmp_path_factory):
    """A Service (CPU) on a fresh temporary data folder, its background worker running. Scope: module — the module's
    tests share its jobs, path sets and outputs, never another module's. A module that queues jobs without wanting
    them run (or runs them by hand with ``service.queue._run_one``) sets
    ``pytestmark = pytest.mark.service_options(start_worker=False)``; any other keyword goes to Service too."""
    marker = request.node.get_closest_marker("service_options")
    with open_service(tmp_path_factory.mktemp("data"), **(marker.kwargs if marker else {})) as s:
        yield s


@pytest.fixture(scope="module")
def one_torch_thread():
    """``torch.set_num_threads(1)`` from the module's first test on (``pytest.mark.usefixtures("one_torch_thread")``),
    for the modules that asked for one thread before this fixture existed (mapper training, the shipped mappers'
    figures, the anchors). Scope: module, but torch's thread count is process-wide
    and is not restored afterwards — as when these modules set it themselves — so later modules in the same run keep
    one thread unless they set their own (test_quality_shapes does)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shapes_generator():
    """The embedded Shapes world generator (``from_pretrained("shapes-128")``, eval mode, frozen). Scope: module."""
    from contraclip_core.generators import from_pretrained

    return from_pretrained("shapes-128")


@pytest.fixture(scope="module")
def shapes_clip():
    """The shipped Shapes CLIP (``load_clip("shapes-clip")``). Scope: module — it caches text embeddings on itself,
    so a module never reads another module's cache. A test whose result depends on an empty cache (one that encodes
    text under autocast, say) loads its own."""
    from contraclip_core.clip import load_clip

    return load_clip("shapes-clip")


@pytest.fixture(scope="module")
def shapes_world(shapes_generator, shapes_clip):
    """``(shapes_generator, shapes_clip)``: the Shapes world and its CLIP, the pair most training tests need.
    Scope: module (the same two objects as the module's ``shapes_generator`` and ``shapes_clip``)."""
    return shapes_generator, shapes_clip


@pytest.fixture(scope="module")
def tiny_stylegan2():
    """The tiny rosinality StyleGAN2 of tests/fixtures with its reference weights (g_ema and w_avg): 32 px, 64-d
    z and w, 8 style inputs; eval mode, frozen. Scope: module."""
    from safetensors.torch import load_file

    g = random_stylegan2(seed=None)  # every weight is loaded below: no need to seed (and touch the global RNG)
    state = load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors")
    state["latent_avg"] = load_file(FIXTURES / "stylegan2_rosinality_tiny.io.safetensors")["w_avg"]
    g.load_state_dict(state)
    return g.eval().requires_grad_(False)


@pytest.fixture()
def random_tiny_stylegan2():
    """The architecture of ``tiny_stylegan2`` with random weights (``torch.manual_seed(0)``, then built), eval mode,
    frozen: no real weights can be downloaded here. Scope: function — built afresh for each test, the global RNG
    seeded just before, as the tests did inline."""
    return random_stylegan2().eval().requires_grad_(False)


@pytest.fixture(scope="session")
def e4e_checkpoint() -> dict:
    """The e4e recipe of tests/fixtures (e4e_tiny.*) realised as the authors' coach saves a checkpoint: state_dict
    (IR-SE50 encoder, 32-px decoder), opts (plain values), latent_avg. Scope: session (~0.55 GB of weights)."""
    import torch  # noqa: F401 - realise draws with torch

    from .e4e_recipe import checksum, read_recipe, realise

    recipe = read_recipe(FIXTURES / "e4e_tiny.recipe.json")
    state = realise(recipe)
    assert checksum(state) == pytest.approx(recipe["checksum"], rel=1e-12), (
        "this torch draws other random numbers than the one the fixture was made with "
        f"({recipe['made_with']['torch']}); remake the fixture with scripts/make_e4e_fixture.py")
    latent_avg = state.pop("latent_avg")
    return {"state_dict": state, "opts": dict(recipe["opts"]), "latent_avg": latent_avg}


@pytest.fixture(scope="session")
def e4e_checkpoint_file(e4e_checkpoint, tmp_path_factory) -> Path:
    """``e4e_checkpoint`` written once per session, as ``torch.save`` does in the authors' code."""
    import torch

    path = tmp_path_factory.mktemp("e4e") / "e4e_tiny_encode.pt"
    torch.save(e4e_checkpoint, path)
    return path
