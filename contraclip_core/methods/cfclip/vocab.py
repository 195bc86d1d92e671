"""Target sentences of the Shapes world: captions naming one or two factors, and their ground truth.

The sentences are exactly the tiny CLIP's caption grammar (``shapes_clip.captions.caption``), so every sentence has
a known meaning: the factor classes it names. ``HELD_OUT`` are never shown to the mapper in training; the quality
measurement edits toward them.
"""
from __future__ import annotations

from itertools import combinations, product

from ...shapes_clip.captions import BASE_FACTORS, FACTORS, caption

HELD_OUT: tuple[str, ...] = (
    "a green square",
    "a small shape on the right",
    "a large blue shape",
    "a red triangle",
    "a circle at the top",
    "a cyan shape on the left",
    "a square at the bottom",
    "a large shape on a light background",
)


def sentences(max_factors: int = 2) -> dict[str, dict[str, str]]:
    """Every caption naming 1…max_factors factors → the classes it names (factor → class name)."""
    out: dict[str, dict[str, str]] = {}
    for k in range(1, max_factors + 1):
        for factors in combinations(BASE_FACTORS, k):
            for classes in product(*(FACTORS[f] for f in factors)):
                labels = dict(zip(factors, classes))
                out[caption(labels)] = labels
    return out


def training_sentences(held_out: tuple[str, ...] = HELD_OUT) -> list[str]:
    """The sentences the Shapes mapper trains on: all one- and two-factor captions except the held-out ones."""
    return [s for s in sentences() if s not in set(held_out)]


def parse(sentence: str) -> dict[str, str] | None:
    """The classes a Shapes sentence names (up to three factors), or None when it is not in the caption grammar."""
    text = " ".join(sentence.lower().split()).rstrip(".")
    return sentences(3).get(text)
