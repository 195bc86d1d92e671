"""The Shapes-world additions to CF-CLIP: the linear text skip of the mapper, the "rivals" CLIP loss (a sentence
against the sentences naming the same factors with other classes) and the CLIP keep loss on unnamed factors; and
CLIP-NCE's negatives, ours (each row's own source image) against the authors' code (the batch's first one)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contraclip_core.methods.cfclip.losses import clip_keep_loss, clip_rival_loss
from contraclip_core.methods.cfclip.model import MapperConfig, TextConditionedMapper
from contraclip_core.methods.cfclip.rivals import factor_tables, rival_pool
from contraclip_core.clip import load_clip
from contraclip_core.generators import from_pretrained
from contraclip_core.shapes_clip.captions import BASE_FACTORS


def test_rival_pool_pairs_sentences_naming_the_same_factors_with_other_classes():
    targets = ["a green circle", "a red circle", "a large shape", "a red shape", "a unicorn"]
    pool, rivals = rival_pool(targets)
    assert pool[:5] == targets and rivals.shape == (5, len(pool))
    names = lambda i: {pool[j] for j in range(len(pool)) if rivals[i, j]}  # noqa: E731
    # colour + shape: every other colour-shape caption of the grammar, but never the held-out ones
    assert "a red circle" in names(0) and "a green triangle" in names(0) and "a grey square" in names(0)
    assert "a green square" not in pool and "a red triangle" not in pool  # held out (vocab.HELD_OUT): unseen
    assert len(names(0)) == 10 * 3 - 1 - 2  # 30 colour-shape captions, less itself and the two held out
    assert "a large shape" not in names(0) and "a red shape" not in names(0)  # other factor sets: not contrasted
    assert names(2) == {"a small shape", "a medium shape"}  # one target has rivals from the grammar
    assert names(4) == set(targets[:4])  # outside the grammar: every other target
    assert not rivals[:4, 4].any()  # and grammar captions are not contrasted with it
    assert not rivals[torch.arange(5), torch.arange(5)].any()  # never its own rival


def test_rival_loss_matches_a_hand_computation_and_ignores_non_rivals():
    torch.manual_seed(0)
    table = F.normalize(torch.randn(4, 6), dim=-1)
    e = F.normalize(torch.randn(2, 6), dim=-1)
    which = torch.tensor([0, 2])
    rivals = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.bool)
    tau = 0.1
    expected = 0.0
    for i, (k, r) in enumerate([(0, 1), (2, 3)]):
        pos, neg = math.exp(float(e[i] @ table[k]) / tau), math.exp(float(e[i] @ table[r]) / tau)
        expected += -math.log(pos / (pos + neg))
    got = clip_rival_loss(e, table, which, rivals, tau)
    assert abs(float(got) - expected / 2) < 1e-5
    # sentences 2 and 3 are no rivals of sentence 0: whatever they are, row 0's loss is the same
    other = table.clone()
    other[2:] = F.normalize(torch.randn(2, 6), dim=-1)
    assert float(clip_rival_loss(e[:1], other, which[:1], rivals, tau)) == pytest.approx(
        float(clip_rival_loss(e[:1], table, which[:1], rivals, tau)), rel=1e-6)
    # a sentence without rivals falls back to the cosine loss
    lone = clip_rival_loss(e[:1], table, torch.tensor([3]), rivals, tau)
    assert float(lone) == pytest.approx(1.0 - float(e[0] @ table[3]), rel=1e-5)
    toward = F.normalize(e[:1] + table[:1], dim=-1)
    assert float(clip_rival_loss(toward, table, which[:1], rivals, tau)) < float(
        clip_rival_loss(e[:1], table, which[:1], rivals, tau))


def test_keep_loss_is_zero_without_change_and_counts_only_unnamed_factors():
    torch.manual_seed(1)
    prompts = [F.normalize(torch.randn(3, 8), dim=-1), F.normalize(torch.randn(2, 8), dim=-1)]
    e = F.normalize(torch.randn(4, 8), dim=-1)
    e2 = F.normalize(torch.randn(4, 8), dim=-1)
    both = torch.ones(4, 2, dtype=torch.bool)
    assert float(clip_keep_loss(e, e, prompts, both)) == pytest.approx(0.0, abs=1e-6)
    assert float(clip_keep_loss(e, e2, prompts, both)) > 0.01
    none = torch.zeros(4, 2, dtype=torch.bool)
    assert float(clip_keep_loss(e, e2, prompts, none)) == 0.0  # every factor named: nothing to keep
    # only factor 1 unnamed: the loss is factor 1's KL alone, whatever factor 0 does
    only1 = torch.tensor([[False, True]] * 4)
    p = F.log_softmax(e @ prompts[1].T / 0.07, -1)
    q = F.log_softmax(e2 @ prompts[1].T / 0.07, -1)
    expected = (p.exp() * (p - q)).sum(-1).mean()
    assert float(clip_keep_loss(e, e2, prompts, only1)) == pytest.approx(float(expected), rel=1e-5)


def test_keep_loss_sees_an_unnamed_attribute_change_in_the_shapes_world():
    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    tables, unnamed = factor_tables(clip, ["a red shape", "a unicorn"], ["{}"])
    assert [len(t) for t in tables] == [3, 10, 3, 3, 3, 2]  # the six factors of the edit model's captions
    assert unnamed[0].tolist() == [f != "colour" for f in BASE_FACTORS] and not unnamed[1].any()
    w = g.encode(g.sample_z(list(range(16))), "w")
    heads = g.heads.weight  # (12, 32): row 4 drives x
    moved = w + 3.0 * F.normalize(torch.linalg.pinv(heads)[:, 4], dim=0)  # far along a head: position moves
    embed = lambda latent: F.normalize(clip.encode_images(g.synthesis(latent, "w")).float(), dim=-1)  # noqa: E731
    mask = unnamed[:1].expand(16, -1)
    assert float(clip_keep_loss(embed(w), embed(moved), tables, mask)) > 10 * float(
        clip_keep_loss(embed(w), embed(w + 1e-3), tables, mask)) + 1e-3


def test_text_skip_starts_as_the_identity_edit_and_conditions_on_text():
    config = MapperConfig(latent_dim=8, text_dim=6, num_layers=1, residual_scale=1.0, text_skip=True)
    mapper = TextConditionedMapper(config, seed=0)
    codes, text = torch.randn(3, 1, 8), torch.randn(1, 6)
    assert torch.equal(mapper(codes, text), codes)  # zero at start: no edit before training
    with torch.no_grad():
        for p in mapper.text_skip[0].parameters():
            p.normal_()
    assert not torch.allclose(mapper.residual(codes, text), mapper.residual(codes, torch.randn(1, 6)))
    plain = TextConditionedMapper(MapperConfig(8, 6, 1), seed=0)
    assert not hasattr(plain, "text_skip") or plain.config.text_skip is False


def test_the_text_gate_starts_silent_and_is_a_bilinear_map_of_code_and_text():
    config = MapperConfig(latent_dim=8, text_dim=6, num_layers=2, residual_scale=1.0, text_skip=True, gate_rank=3)
    mapper = TextConditionedMapper(config, seed=0)
    codes, text = torch.randn(5, 2, 8), torch.randn(1, 6)
    assert torch.equal(mapper(codes, text), codes)  # silent at start, like the skip
    with torch.no_grad():
        for gate in mapper.gate_text:
            gate.weight.normal_()
    r = mapper.residual(codes, text)
    assert r.abs().max() > 1e-3
    # the skip and the fused path are still zero, so the residual is the gate alone: linear in the code and in the
    # text (a pull whose size and sign follow where the code is: "toward the middle")
    torch.testing.assert_close(mapper.residual(2 * codes, text), 2 * r)
    torch.testing.assert_close(mapper.residual(-codes, text), -r)
    torch.testing.assert_close(mapper.residual(codes, 3 * text), 3 * r)
    torch.testing.assert_close(mapper.residual(codes[:, :1].expand(5, 2, 8).contiguous(), text)[:, 0], r[:, 0])


def test_offset_text_input_is_the_unnormalised_move_from_the_source_class():
    from contraclip_core.methods.cfclip.model import text_input

    targets, source = torch.randn(4, 6), torch.randn(1, 6)
    torch.testing.assert_close(text_input(targets, source, "offset"), targets - source)
    torch.testing.assert_close(text_input(targets, source, "direction"), F.normalize(targets - source, dim=-1))
    assert torch.equal(text_input(targets, source, "embedding"), targets)
    with pytest.raises(ValueError, match="text input must be one of"):
        text_input(targets, source, "raw")


def test_cosine_schedule_decays_adam_step_to_zero():
    from contraclip_core.methods.cfclip.train import EditTrainConfig, EditTrainer

    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    trainer = EditTrainer(EditTrainConfig(targets=["a red shape"], iterations=4, batch_size=2, lr=0.5,
                                          lr_schedule="cosine", text_skip=True, gate_rank=2), g, clip)
    seen = []
    for _ in range(4):
        seen.append(trainer.learning_rate())
        trainer.step()
        assert trainer.optimizer.param_groups[0]["lr"] == seen[-1]
    assert seen[0] == 0.5 and seen == sorted(seen, reverse=True) and seen[-1] < 0.1
    with pytest.raises(ValueError, match="lr_schedule"):
        EditTrainer(EditTrainConfig(targets=["a red shape"], lr_schedule="step"), g, clip)


def test_a_mapper_with_the_text_skip_round_trips_and_its_description_is_checked(tmp_path):
    import json

    from contraclip_core.methods.cfclip.artefact import META_NAME, EditSet
    from contraclip_core.methods.cfclip.train import EditTrainConfig, EditTrainer
    from contraclip_core.errors import WeightsError

    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    config = EditTrainConfig(targets=["a red shape", "a circle"], iterations=3, batch_size=4, residual_scale=5.0,
                             text_skip=True, clip_lambda=1.0, clip_loss="rivals", keep_lambda=3.0, nce_lambda=0.0,
                             gate_rank=4, text_input="offset")
    trainer = EditTrainer(config, g, clip)
    edit_set = trainer.train()
    folder = edit_set.save(tmp_path / "skip")
    loaded = EditSet.load(folder, g)
    meta = json.loads((folder / META_NAME).read_text())
    assert meta["mapper"]["text_skip"] is True and meta["settings"]["clip_loss"] == "rivals"
    assert meta["mapper"]["gate_rank"] == 4 and meta["text_input"] == "offset"
    assert meta["settings"]["keep_lambda"] == 3.0 and meta["settings"]["nce_lambda"] == 0.0
    w = g.encode(g.sample_z([0, 1]), "w")
    text = loaded.text_embedding(clip, "a red shape")
    assert torch.equal(loaded.edit(w, text), edit_set.edit(w, text))
    assert not torch.allclose(loaded.edit(w, text), w)  # three steps already move the codes
    for change, message in [({"text_skip": "yes"}, "'text_skip' must be true or false"),
                            ({"skip_lr_mul": -1}, "'skip_lr_mul' must be a number in"),
                            ({"gate_rank": 2}, r"'gate_in.0.weight' is \(4, 32\), expected \(2, 32\)"),
                            ({"gate_rank": 1.5}, "'gate_rank' must be"),
                            ({"text_skip": False}, "does not describe this file")]:
        bad = json.loads(json.dumps(meta))
        bad["mapper"].update(change)
        (folder / META_NAME).write_text(json.dumps(bad))
        with pytest.raises(WeightsError, match=message):
            EditSet.load(folder)


def test_nce_query_floor_leaves_real_moves_alone_and_softens_vanishing_ones():
    from contraclip_core.methods.cfclip.losses import clip_nce_loss

    torch.manual_seed(2)
    e = F.normalize(torch.randn(3, 8), dim=-1)
    t, g = F.normalize(torch.randn(3, 8), dim=-1), F.normalize(torch.randn(3, 8), dim=-1)
    src = F.normalize(torch.randn(4, 8), dim=-1)
    big = F.normalize(e + 0.5 * torch.randn(3, 8), dim=-1)  # ‖Δe‖ well above the floor: the authors' loss
    assert float(clip_nce_loss(e, big, t, g, src, 0.1, min_norm=0.1)) == pytest.approx(
        float(clip_nce_loss(e, big, t, g, src, 0.1)), rel=1e-6)
    tiny = (e + 1e-6 * torch.randn(3, 8)).requires_grad_(True)  # CLIP barely sees a change
    floored = clip_nce_loss(e, tiny, t, g, src, 0.1, min_norm=0.1)
    assert float(floored) == pytest.approx(math.log(1 + 4), abs=1e-3)  # logits ≈ 0: one positive vs 4 negatives
    floored.backward()
    soft = tiny.grad.norm()
    tiny.grad = None
    clip_nce_loss(e, tiny, t, g, src, 0.1).backward()  # the authors' n(Δe): gradient ∝ 1/‖Δe‖
    assert float(tiny.grad.norm()) > 1e3 * float(soft)


def authors_clip_nce(e_source, e_edited, target_text, global_direction, source_texts, tau=0.1):
    """CLIP-NCE as the authors' code computes it, re-derived from yingchen001/CF-CLIP at commit 952c186b0e47,
    criteria/nce_loss.py lines 75–99 (``NCELoss.infonce_loss``) and criteria/infonce.py lines 58–113 (``info_nce``,
    unpaired negatives, τ 0.1, mean reduction): query n(e′ − e) per row; positives p₁ (the global direction) and
    n(t̄ − e) per row; ONE set of negatives for the whole batch, n(t_source,j − e₀) from the first source image
    (``source_text - src_img[:1]``); the query stacked twice against [p₁; p₂] and one cross-entropy over the 2B rows."""
    query = F.normalize(e_edited - e_source, dim=-1)  # (B, E)
    positives = torch.cat([F.normalize(global_direction, dim=-1), F.normalize(target_text - e_source, dim=-1)])
    negatives = F.normalize(source_texts - e_source[:1], dim=-1)  # (M, E), shared by every row
    q = query.repeat(2, 1)  # (2B, E)
    logits = torch.cat([(q * positives).sum(-1, keepdim=True), q @ negatives.T], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))


def random_nce_inputs(batch: int, dim: int = 512, templates: int = 8, seed: int = 0):
    torch.manual_seed(seed)
    unit = lambda *shape: F.normalize(torch.randn(*shape), dim=-1)  # noqa: E731
    return unit(batch, dim), unit(batch, dim), unit(batch, dim), unit(batch, dim), unit(templates, dim)


def test_clip_nce_negatives_own_vs_the_authors_first_row():
    from contraclip_core.methods.cfclip.losses import clip_nce_loss

    one = random_nce_inputs(1)  # batch 1: the first source image is the row's own, so the two formulas agree
    assert float(clip_nce_loss(*one, 0.1)) == pytest.approx(float(authors_clip_nce(*one, 0.1)), rel=1e-5)
    four = random_nce_inputs(4)  # batch 4 on random unit embeddings (E 512, 8 templates, τ 0.1)
    ours, authors = float(clip_nce_loss(*four, 0.1)), float(authors_clip_nce(*four, 0.1))
    assert float(clip_nce_loss(*four, 0.1, negatives="first")) == pytest.approx(authors, rel=1e-5)
    # Figures as computed (seed 0): each row's own negatives share the query's −e_i, so they are hard negatives
    # (cos ≈ 0.5 on random embeddings); the first row's are unrelated to rows 1–3 (cos ≈ 0).
    assert ours == pytest.approx(4.747, abs=0.01) and authors == pytest.approx(1.987, abs=0.01)
    assert ours - authors > 0.5
    with pytest.raises(ValueError, match="negatives must be 'own' or 'first'"):
        clip_nce_loss(*four, 0.1, negatives="mine")


def test_the_trainer_uses_the_chosen_negatives_and_refuses_others():
    from contraclip_core.methods.cfclip.train import EditTrainConfig, EditTrainer

    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    losses = {}
    for negatives in ("own", "first"):
        config = EditTrainConfig(targets=["a red shape", "a circle"], iterations=1, batch_size=4, residual_scale=5.0,
                                 text_skip=True, nce_min_norm=0.1, nce_negatives=negatives, l2_lambda=0.0)
        trainer = EditTrainer(config, g, clip)
        moved = torch.Generator().manual_seed(0)
        with torch.no_grad():  # the mapper starts at the identity edit: move it (the same way for both variants)
            for p in trainer.mapper.text_skip.parameters():
                p.normal_(generator=moved)
        z, which = torch.randn(4, g.z_dim, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 0, 1])
        losses[negatives] = float(trainer.loss(z, which))
        assert trainer.edit_set().settings["nce_negatives"] == negatives  # recorded in edit.json
    assert abs(losses["own"] - losses["first"]) > 1e-3, losses
    with pytest.raises(ValueError, match="nce_negatives must be 'own' or 'first'"):
        EditTrainer(EditTrainConfig(targets=["a red shape"], nce_negatives="all"), g, clip)
