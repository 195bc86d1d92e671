"""What the app and the CLI call around a projection: the generator with its CLIP (when on the machine), the start
(a mapper's guess or the mean code), and the code saved to / read from a file.

The app runs ``train.project_iter`` as a streamed step (it yields progress and the current reconstruction); it is not
a job kind of the registry (see docs/PROJECTION.md: a projection takes seconds to a few minutes and keeps nothing
but a code, which the mappers' anchor layout already holds).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ... import registry
from ...clip import ClipModel, load_clip
from ...errors import ContraCLIPError
from ...generators import from_pretrained
from ...generators.base import Generator
from .losses import ProjectionError
from .model import default_space
from .starts import mapper_guess, shipped_mapper
from .train import ProjectionResult


def clip_for(generator_name: str, clip_name: str | None = None, device: str = "cpu") -> ClipModel | None:
    """The generator's CLIP (its preset's, or ``clip_name``) when it can be loaded here; None otherwise (the
    perceptual term is then off)."""
    preset = registry.GENERATORS.get(generator_name)
    name = clip_name or (preset.clip if preset else None)
    if not name:
        return None
    try:
        return load_clip(name, device=device)
    except ContraCLIPError:
        return None  # e.g. ViT-B-32/openai without the Hub: project with pixels alone


def load_generator_and_clip(generator_name: str, clip_name: str | None = None,
                            device: str = "cpu") -> tuple[Generator, ClipModel | None]:
    return from_pretrained(generator_name, device=device), clip_for(generator_name, clip_name, device)


def start_for(generator: Generator, generator_name: str, pictures: torch.Tensor, space: str | None = None,
              clip: ClipModel | None = None, clip_name: str | None = None) -> tuple[torch.Tensor | None, str]:
    """The projection's start for ``pictures``: the best shipped mapper's guess when the generator has a mapper of a
    fitting space whose CLIP loads here (``clip`` is used when ``clip_name`` says it is the mapper's), else None (the
    mean code); and a few words saying which."""
    space = space or default_space(generator)
    mapper = shipped_mapper(generator, generator_name)
    if mapper is None:
        return None, "the mean code (no mapper for this generator)"
    try:
        mapper_clip = clip if clip is not None and clip_name == mapper.clip else load_clip(mapper.clip,
                                                                                            device=generator.device)
        guess = mapper_guess(mapper, mapper_clip, pictures.to(generator.device), space, generator)
    except (ContraCLIPError, RuntimeError, ValueError):
        guess = None  # its CLIP is not on the machine, or does not fit: the mean code
    if guess is None:
        return None, "the mean code (the mapper cannot be used here)"
    return guess, f"the mapper {mapper.name or mapper.objective!r}'s guess"


def save_code(result: ProjectionResult, path: str | Path, generator_name: str, index: int = 0) -> Path:
    """Write picture ``index``'s code: ``.safetensors`` in the anchor layout (``latent`` (1, *shape), metadata
    generator, space, psnr_db; noise maps as ``noise_<i>``) or ``.pt`` (a dict for ``torch.load(weights_only=True)``),
    and its re-render as ``<path>.png``."""
    from PIL import Image

    from ...media import to_uint8

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    latent = result.latent[index : index + 1].float().contiguous()
    noise = [n[index : index + 1].float().contiguous() for n in result.noise or []]
    quality = float(result.psnr_db[index])
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({"latent": latent, **{f"noise_{i}": n for i, n in enumerate(noise)}}, str(path),
                  metadata={"generator": generator_name, "space": result.space, "psnr_db": f"{quality:.3f}"})
    elif path.suffix == ".pt":
        torch.save({"latent": latent, "space": result.space, "generator": generator_name, "psnr_db": quality,
                    "noise": noise}, path)
    else:
        raise ProjectionError(f"a code is saved as .pt or .safetensors, not {path.suffix or 'no suffix'!r}")
    Image.fromarray(to_uint8(result.image[index : index + 1])[0]).save(path.with_suffix(".png"))
    return path


def load_code(path: str | Path) -> dict[str, Any]:
    """A code written by ``save_code`` → {"latent", "space", "generator", "psnr_db", "noise"} (tensors only; ``.pt``
    read with ``torch.load(weights_only=True)``)."""
    path = Path(path)
    if not path.is_file():
        raise ProjectionError(f"there is no code file at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                keys = sorted(k for k in f.keys() if k.startswith("noise_"))
                return {"latent": f.get_tensor("latent"), "space": meta.get("space", ""),
                        "generator": meta.get("generator", ""), "psnr_db": float(meta.get("psnr_db", "nan")),
                        "noise": [f.get_tensor(k) for k in sorted(keys, key=lambda k: int(k[6:]))]}
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {k: state[k] for k in ("latent", "space", "generator", "psnr_db", "noise")}
    except Exception as e:  # noqa: BLE001 - a damaged file is a sentence, not a crash
        raise ProjectionError(f"{path.name} is not a code written by the projection ({type(e).__name__})") from e
