"""The orientation check every ContraCLIP training ends with (orientation.py): a flip exactly reverses a path, a
path that goes the wrong way in CLIP space is found and flipped back, one that goes the right way is left alone,
the artefact records it, and a path set written before the check still loads."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from contraclip_core.methods.contraclip import orientation, presets
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.methods.contraclip.evaluate import evaluate_shapes
from contraclip_core.methods.contraclip.model import LatentSupportSets, LinearPaths
from contraclip_core.methods.contraclip.train import Trainer
from contraclip_core.methods.contraclip.traversal import euler_path
from contraclip_core.methods.contraclip.whitening import LatentWhitening

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LEFT_RIGHT = ("a shape on the left", "a shape on the right")


def whitening(dim: int) -> LatentWhitening:
    g = torch.Generator().manual_seed(5)
    a = torch.randn(dim, dim, generator=g)
    return LatentWhitening(torch.randn(dim, generator=g), torch.linalg.cholesky(a @ a.T + dim * torch.eye(dim)))


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("kind", ["linear", "contraclip"])
def test_flip_reverses_the_traversal(kind, whiten):
    dim = 6
    paths = LinearPaths(3, dim, seed=1) if kind == "linear" else LatentSupportSets(3, 4, dim, [1.0, 1.5, 2.0], seed=1)
    if kind == "contraclip":  # trained support vectors are no longer antipodal pairs: move them apart
        with torch.no_grad():
            noise = torch.randn(paths.support_sets.shape, generator=torch.Generator().manual_seed(2))
            paths.support_sets.add_(0.3 * noise)
    paths.whitening = whitening(dim) if whiten else None
    x = torch.randn(5, dim, generator=torch.Generator().manual_seed(3))
    before = [euler_path(paths, x, k, 6, 0.3) for k in range(3)]
    state = copy.deepcopy(paths.state_dict())
    orientation.flip(paths, 1)
    after = [euler_path(paths, x, k, 6, 0.3) for k in range(3)]
    assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[2])  # the other paths untouched
    reversed_ = after[1].flip(1)  # + steps of the flipped path = − steps of the original
    assert not torch.allclose(after[1], before[1], atol=1e-3)
    if kind == "linear":  # negating v negates every step bit for bit
        assert torch.equal(reversed_, before[1])
    else:  # the same terms with opposite signs, summed in another order: round-off only
        assert torch.allclose(reversed_, before[1], atol=1e-5, rtol=0)
    orientation.flip(paths, 1)  # twice: the original, exactly
    assert all(torch.equal(state[k], v) for k, v in paths.state_dict().items())


def test_flip_refuses_what_it_cannot_negate():
    paths = LatentSupportSets(1, 2, 4, [1.0])
    with pytest.raises(ValueError, match="out of range"):
        orientation.flip(paths, 1)
    paths.alpha.copy_(torch.tensor([1.0, 1.0, -1.0, -1.0]))  # not opposite pairs: a swap would not negate
    with pytest.raises(ValueError, match="opposite pairs"):
        orientation.flip(paths, 0)


@pytest.fixture(scope="module")
def trained(shapes_world):
    """Left/right, trained briefly with the quick preset (the check ran at its end)."""
    generator, clip = shapes_world
    config = presets.train_config("shapes-128", "quick", dipoles=[LEFT_RIGHT], seed=0)
    config.iterations = 30
    trainer = Trainer(config, generator, clip)
    path_set = trainer.train()
    return trainer, path_set


def movement(trainer) -> float:
    return orientation.movements(trainer.paths, trainer.view, trainer.generator, trainer.clip,
                                 trainer.css.support_sets[:, 0], trainer.css.support_sets[:, 1],
                                 trainer.config.truncation, 0.25)[0].mean().item()


def test_training_ends_checked_and_recorded(trained, tmp_path):
    trainer, path_set = trained
    (record,) = path_set.metrics["orientation"]
    assert record["checked"] is True and isinstance(record["flipped"], bool)
    assert record["anchors"] == orientation.ANCHORS and 0.5 <= record["forward_anchors"] <= 1
    assert record["movement"] == pytest.approx(trainer.orientation[0]["movement"])
    assert movement(trainer) > 0.01  # whichever way it was trained, it now goes toward the first sentence
    loaded = PathSet.load(path_set.save(tmp_path / "set"))
    assert orientation.record_of(loaded.metrics, 0) == record
    assert orientation.record_of(loaded.metrics, 1) is None


def test_a_negated_path_is_flipped_back_and_a_right_one_left_alone(trained, shapes_generator):
    trainer, _ = trained
    trainer = copy.copy(trainer)
    trainer.paths = copy.deepcopy(trainer.paths)
    good = copy.deepcopy(trainer.paths.state_dict())
    forward = movement(trainer)
    gt_forward = evaluate_shapes(shapes_generator, trainer.path_set(), seeds=range(8))[0].target_change

    (record,) = trainer.orient()  # the right way: left alone
    assert record["flipped"] is False and record["movement"] == pytest.approx(forward, abs=1e-6)
    share = record["forward_anchors"]
    assert all(torch.equal(good[k], v) for k, v in trainer.paths.state_dict().items())

    orientation.flip(trainer.paths, 0)  # sabotage: the path now goes the wrong way
    assert movement(trainer) == pytest.approx(-forward, abs=1e-4)
    assert evaluate_shapes(shapes_generator, trainer.path_set(), seeds=range(8))[0].target_change < 0 < gt_forward
    (record,) = trainer.orient()
    assert record["flipped"] is True and record["movement"] == pytest.approx(-forward, abs=1e-4)
    assert record["forward_anchors"] == share  # counted on the path as flipped back, not as found
    assert all(torch.equal(good[k], v) for k, v in trainer.paths.state_dict().items())  # back, exactly
    path_set = trainer.path_set()
    assert path_set.metrics["orientation"][0]["flipped"] is True
    assert evaluate_shapes(shapes_generator, path_set, seeds=range(8))[0].target_change == pytest.approx(gt_forward)


def test_linear_paths_are_checked_too(shapes_world):
    generator, clip = shapes_world
    config = presets.train_config("shapes-128", "quick", dipoles=[LEFT_RIGHT], method="linear", seed=0)
    config.iterations = 10
    trainer = Trainer(config, generator, clip)
    trainer.train()
    direction = trainer.paths.directions.detach().clone()
    with torch.no_grad():
        trainer.paths.directions.neg_()
    (record,) = trainer.orient()
    assert record["flipped"] is True and record["movement"] < 0
    assert torch.equal(trainer.paths.directions, direction)


def test_a_stopped_training_is_not_checked(shapes_world):
    generator, clip = shapes_world
    config = presets.train_config("shapes-128", "quick", dipoles=[LEFT_RIGHT], seed=0)
    config.iterations = 10
    trainer = Trainer(config, generator, clip)
    path_set = trainer.train(callback=lambda p: p.iteration < 3)
    assert trainer.iteration == 3 and trainer.orientation == [] and "orientation" not in path_set.metrics


def test_a_path_set_from_before_the_check_loads(trained, shapes_generator, tmp_path):
    _, path_set = trained
    folder = path_set.save(tmp_path / "old")
    meta = json.loads((folder / "paths.json").read_text())
    meta["metrics"] = {"train_seconds": 1.0}  # as written before the check existed
    (folder / "paths.json").write_text(json.dumps(meta))
    old = PathSet.load(folder, shapes_generator)
    assert "orientation" not in old.metrics and orientation.record_of(old.metrics, 0) is None
    del meta["metrics"]  # and with no metrics at all
    (folder / "paths.json").write_text(json.dumps(meta))
    assert orientation.record_of(PathSet.load(folder, shapes_generator).metrics, 0) is None


def test_the_hub_card_says_what_the_check_did(trained):
    from contraclip_core.methods.contraclip.publish import set_card

    _, path_set = trained
    path_set = copy.deepcopy(path_set)
    path_set.metrics["orientation"] = [dict(path_set.metrics["orientation"][0], flipped=False)]
    assert "1 of 1 paths checked, none flipped" in set_card(path_set, "s", "o/r", [])
    path_set.metrics["orientation"][0]["flipped"] = True
    assert "1 of 1 paths checked, flipped: path 0" in set_card(path_set, "s", "o/r", [])
    path_set.metrics = {}  # trained before the check: no line
    assert "Orientation check" not in set_card(path_set, "s", "o/r", [])


def test_the_hub_card_names_each_paths_objective(shapes_generator):
    from contraclip_core.methods.contraclip.artefact import PathSet
    from contraclip_core.methods.contraclip.publish import set_card

    def card(name):
        return set_card(PathSet.from_pretrained(f"shapes-128/{name}", shapes_generator), name, "o/r", [])

    # the Shapes preset's per-family objective: the corpus set's colour path trained with zero-shot-circle, its size path
    # with PAE, its shape path plain
    corpus = card("shapes-corpus")
    assert "- **Objective**: per attribute family — path 0: colour → zero-shot-circle; path 1: size → pae-subspace; " \
           "path 2: shape → plain" in corpus, corpus
    assert "- **Objective**: pae-subspace (attribute family: path 0 colour)" in card("green-magenta-pae")
    assert "- **Objective**: plain\n" in card("circle-square")
    from contraclip_core.methods.contraclip.objectives import describe

    # a damaged or foreign record names the objective and nothing more, and does not stop the card
    assert describe({"objective": "by-family", "objective_record": ["x"]}) == "by-family"
    assert describe({"objective": "by-family", "objective_record": {"family_of_dipole": "size"}}) == "by-family"
