"""Which architecture, layout and config a checkpoint holds, read from its tensors' names and shapes.

Three foreign layouts are recognised (nothing is guessed from the file name):

- rosinality StyleGAN2 (``style.{i}.weight``, ``conv1.conv.weight``, ``to_rgbs.{i}``…, bare or under ``g_ema``):
  style dim, mapping depth, size and per-resolution channels;
- genforce ProgGAN (``layer{i}.weight``, ``output{j}.weight``, bare or under ``generator_smooth``/``generator``/
  ``state_dict``): z size, resolution, ``fmaps_base``/``fmaps_max``, fused up-sampling;
- NVIDIA StyleGAN2-ADA (a snapshot pickle read by ``nvidia_pickle``, or a ``G_ema`` state dict): see
  ``nvidia_layout.nvidia_config``;
- a pSp / e4e checkpoint (``state_dict`` with ``encoder.*`` and ``decoder.*``): its decoder, a rosinality StyleGAN2.

Anything else is refused with a sentence naming what was found.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import WeightsError
from .formats import psp_decoder
from .nvidia_layout import is_nvidia_state, nvidia_config, snapshot_generator
from .nvidia_pickle import NvidiaModule
from .stylegan2 import default_channels


@dataclass(frozen=True)
class Inferred:
    arch: str  # "stylegan2" | "pggan"
    layout: str  # "rosinality" | "nvidia" | "genforce"
    config: dict[str, Any]


def _tensors(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    return None


def _indices(state: dict[str, torch.Tensor], pattern: str) -> list[int]:
    return sorted(int(m.group(1)) for k in state if (m := re.fullmatch(pattern, k)))


def _rosinality(state: dict[str, torch.Tensor], source: str) -> dict[str, Any]:
    mlp = _indices(state, r"style\.(\d+)\.weight")
    rgbs = _indices(state, r"to_rgbs\.(\d+)\.conv\.weight")
    if mlp != list(range(1, len(mlp) + 1)) or rgbs != list(range(len(rgbs))) or not rgbs:
        raise WeightsError(f"{source} looks like a rosinality StyleGAN2 checkpoint but its layers are incomplete "
                           f"(mapping layers {mlp}, toRGB layers {rgbs}).")
    size = 2 ** (len(rgbs) + 2)
    try:
        channels = {"4": int(state["conv1.conv.weight"].shape[1])}
        for k in range(len(rgbs)):
            channels[str(8 * 2**k)] = int(state[f"convs.{2 * k}.conv.weight"].shape[1])
    except KeyError as e:
        raise WeightsError(f"{source} looks like a rosinality StyleGAN2 checkpoint but has no {e.args[0]!r}.") from None
    first, last = state["style.1.weight"].shape, state[f"style.{len(mlp)}.weight"].shape
    config: dict[str, Any] = {"size": size, "style_dim": int(last[0]), "n_mlp": len(mlp)}
    if first[1] != last[0]:  # z and the mapping layers may be narrower or wider than w (from NVIDIA's ADA models)
        config["z_dim"] = int(first[1])
    if len(mlp) > 1 and first[0] != last[0]:
        config["mapping_width"] = int(first[0])
    for multiplier in (2, 1, 4):  # config-f first; store the short form when a standard table fits
        if default_channels(size, multiplier) == channels:
            return config | {"channel_multiplier": multiplier}
    return config | {"channels": channels}


def _genforce(state: dict[str, torch.Tensor], source: str) -> dict[str, Any]:
    outputs = _indices(state, r"output(\d+)\.weight")
    if outputs != list(range(len(outputs))) or len(outputs) < 2:
        raise WeightsError(f"{source} looks like a genforce ProgGAN state dict but its output layers are {outputs}.")
    resolution = 4 * 2 ** (len(outputs) - 1)
    try:
        channels = {4 * 2**b: int(state[f"layer{2 * b + 1}.weight"].shape[0]) for b in range(len(outputs))}
        z_dim = int(state["layer0.weight"].shape[1])
        fused = False
        for b in range(1, len(outputs)):
            c_in, c_out = channels[2 ** (b + 1)], channels[2 ** (b + 2)]
            if c_in != c_out:
                fused = tuple(state[f"layer{2 * b}.weight"].shape[:2]) == (c_in, c_out)
                break
    except KeyError as e:
        raise WeightsError(f"{source} looks like a genforce ProgGAN state dict but has no {e.args[0]!r}.") from None
    fmaps_max = max(channels.values())
    narrower = [r for r in sorted(channels) if channels[r] < fmaps_max]
    fmaps_base = channels[narrower[0]] * narrower[0] if narrower else fmaps_max * resolution
    if any(min(fmaps_base // r, fmaps_max) != c for r, c in channels.items()):
        raise WeightsError(f"{source}: the ProgGAN channel widths {channels} do not follow min(fmaps_base // r, "
                           "fmaps_max); give config=... explicitly.")
    return {"resolution": resolution, "z_space_dim": z_dim, "fmaps_base": fmaps_base, "fmaps_max": fmaps_max,
            "fused_scale": fused}


def _found(obj: Any) -> str:
    """A short description of an unrecognised checkpoint, for the refusal sentence."""
    if isinstance(obj, dict):
        keys = list(obj)
        tensors = _tensors(obj)
        if tensors is not None:
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in list(tensors.items())[:4])
            return f"{len(keys)} tensors ({shapes}{', …' if len(keys) > 4 else ''})"
        return f"a dict with keys {[str(k) for k in keys[:8]]}{' …' if len(keys) > 8 else ''}"
    if isinstance(obj, torch.Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    return f"a {type(obj).__name__}"


def infer(obj: Any, source: str) -> Inferred:
    """Architecture, layout and config of a checkpoint already read by ``formats.read_weights``."""
    if isinstance(obj, NvidiaModule) or (
        isinstance(obj, dict) and any(isinstance(v, NvidiaModule) for v in obj.values())
    ):
        state, kwargs = snapshot_generator(obj, source)
        return Inferred("stylegan2", "nvidia", nvidia_config(state, kwargs, source))
    obj = psp_decoder(obj) or obj
    if isinstance(obj, dict) and _tensors(obj.get("g_ema")) is not None:
        return Inferred("stylegan2", "rosinality", _rosinality(obj["g_ema"], source))
    state = _tensors(obj)
    if state is None and isinstance(obj, dict):
        for key in ("generator_smooth", "generator", "state_dict"):
            if _tensors(obj.get(key)) is not None:
                state = obj[key]
                break
    if state is not None:
        if is_nvidia_state(state):
            return Inferred("stylegan2", "nvidia", nvidia_config(state, {}, source))
        if "style.1.weight" in state and "conv1.conv.weight" in state:
            return Inferred("stylegan2", "rosinality", _rosinality(state, source))
        if "layer0.weight" in state and "output0.weight" in state:
            return Inferred("pggan", "genforce", _genforce(state, source))
    raise WeightsError(
        f"{source} matches no known generator layout (rosinality StyleGAN2, NVIDIA StyleGAN2-ADA, genforce ProgGAN): "
        f"found {_found(obj)}. Give arch=..., layout=... and config=... if it is one of them under other names."
    )

