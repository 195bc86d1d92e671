"""Reading weight files safely, and unwrapping the foreign checkpoint layouts we support.

Three readers exist: safetensors, ``torch.load(map_location="cpu", weights_only=True)`` (which also lets
``argparse.Namespace`` through: rosinality's and the pSp/e4e authors' training code pickle their options as one, and
building one only sets attributes), and for NVIDIA snapshot pickles the restricted unpickler of ``nvidia_pickle`` (a
listed set of globals; nothing it contains is executed).
Nothing here can run pickled code: a file whose unpickling would build anything else is refused.
"""
from __future__ import annotations

import argparse
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError

LEGACY_SUFFIXES = (".pt", ".pth", ".pkl", ".bin", ".ckpt")
SAFE_GLOBALS = [argparse.Namespace]  # besides what weights_only allows: plain option records, nothing callable


def read_weights(path: str | Path) -> Any:
    """Read a ``.safetensors`` file (→ dict of tensors) or a legacy torch file (→ whatever plain object it holds)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise WeightsError(
                f"{path.name} is not a readable safetensors file (truncated or corrupted?): {e}. "
                "Download it again or re-run the conversion."
            ) from e
    from .nvidia_pickle import load_nvidia_pickle, looks_like_nvidia_pickle

    try:
        nvidia = not zipfile.is_zipfile(path) and looks_like_nvidia_pickle(path)
    except OSError as e:
        raise WeightsError(f"{path.name} could not be read: {e}") from e
    if nvidia:
        return load_nvidia_pickle(path)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        refusal = next((line.strip() for line in str(e).splitlines()  # torch names the refused global or class
                        if "global" in line.lower() or "unsupported class" in line.lower()), None)
        if refusal is None:  # bytes that are no pickle at all: damage, not a refused object
            raise WeightsError(f"{path.name} could not be read as a PyTorch checkpoint (truncated or corrupted?): "
                               "it is not a valid pickle. Download it again.") from e
        raise WeightsError(
            f"refused to load {path.name}: it holds pickled Python objects other than tensors, and unpickling them "
            "could run code. Only safetensors files and plain tensor checkpoints (torch.load weights_only=True) "
            f"are loaded. Details: {refusal}"
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError) as e:  # KeyError: text
        raise WeightsError(
            f"{path.name} could not be read as a PyTorch checkpoint (truncated or corrupted?): "
            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}. Download it again."
        ) from e


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def psp_decoder(obj: Any) -> dict[str, Any] | None:
    """A pSp / e4e checkpoint's generator as a rosinality checkpoint (``{"g_ema", "latent_avg"}``); None if ``obj``
    is not one. Its ``state_dict`` holds ``encoder.*`` and ``decoder.*`` (a rosinality ``Generator``); its
    ``latent_avg`` is the average w, repeated per style input (the rows are equal; their mean is taken)."""
    state = obj.get("state_dict") if isinstance(obj, dict) else None
    if not _is_tensor_dict(state) or "decoder.style.1.weight" not in state:
        return None
    decoder = {k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")}
    out: dict[str, Any] = {"g_ema": decoder}
    latent_avg = obj.get("latent_avg")
    if isinstance(latent_avg, torch.Tensor) and latent_avg.ndim >= 1:
        out["latent_avg"] = latent_avg.float().reshape(-1, latent_avg.shape[-1]).mean(0)
    return out


def unwrap_rosinality(obj: Any, source: str) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """rosinality/stylegan2-pytorch: a dict with ``g_ema`` (+ optional ``latent_avg``), or a bare g_ema state dict;
    also the decoder of a pSp / e4e checkpoint (``psp_decoder``).

    Returns (g_ema state dict, latent_avg or None). ``g``, ``d``, ``args`` and optimiser states are ignored.
    """
    obj = psp_decoder(obj) or obj
    if isinstance(obj, dict) and "g_ema" in obj:
        state = obj["g_ema"]
        latent_avg = obj.get("latent_avg")
        if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
            raise WeightsError(f"{source}: 'latent_avg' is not a tensor")
        if latent_avg is not None:
            latent_avg = latent_avg.reshape(-1)
    elif _is_tensor_dict(obj):
        state, latent_avg = obj, None
    else:
        keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(
            f"{source} does not look like a rosinality StyleGAN2 checkpoint: expected a dict with 'g_ema' "
            f"(found {keys})"
        )
    if not _is_tensor_dict(state):
        raise WeightsError(f"{source}: 'g_ema' is not a state dict of tensors")
    return dict(state), latent_avg


def unwrap_genforce(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """genforce: a ``PGGANGenerator`` state dict, bare or under ``generator_smooth`` / ``generator`` / ``state_dict``."""
    if isinstance(obj, dict):
        for key in ("generator_smooth", "generator", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not _is_tensor_dict(obj):
        keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(f"{source} does not look like a genforce ProgGAN state dict (found {keys})")
    return dict(obj)


def check_state_dict(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], source: str) -> None:
    """Raise ``WeightsError`` naming the first key that is missing, unexpected, or of the wrong shape."""
    for key, tensor in found.items():  # in the file's order, so "first" means first in the file
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{source} does not fit the model config: {key!r} has shape {tuple(tensor.shape)} in the file "
                f"but {tuple(expected[key].shape)} in the config. Is the config (size, widths, depth) right?"
            )
    for key in expected:
        if key not in found:
            raise WeightsError(
                f"{source} does not fit the model config: key {key!r} is missing "
                f"({len(found)} keys in the file, {len(expected)} expected). Is the config (size, widths, depth) right?"
            )
    for key in found:
        if key not in expected:
            raise WeightsError(f"{source} does not fit the model config: unexpected key {key!r} in the file.")


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Raise ``WeightsError`` naming the file and the first tensor that holds NaN or ±Inf (a damaged download or a
    diverged training): such weights would render black or NaN images without any error."""
    for key, tensor in state.items():
        # A finite sum proves every value finite (a NaN or ±Inf would make it NaN or ±Inf) and is ~20× faster than
        # isfinite(tensor).all() on the ~250 M weights of an e4e encoder; an overflowing sum is checked element-wise.
        if tensor.is_floating_point() and not torch.isfinite(tensor.sum()) and not torch.isfinite(tensor).all():
            raise WeightsError(f"{source}: {key!r} holds NaN or infinite values; the file is damaged (download or "
                               "convert it again)")
