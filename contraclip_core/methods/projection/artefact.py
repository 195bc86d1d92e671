"""What a projection keeps: the code of a picture, written to a file the CLI hands out and the app offers to
download — ``.safetensors`` in the anchor layout (``contraclip_core/anchors.py``: ``latent`` (1, *shape), the
generator and space in the metadata) or ``.pt`` (a dict ``torch.load(weights_only=True)`` reads) — and read back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .losses import ProjectionError
from .train import ProjectionResult


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
