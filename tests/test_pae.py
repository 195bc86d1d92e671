"""CLIP-PAE's linear algebra (contraclip_core/pae.py), checked against hand-computed references, and the objective
seam: the trainer records its objective, family, corpus and basis in paths.json."""
from __future__ import annotations

import math

import pytest
import torch

from contraclip_core.methods.contraclip import pae


def _random(n, e, seed=0):
    return torch.randn(n, e, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_pca_basis_is_orthonormal_and_spans_the_centred_corpus():
    x = _random(6, 20)
    basis = pae.pca_basis(x, k=10)
    assert basis.shape == (5, 20)  # 6 prompts span 5 centred directions, fewer than the asked 10
    assert torch.allclose(basis @ basis.t(), torch.eye(5, dtype=basis.dtype), atol=1e-10)
    centred = pae.unit(x) - pae.unit(x).mean(0)
    assert torch.allclose(pae.project(centred, basis), centred, atol=1e-10)  # every centred prompt lies in S


def test_pca_basis_top_direction_is_the_dominant_variation():
    # Points spread along axis 3 (a lot) and axis 7 (a little), all near the unit vector e_0.
    x = torch.zeros(8, 10, dtype=torch.float64)
    x[:, 0] = 10.0
    x[:, 3] = torch.linspace(-1, 1, 8)
    x[:, 7] = 0.1 * torch.tensor([1.0, -1, 1, -1, 1, -1, 1, -1], dtype=torch.float64)
    basis = pae.pca_basis(x, k=1)
    assert basis.shape == (1, 10)
    assert abs(float(basis[0, 3])) > 0.99
    assert float(basis[0].abs().argmax()) == 3 and float(basis[0, 3]) > 0  # oriented: largest coordinate positive


def test_gram_schmidt_matches_hand_computation_and_skips_dependent_rows():
    v = torch.tensor([[3.0, 0, 0], [1.0, 2, 0], [2.0, 2, 0], [1.0, 1, 1]], dtype=torch.float64)
    b = pae.gram_schmidt(v)
    expected = torch.eye(3, dtype=torch.float64)
    assert b.shape == (3, 3) and torch.allclose(b, expected, atol=1e-12)


def test_projection_and_outside_split_a_vector():
    basis = torch.tensor([[1.0, 0, 0, 0], [0, 0, 1.0, 0]], dtype=torch.float64)
    v = torch.tensor([[1.0, 2, 3, 4]], dtype=torch.float64)
    assert torch.equal(pae.project(v, basis), torch.tensor([[1.0, 0, 3, 0]], dtype=torch.float64))
    assert torch.equal(pae.outside(v, basis), torch.tensor([[0.0, 2, 0, 4]], dtype=torch.float64))
    assert math.isclose(float(pae.subspace_fraction(v, basis)), math.sqrt(10 / 30))


def test_augment_matches_the_formula_by_hand():
    # S = span{e1, e2} in R^4; e and t unit vectors.
    basis = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]], dtype=torch.float64)
    e = torch.tensor([[0.6, -0.8, 0, 0]], dtype=torch.float64)  # |⟨e,b⟩| = 0.6, 0.8
    t = torch.tensor([0.0, 0.6, 0.8, 0], dtype=torch.float64)  # Σ⟨t,b⟩ = 0.6
    alpha = 2.0
    c = torch.tensor([1.2, 1.6], dtype=torch.float64)
    expected = e - (c[0] * basis[0] + c[1] * basis[1]) + (c.sum() / 0.6) * t
    assert torch.allclose(pae.augment(e, t, basis, alpha), expected, atol=1e-12)


def test_shift_direction_does_not_depend_on_alpha_and_only_removes_the_subspace_part():
    basis = pae.pca_basis(_random(5, 16, seed=1))
    e, t = _random(3, 16, seed=2), _random(1, 16, seed=3)[0]
    d1, d8 = pae.shift(e, t, basis, 1.0), pae.shift(e, t, basis, 8.0)
    assert torch.allclose(d1, d8, atol=1e-10)
    # PAE(e, t) − e lies in span(S ∪ {t}): nothing of e outside S is asked to change.
    span = pae.gram_schmidt(torch.cat([basis, t[None]]))
    assert torch.allclose(pae.outside(d1, span), torch.zeros_like(d1), atol=1e-10)


def test_augment_refuses_a_text_outside_the_subspace():
    basis = torch.tensor([[1.0, 0, 0]], dtype=torch.float64)
    with pytest.raises(pae.OutsideSubspaceError, match="almost no component"):
        pae.augment(torch.tensor([[1.0, 1, 0]], dtype=torch.float64), torch.tensor([0.0, 0, 1], dtype=torch.float64),
                    basis)


def test_subspace_shift_replaces_the_image_component_by_the_text_component():
    basis = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]], dtype=torch.float64)
    e = torch.tensor([[0.6, 0.0, 0.8, 0]], dtype=torch.float64)
    t = torch.tensor([0.0, 0.6, 0, 0.8], dtype=torch.float64)
    expected = torch.tensor([[-0.6, 0.6, 0, 0]], dtype=torch.float64) / math.sqrt(0.72)
    assert torch.allclose(pae.subspace_shift(e, t, basis), expected, atol=1e-12)


def test_choose_family_picks_the_subspace_holding_the_dipole_difference():
    bases = {"first": torch.tensor([[1.0, 0, 0, 0]]), "second": torch.tensor([[0, 0, 1.0, 0]])}
    assert pae.choose_family(torch.tensor([0.1, 1, 1, 0]), torch.tensor([0.1, 1, -1, 0]), bases) == "second"
    assert pae.choose_family(torch.tensor([1.0, 1, 0, 0]), torch.tensor([-1.0, 1, 0, 0]), bases) == "first"


def test_shapes_dipoles_get_their_own_family_and_the_record_lands_in_paths_json(tmp_path):
    from contraclip_core.methods.contraclip import presets
    from contraclip_core.clip import load_clip
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip.artefact import PathSet
    from contraclip_core.methods.contraclip.train import Trainer

    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    dipoles = [("a red shape", "a blue shape"), ("a large shape", "a small shape"), ("a circle", "a square"),
               ("a shape on the left", "a shape on the right"),
               ("a shape on a light background", "a shape on a dark background")]
    config = presets.train_config("shapes-128", "quick", dipoles=dipoles)
    config.objective, config.iterations = "pae", 2
    path_set = Trainer(config, g, clip).train()
    path_set.save(tmp_path / "set")
    record = PathSet.load(tmp_path / "set").settings["objective_record"]
    assert record["name"] == "pae" and record["alpha"] == pae.DEFAULT_ALPHA
    assert record["family_of_dipole"] == ["colour", "size", "shape", "horizontal", "background"]
    basis = torch.tensor(record["families"]["colour"]["basis"])
    assert basis.shape == (9, 128)  # 10 colour prompts span 9 centred directions
    assert torch.allclose(basis @ basis.t(), torch.eye(9), atol=1e-4)
    assert "a magenta shape" in record["families"]["colour"]["corpus"]


def test_unknown_objective_is_refused_with_a_sentence():
    from contraclip_core.methods.contraclip.train import TrainConfig

    with pytest.raises(ValueError, match="objective must be one of"):
        TrainConfig(dipoles=[("a", "b")], objective="magic").validate()


def test_dipole_shift_keeps_only_the_difference_inside_the_subspace():
    basis = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]], dtype=torch.float64)
    t_pos = torch.tensor([0.6, 0.0, 0.8, 0], dtype=torch.float64)  # shares the e3 part with t_neg …
    t_neg = torch.tensor([0.0, 0.6, 0.8, 0], dtype=torch.float64)
    expected = torch.tensor([1.0, -1.0, 0, 0], dtype=torch.float64) / math.sqrt(2)
    assert torch.allclose(pae.dipole_shift(t_pos, t_neg, basis), expected, atol=1e-12)
    t_out = torch.tensor([0.6, 0.0, 0.0, 0.8], dtype=torch.float64)  # … and a difference outside S is dropped
    assert torch.allclose(pae.dipole_shift(t_out, t_neg, basis), expected, atol=1e-12)


def test_cli_objective_choices_are_the_trainer_objectives():
    from contraclip_core.methods.contraclip import objectives
    from contraclip_core.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "--dipole", "a", "b", "--out", "x", "--objective", "pae-subspace"])
    assert args.objective == "pae-subspace"
    train = next(a for a in parser._subparsers._group_actions[0].choices["train"]._actions if a.dest == "objective")
    assert sorted(train.choices) == sorted(objectives.OBJECTIVES)


def _trained_objective(dipole, objective):
    """A Shapes trainer for one dipole with ``objective``, and six prior images' CLIP embeddings (unnormalised)."""
    from contraclip_core.clip import load_clip
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip import presets
    from contraclip_core.methods.contraclip.train import Trainer

    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    config = presets.train_config("shapes-128", "quick", dipoles=[dipole])
    config.objective = objective
    trainer = Trainer(config, g, clip)
    with torch.no_grad():
        z = torch.randn(6, g.z_dim, generator=torch.Generator().manual_seed(0))
        e = clip.encode_images(g.synthesis(g.encode(z, "w"), "w")).float()
    return trainer, e


def test_the_half_pae_target_bisects_the_plain_and_the_pae_targets():
    from contraclip_core.methods.contraclip import objectives

    trainer, e = _trained_objective(("a large shape", "a small shape"), "pae-mixed")
    e = torch.nn.functional.normalize(e, dim=-1)
    mixed = trainer.objective
    assert isinstance(mixed, objectives.MixedObjective)
    paths = torch.zeros(6, dtype=torch.long)
    eps = torch.tensor([0.3, -0.3, 0.5, -0.1, 0.2, -0.4])
    got = mixed.target_shift(e, paths, eps)
    plain = objectives.PlainObjective.target_shift(mixed, e, paths, eps)
    toward = objectives.SubspaceObjective.target_shift(mixed, e, paths, eps)
    assert torch.allclose(got.norm(dim=-1), eps.abs(), atol=1e-5)  # a unit direction times |ε|
    cos = torch.nn.functional.cosine_similarity
    assert torch.allclose(cos(got, plain, dim=-1), cos(got, toward, dim=-1), atol=1e-5)  # halfway between the two
    assert (cos(got, plain, dim=-1) > cos(toward, plain, dim=-1) - 1e-6).all()  # closer to plain than PAE is


def test_zero_shot_gradient_is_the_gradient_of_the_log_probability():
    e, classes = _random(5, 12, seed=1) * 3.0, _random(7, 12, seed=2)
    tau = 0.05
    for index in (0, 3):
        x = e.clone().requires_grad_(True)
        logp = torch.log_softmax(pae.unit(x) @ pae.unit(classes).t() / tau, dim=-1)[:, index]
        (grad,) = torch.autograd.grad(logp.sum(), x)
        got = pae.zero_shot_gradient(e.double(), classes, index, tau)
        assert torch.allclose(got.double(), grad, rtol=1e-5, atol=1e-6)


def _wheel(angles_deg):
    a = torch.tensor(angles_deg, dtype=torch.float64) * math.pi / 180
    return torch.stack([a.cos(), a.sin()], dim=-1)


def _walk(gradient, start_degrees):
    """Follow ``gradient`` (a function of embeddings (1, 2)) along the unit circle from ``start_degrees``; where it
    ends, in degrees (not wrapped)."""
    theta = torch.tensor(math.radians(start_degrees), dtype=torch.float64)
    for _ in range(3000):
        e = torch.stack([theta.cos(), theta.sin()])[None]
        g = gradient(e)[0].double()
        theta = theta + 0.01 * float(g @ torch.stack([-theta.sin(), theta.cos()]))  # along the circle
    return math.degrees(float(theta))


def test_zero_shot_ascent_stops_at_the_first_class_where_the_similarity_difference_overshoots():
    # Twelve colour names around a hue wheel (0° red, 240° blue): climbing log p(red) from 120° ends at red, where
    # climbing sim(red) − sim(blue), ContraCLIP's dipole field, ends 30° past red (toward orange).
    classes = _wheel([30.0 * k for k in range(12)])
    red, blue = 0, 8

    def climb(gradient):
        return math.remainder(_walk(gradient, 120.0), 360.0)

    assert abs(climb(lambda e: pae.zero_shot_gradient(e, classes, red, 0.05))) < 1.0
    assert climb(lambda e: (classes[red] - classes[blue])[None]) == pytest.approx(30.0, abs=1.0)


def test_the_zero_shot_objective_moves_toward_the_first_sentence_and_on_the_negative_side_away_from_it():
    from contraclip_core.methods.contraclip import objectives

    trainer, e = _trained_objective(("a red shape", "a blue shape"), "zero-shot")
    zs = trainer.objective
    assert isinstance(zs, objectives.ZeroShotObjective)
    assert zs.families.family_of == ["colour"]
    colours = zs.families.corpora["colour"]
    assert "a red shape" in colours and "a blue shape" in colours
    assert zs.classes[0].shape[0] == len(colours)  # the two sentences first, then the family's other prompts
    record = trainer.path_set().settings["objective_record"]
    assert record["name"] == "zero-shot" and record["tau"] == zs.tau
    paths = torch.zeros(6, dtype=torch.long)
    eps = torch.tensor([0.3, -0.3, 0.5, -0.1, 0.2, -0.4])
    got = zs.target_shift(e, paths, eps)
    assert torch.allclose(got.norm(dim=-1), eps.abs(), atol=1e-5)
    first = pae.unit(pae.zero_shot_gradient(e, zs.classes[0], 0, zs.tau))
    second = pae.unit(pae.zero_shot_gradient(e, zs.classes[0], 1, zs.tau))
    cos = torch.nn.functional.cosine_similarity
    pos, neg = eps > 0, eps < 0
    assert torch.allclose(cos(got[pos], first[pos], dim=-1), torch.ones(int(pos.sum())), atol=1e-5)
    # ε < 0: halfway between toward the second sentence and away from the first
    assert torch.allclose(cos(got[neg], second[neg], dim=-1), cos(got[neg], -first[neg], dim=-1), atol=1e-5)
    assert (cos(got[neg], first[neg], dim=-1) < 0).all()


def test_expected_score_gradient_is_the_gradient_of_the_expected_score():
    e, classes, scores = _random(5, 12, seed=3) * 2.0, _random(7, 12, seed=4), torch.linspace(-1, 1, 7)
    tau = 0.05
    x = e.clone().requires_grad_(True)
    p = torch.softmax(pae.unit(x) @ pae.unit(classes).t() / tau, dim=-1)
    (grad,) = torch.autograd.grad((p @ scores.double()).sum(), x)
    got = pae.expected_score_gradient(e.double(), classes, scores, tau)
    assert torch.allclose(got.double(), grad, rtol=1e-5, atol=1e-6)


def test_descending_the_expected_closeness_ends_opposite_the_first_class_not_back_at_it():
    # Twelve colour names around a hue wheel, red/green: from a hue between green and cyan (150°), heading for the
    # second class (green) brings the hue back toward red; descending the closeness to red the classifier expects,
    # Σ p_c cos(angle_c − 0°), ends at cyan (180°), as far from red as a hue goes.
    classes = _wheel([30.0 * k for k in range(12)])
    red, green = 0, 4
    scores = torch.cos(torch.deg2rad(torch.tensor([30.0 * k for k in range(12)], dtype=torch.float64)))

    def walk(gradient, start=150.0):
        return _walk(gradient, start) % 360

    assert walk(lambda e: -pae.expected_score_gradient(e, classes, scores, 0.05)) == pytest.approx(180.0, abs=1.0)
    assert walk(lambda e: pae.zero_shot_gradient(e, classes, green, 0.05)) == pytest.approx(120.0, abs=1.0)
    assert walk(lambda e: -pae.expected_score_gradient(e, classes, scores, 0.05), start=60.0) == pytest.approx(
        180.0, abs=1.0)  # from yellow too: past green, on to cyan


def test_the_circle_objective_heads_for_the_first_colours_opposite_and_is_zero_shot_elsewhere():
    from contraclip_core.methods.contraclip import objectives

    trainer, e = _trained_objective(("a red shape", "a green shape"), "zero-shot-circle")
    circle = trainer.objective
    assert isinstance(circle, objectives.ZeroShotCircleObjective)
    colours = circle.families.corpora["colour"]
    # scores in the classes' order: the two sentences (red, green), then the other colour prompts (grey: no hue)
    expected = [1.0, -0.5] + [{"orange": 0.866, "yellow": 0.5, "cyan": -1.0, "blue": -0.5, "purple": 0.0,
                               "magenta": 0.5, "pink": 0.866, "grey": 0.0}[c.split()[1]]
                              for c in colours if c not in ("a red shape", "a green shape")]
    assert circle.scores[0].tolist() == pytest.approx(expected, abs=1e-3)
    assert trainer.path_set().settings["objective_record"]["first_angle_degrees"] == [0.0]
    paths = torch.zeros(6, dtype=torch.long)
    eps = torch.tensor([0.3, -0.3, 0.5, -0.1, 0.2, -0.4])
    got = circle.target_shift(e, paths, eps)
    assert torch.allclose(got.norm(dim=-1), eps.abs(), atol=1e-5)

    def zero_shot_target(objective, e):  # the zero-shot objective's target with the same classes
        first, second = pae.unit(pae.zero_shot_gradient(e, objective.classes[0], [0, 1], objective.tau))
        return eps.abs().unsqueeze(1) * torch.where((eps > 0).unsqueeze(1), first, pae.unit(second - first))

    zero_shot = zero_shot_target(circle, e)
    away = pae.unit(-pae.expected_score_gradient(e, circle.classes[0], circle.scores[0], circle.tau))
    pos, neg = eps > 0, eps < 0
    assert torch.equal(got[pos], zero_shot[pos])
    assert torch.allclose(got[neg], eps[neg].abs().unsqueeze(1) * away[neg], atol=1e-6)
    assert not torch.allclose(got[neg], zero_shot[neg], atol=1e-2)

    # a dipole naming no colour that the word-blind family choice still puts with the colours: no circle target
    from contraclip_core.clip import cached_text_embeddings

    texts = cached_text_embeddings(trainer.clip, ["a happy shape", "a sad shape", "a red circle", "a blue circle"])
    odd = objectives.ZeroShotCircleObjective(trainer.clip, trainer.css, texts[0::2], texts[1::2], generator="shapes-128")
    assert odd.families.family_of == ["colour", "colour"]
    assert odd.nearest_family(texts[0]) == "shape" and odd.scores[0] is None  # nearest prompt: "a shape"
    assert odd.first_angle == [None, 0.0]  # "a red circle" names red: nearest "a red shape" of all prompts

    size, e = _trained_objective(("a large shape", "a small shape"), "zero-shot-circle")  # no circle: zero-shot
    assert size.objective.scores == [None]
    assert size.path_set().settings["objective_record"]["first_angle_degrees"] == [None]
    assert torch.equal(size.objective.target_shift(e, paths, eps),
                       zero_shot_target(size.objective, e))


def test_on_shapes_images_beyond_green_the_circle_target_turns_the_hue_on_and_zero_shot_turns_it_back():
    """Red/green, ε < 0, on 64 prior images drawn with their hue set between green and cyan (130°, 150°): the circle
    objective's CLIP-space target points the way the image's embedding moves when its hue turns 10° toward cyan
    (away from red), the zero-shot target the way it moves when the hue turns back toward green — on every image.
    No training: the targets themselves, on the tiny CLIP's embeddings of exactly drawn images."""
    from contraclip_core.clip import cached_text_embeddings, load_clip
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip import objectives

    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    texts = cached_text_embeddings(clip, ["a red shape", "a green shape"]).float()
    built = {name: objectives.OBJECTIVES[name](clip, None, texts[:1], texts[1:], generator="shapes-128")
             for name in ("zero-shot-circle", "zero-shot")}
    with torch.no_grad():
        attrs = g.attributes(g.sample_z(list(range(64))), "z")
        attrs["saturation"] = attrs["saturation"].clamp_min(0.6)  # a colour, not grey

        def embed(degrees):
            image = g.render({**attrs, "hue": torch.full_like(attrs["hue"], math.radians(degrees))}, clip.image_size)
            return clip.encode_images(image).float()

        for hue in (130.0, 150.0):
            e = embed(hue)
            on, back = pae.unit(embed(hue + 10) - e), pae.unit(embed(hue - 10) - e)
            paths, eps = torch.zeros(64, dtype=torch.long), -torch.ones(64)
            turns_on = {name: ((pae.unit(o.target_shift(e, paths, eps)) * (on - back)).sum(-1) > 0).float().mean()
                        for name, o in built.items()}
            assert turns_on["zero-shot-circle"] == 1.0 and turns_on["zero-shot"] == 0.0, (hue, turns_on)


def test_the_by_family_objective_gives_each_dipole_its_family_objective_and_records_the_rule(monkeypatch):
    from contraclip_core.clip import load_clip
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip import objectives, presets
    from contraclip_core.methods.contraclip.train import Trainer

    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    dipoles = [("a large shape", "a small shape"), ("a circle", "a square"), ("a red shape", "a blue shape"),
               ("a shape on the left", "a shape on the right")]
    config = presets.train_config("shapes-128", "quick", dipoles=dipoles)
    config.objective = "by-family"
    trainer = Trainer(config, g, clip)
    by = trainer.objective
    assert by.families.family_of == ["size", "shape", "colour", "horizontal"]
    assert by.objective_of == ["pae-subspace", "plain", "zero-shot-circle", "zero-shot"]
    # one family choice for all: the parts that need the families share the rule's (plain needs none)
    assert [part.families is by.families for part in by.parts.values()] == [True, False, True, True]
    with torch.no_grad():
        z = torch.randn(8, g.z_dim, generator=torch.Generator().manual_seed(0))
        e = clip.encode_images(g.synthesis(g.encode(z, "w"), "w")).float()
    paths = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    eps = torch.tensor([0.3, -0.3, 0.5, -0.1, 0.2, -0.4, 0.1, -0.2])
    got = by.target_shift(e, paths, eps)
    for k, name in enumerate(by.objective_of):  # row for row what the family's own objective asks
        alone = objectives.OBJECTIVES[name](clip, trainer.css, by.pos, by.neg, generator="shapes-128")
        mask = paths == k
        assert torch.equal(got[mask], alone.target_shift(e[mask], paths[mask], eps[mask]).float()), name
    record = trainer.path_set().settings["objective_record"]
    assert record["name"] == "by-family" and record["rule"] == objectives.FAMILY_RULES["shapes"]
    assert record["objective_of_dipole"] == by.objective_of and record["settings_of"]["zero-shot"]["tau"] == 0.05
    assert record["settings_of"]["zero-shot-circle"]["first_angle_degrees"] == [None, None, 0.0, None]

    monkeypatch.delitem(objectives.FAMILY_RULES, "shapes")
    with pytest.raises(ValueError, match="no per-family rule has been measured for shapes"):
        Trainer(config, g, clip)
