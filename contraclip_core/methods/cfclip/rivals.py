"""Which sentences the Shapes-world CLIP terms contrast a target with, and what they keep.

- Rivals (the "rivals" CLIP loss): a Shapes caption's rivals are the captions naming the same factors with other
  classes ("a green square" → "a red square", "a green circle", …), taken from the caption grammar, so a mapper
  trained on one sentence has rivals too; the held-out measurement sentences (``vocab.HELD_OUT``) are never added,
  so they stay unseen. A sentence outside the grammar is contrasted with every other target (and is no
  caption's rival).
- Kept factors (the keep loss): the factors a caption leaves unnamed, each with its class prompts.
"""
from __future__ import annotations

import torch

from ...clip import ClipModel
from ...shapes_clip.captions import BASE_FACTORS, prompts
from .model import text_table
from .vocab import HELD_OUT, parse, sentences


def rival_pool(targets: list[str], exclude: tuple[str, ...] = HELD_OUT) -> tuple[list[str], torch.Tensor]:
    """The sentences the rivals loss embeds (the targets first, then grammar rivals not among them and not in
    ``exclude``) and which of them each target is contrasted with, (N targets, P pool) bool."""
    named = [parse(t) for t in targets]
    pool, seen = list(targets), set(targets)
    grammar = sentences(3)
    for a in named:
        if a is None:
            continue
        for sentence, b in grammar.items():
            if b.keys() == a.keys() and b != a and sentence not in seen and sentence not in exclude:
                pool.append(sentence)
                seen.add(sentence)
    pool_named = named + [grammar[s] for s in pool[len(targets):]]
    rivals = torch.zeros(len(targets), len(pool), dtype=torch.bool)
    for i, a in enumerate(named):
        for j, b in enumerate(pool_named):
            if i == j:
                continue
            if a is None:
                rivals[i, j] = j < len(targets)  # outside the grammar: every other target
            elif b is not None:
                rivals[i, j] = a.keys() == b.keys() and a != b
    return pool, rivals


def factor_tables(clip: ClipModel, targets: list[str], templates: list[str]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """For the keep loss: each Shapes factor's class prompts embedded, [(K_f, E)], and which factors each target
    leaves unnamed, (N, F) bool (all False for a sentence outside the caption grammar: nothing is kept)."""
    with torch.no_grad():
        tables = [text_table(clip, prompts(f), templates) for f in BASE_FACTORS]
    named = [parse(t) for t in targets]
    unnamed = torch.tensor([[n is not None and f not in n for f in BASE_FACTORS] for n in named], dtype=torch.bool)
    return tables, unnamed
