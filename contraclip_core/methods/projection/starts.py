"""Where a projection starts: the guess of a CLIP → latent mapper shipped or trained for the generator (the mappers
method's inversion), when there is one; otherwise the mean code (``model.mean_code``).

This is the one place the projection reads another method's artefacts (an allowance listed in
tests/test_architecture.py): the mapper is a fast, semantic first guess the optimisation then makes faithful.
"""
from __future__ import annotations

import torch

from ...clip import ClipModel
from ...errors import ContraCLIPError
from ...generators.base import Generator
from ..mappers.artefact import MapperSet
from ..mappers.uses import image_to_latent


def inversion_score(mapper: MapperSet) -> float:
    """The share of Shapes renders whose every factor the mapper recovered, as its evaluation recorded (0: none)."""
    inversion = (mapper.metrics or {}).get("shapes_eval", {}).get("inversion", {})
    value = inversion.get("all_factors", 0.0) if isinstance(inversion, dict) else 0.0
    return float(value) if isinstance(value, (int, float)) else 0.0


def shipped_mapper(generator: Generator, generator_name: str, name: str | None = None) -> MapperSet | None:
    """The shipped mapper ``name`` for the generator (None: the one with the best recorded inversion, as the app's
    default), or None when it has none (or none loads)."""
    found = []
    for folder in MapperSet.shipped(generator_name):
        if name is not None and folder.name != name:
            continue
        try:
            found.append(MapperSet.from_pretrained(str(folder), generator, generator_name=generator_name))
        except ContraCLIPError:
            continue  # a damaged or unfitting mapper is skipped: the mean code is the start then
    return max(found, key=inversion_score, default=None)


@torch.no_grad()
def mapper_guess(mapper: MapperSet, clip: ClipModel, pictures: torch.Tensor, space: str,
                 generator: Generator) -> torch.Tensor | None:
    """The mapper's codes for ``pictures`` (B, *shape) in ``space``, or None when the mapper's space is another (a W
    guess is repeated into W+)."""
    codes, _ = image_to_latent(mapper, clip, pictures)
    codes = codes.to(generator.device).float()
    if mapper.space == space:
        return codes
    if mapper.space == "w" and space == "w+":
        return codes[:, None, :].repeat(1, generator.num_ws, 1)
    return None
