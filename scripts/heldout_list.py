"""Held-out dipoles and sentences (issue #29 item 5), written 2026-12-05 before any tuning for #29.

Kinds the project does not tune on: reversed poles, words shared by both sentences, colour names outside the tiny
CLIP's words (orange, purple, pink), paraphrases, and three-factor sentences for an edit model trained on one- and
two-factor captions. Only ``scripts/heldout_quality.py`` reads this file (``tests/test_heldout.py`` checks that no
tuning script or module does); a change to it is a new list with a new date, never an edit after seeing figures.
"""
from __future__ import annotations

WRITTEN = "2026-12-05"

# (first sentence, second sentence): trained with the CLI's defaults (`train --dipole A B`), one path each
DIPOLES: dict[str, list[tuple[str, str]]] = {
    "reversed poles": [
        ("a blue shape", "a red shape"),
        ("a small shape", "a large shape"),
        ("a square", "a circle"),
        ("a shape on the right", "a shape on the left"),
        ("a shape on a dark background", "a shape on a light background"),
    ],
    "words shared by both": [
        ("a small red circle", "a large red circle"),
        ("a large green square", "a small green square"),
        ("a red triangle on the left", "a blue triangle on the left"),
        ("a circle at the top", "a triangle at the top"),
    ],
    "new colour names": [
        ("an orange shape", "a blue shape"),
        ("a purple shape", "a green shape"),
        ("a pink shape", "a cyan shape"),
        ("an orange square", "a purple square"),
    ],
    "paraphrases": [
        ("a big shape", "a tiny shape"),
        ("a shape near the top", "a shape near the bottom"),
    ],
}

# Three-factor sentences (the caption grammar's words and order): edited by the shipped CF-CLIP model, which trains on
# one- and two-factor captions only. Middle classes (medium, centre, middle) on purpose: the issue found them weakest.
THREE_FACTOR: list[str] = [
    "a small yellow square",
    "a large cyan circle",
    "a medium magenta triangle",
    "a medium blue circle",
    "a green triangle on the right",
    "a red square in the centre",
    "a large shape on the left at the bottom",
    "a small shape in the centre at the top",
    "a medium shape in the middle on a light background",
    "a yellow circle in the middle",
    "a blue shape on the right in the middle",
    "a triangle in the centre on a dark background",
]
