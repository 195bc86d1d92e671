"""The Shapes world's colour words, each with its hue range, defined once.

Every place that names a foreground colour reads this table: the tiny CLIP's captions and zero-shot labels
(``shapes_clip/captions.py``), the ground-truth targets of hue dipoles (``groundtruth.py``: a colour's *centre* is
where "closeness to that colour" is largest) and the vocabulary warnings. Hue is in degrees here, radians in the
generator (0 = red, 120 = green, 240 = blue). A foreground whose saturation is below ``GREY_SATURATION`` is "grey",
whatever its hue.

The ranges split the hue circle at the usual colour-wheel boundaries (red wraps round 0°). They are not equal: blue
and green are wide, orange and purple narrow — as people name hues, and as the HSV ramps of the generator draw them
(an HSV hue of 75° already looks yellow-green, 255° already violet).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Colour:
    name: str
    centre: float  # degrees: the hue that is most this colour (a hue dipole's target peaks there)
    low: float  # degrees, inclusive; the range is [low, high) and may wrap (red: [345, 15))
    high: float  # degrees, exclusive


COLOURS: tuple[Colour, ...] = (
    Colour("red", 0.0, 345.0, 15.0),
    Colour("orange", 30.0, 15.0, 45.0),
    Colour("yellow", 60.0, 45.0, 90.0),
    Colour("green", 120.0, 90.0, 150.0),
    Colour("cyan", 180.0, 150.0, 210.0),
    Colour("blue", 240.0, 210.0, 255.0),
    Colour("purple", 270.0, 255.0, 285.0),
    Colour("magenta", 300.0, 285.0, 315.0),
    Colour("pink", 330.0, 315.0, 345.0),
)
GREY = "grey"
GREY_SATURATION = 0.25  # foreground saturation below this is called "grey"
COLOUR_NAMES: tuple[str, ...] = tuple(c.name for c in COLOURS) + (GREY,)  # class order of the colour labels
HUES: dict[str, float] = {c.name: math.radians(c.centre) for c in COLOURS}  # name → centre, radians


def _check_table() -> None:
    """The ranges tile the circle exactly once, each holding its own centre (run at import)."""
    covered = 0.0
    for colour in COLOURS:
        width = (colour.high - colour.low) % 360.0
        inside = (colour.centre - colour.low) % 360.0 < width
        if not (0.0 < width and inside):
            raise ValueError(f"colour table: {colour} is empty or does not hold its centre")
        covered += width
    ends = {c.high % 360.0 for c in COLOURS}
    if abs(covered - 360.0) > 1e-9 or ends != {c.low % 360.0 for c in COLOURS}:
        raise ValueError("colour table: the hue ranges must tile the circle exactly once")


_check_table()


def colour_class(hue: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """Class index into ``COLOUR_NAMES`` of foregrounds with ``hue`` (radians) and ``saturation``; (B,) → (B,) long."""
    degrees = torch.remainder(torch.rad2deg(hue.float()), 360.0)
    index = torch.full_like(degrees, -1, dtype=torch.long)
    for i, colour in enumerate(COLOURS):
        offset = torch.remainder(degrees - colour.low, 360.0)
        index = torch.where(offset < (colour.high - colour.low) % 360.0, torch.full_like(index, i), index)
    return torch.where(saturation < GREY_SATURATION, torch.full_like(index, len(COLOURS)), index)


def colour_of(hue_degrees: float, saturation: float = 1.0) -> str:
    """The name of one foreground colour (hue in degrees)."""
    index = colour_class(torch.tensor([math.radians(hue_degrees)]), torch.tensor([saturation]))
    return COLOUR_NAMES[int(index)]
