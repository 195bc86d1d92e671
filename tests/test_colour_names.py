"""The one colour table: ranges that tile the hue circle, the labels the tiny CLIP learns, and the ground-truth
hue targets, all read from it."""
from __future__ import annotations

import math

import pytest
import torch

from contraclip_core.colour_names import COLOUR_NAMES, COLOURS, HUES, colour_class, colour_of
from contraclip_core.groundtruth import shapes_target
from contraclip_core.shapes_clip.captions import FACTORS, NOT_APPLICABLE, attribute_labels, tilt


@pytest.mark.parametrize("degrees, name", [(0, "red"), (350, "red"), (14.9, "red"), (15, "orange"), (44, "orange"),
                                           (60, "yellow"), (89, "yellow"), (90, "green"), (180, "cyan"), (212, "blue"),
                                           (270, "purple"), (300, "magenta"), (320, "pink"), (344.9, "pink")])
def test_each_hue_has_one_name(degrees: float, name: str) -> None:
    assert colour_of(degrees) == name and colour_of(degrees, saturation=0.2) == "grey"


def test_the_table_is_the_one_every_reader_uses() -> None:
    assert FACTORS["colour"] == COLOUR_NAMES and {"orange", "purple", "pink"} <= set(COLOUR_NAMES)
    assert HUES == {c.name: math.radians(c.centre) for c in COLOURS}
    hues = torch.deg2rad(torch.arange(0.0, 360.0, 0.25))
    classes = colour_class(hues, torch.ones_like(hues))
    assert set(classes.tolist()) == set(range(len(COLOURS)))  # every colour holds some hue, grey none when saturated
    for colour in COLOURS:  # a dipole toward a colour peaks at that colour's centre, inside its range
        target = shapes_target((f"a {colour.name} shape", "a grey shape" if colour.name != "cyan" else "a red shape"))
        if target is None:  # grey is no hue: only colour-to-colour dipoles have hue targets
            continue
        peak = hues[target.measure({"hue": hues}).argmax()]
        assert colour_of(math.degrees(peak)) == colour.name


def test_rotation_is_measured_modulo_each_shapes_symmetry() -> None:
    square, triangle, circle = 1, 2, 0
    rot = torch.deg2rad(torch.tensor([0.0, 22.0, 23.0, 45.0, 90.0, 100.0]))
    assert tilt(rot, torch.full_like(rot, square, dtype=torch.long)).tolist() == pytest.approx(
        [0, 22 / 45, 23 / 45, 1, 0, 10 / 45], abs=1e-5)
    assert tilt(torch.deg2rad(torch.tensor([60.0, 120.0])), torch.tensor([triangle, triangle])).tolist() == (
        pytest.approx([1.0, 0.0], abs=1e-5))
    assert tilt(rot[:1], torch.tensor([circle])).isnan().all()


def test_labels_of_the_new_factors() -> None:
    from contraclip_core.generators.shapes import ShapesConfig

    config = ShapesConfig()
    one = lambda v: torch.tensor([v])  # noqa: E731
    base = {"shape_circle": one(0.0), "shape_square": one(1.0), "shape_triangle": one(0.0), "size": one(0.35),
            "x": one(0.0), "y": one(0.0), "rotation": one(math.radians(30)), "hue": one(math.radians(30)),
            "saturation": one(0.9), "value": one(0.95), "bg_lightness": one(0.1)}
    row = attribute_labels(base, config)[0].tolist()
    assert [FACTORS[f][row[i]] for i, f in enumerate(FACTORS)] == [
        "large", "orange", "square", "centre", "middle", "dark", "bright", "vivid", "tilted"]
    grey_circle = {**base, "shape_circle": one(1.0), "shape_square": one(0.0), "saturation": one(0.1),
                   "value": one(0.75)}
    row = attribute_labels(grey_circle, config)[0].tolist()
    assert row[1] == COLOUR_NAMES.index("grey") and row[6:] == [0, NOT_APPLICABLE, NOT_APPLICABLE]
