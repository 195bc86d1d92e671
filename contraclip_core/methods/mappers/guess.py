"""The mappers' first guess of a picture's code: the CLIP → latent mapper's inversion (image → latent), fast and
semantic, which a faithful inversion (the projection) then refines.

The registry lists ``first_guess`` as this method's ``guess`` (``Method.guess``) and hands it to the projection, so
neither package imports the other. The mapper is the generator's shipped one with the best recorded inversion.
"""
from __future__ import annotations

from typing import Callable

import torch

from ...clip import ClipModel, load_clip
from ...errors import ContraCLIPError
from ...generators.base import Generator
from .artefact import MapperSet
from .uses import image_to_latent


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


def first_guess(generator: Generator, generator_name: str, pictures: torch.Tensor, space: str,
                clip: Callable[[str], ClipModel] | None = None) -> tuple[torch.Tensor | None, str]:
    """The best shipped mapper's codes for ``pictures`` (B, 3, R, R) in ``space``, with a few words saying which;
    (None, why not) when the generator has no mapper, or its CLIP is not on the machine, or its space does not fit.
    ``clip(name)`` loads a CLIP model (default ``load_clip`` on the generator's device; the app passes its cache)."""
    mapper = shipped_mapper(generator, generator_name)
    if mapper is None:
        return None, "no mapper for this generator"
    try:
        model = clip(mapper.clip) if clip is not None else load_clip(mapper.clip, device=generator.device)
        guess = mapper_guess(mapper, model, pictures.to(generator.device), space, generator)
    except (ContraCLIPError, RuntimeError, ValueError):
        guess = None  # its CLIP is not on the machine, or does not fit
    if guess is None:
        return None, "the mapper cannot be used here"
    return guess, f"the {mapper.name or mapper.objective} mapper's guess"
