"""Seeded weights for the e4e reference fixture: a *recipe* (key, shape, how to draw it) instead of the tensors.

An e4e checkpoint holds an IR-SE50 backbone and one 512-channel head per style input: even at the smallest
StyleGAN size its weights weigh half a gigabyte, far too much for git. The fixture therefore stores, for every tensor
the authors' model has, its name, its shape and how it was drawn — ``mean + std · N(0, 1)`` from a CPU
``torch.Generator`` seeded with ``SEED + its index`` (``abs``: ``mean + std · |N(0, 1)|``, for BatchNorm variances;
``literal``: the values written out, for the FIR kernels; ``zeros``) — and ``scripts/make_e4e_fixture.py`` drew the
weights with this function, loaded them into the authors' model and saved its outputs. A test draws the same weights
again and writes them as an e4e checkpoint file; a checksum of the drawn weights (stored with the recipe) says
whether this machine's torch draws the same numbers before any output is compared.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

SEED = 20_240_530


def draw(entry: dict[str, Any], index: int) -> torch.Tensor:
    """One tensor of the recipe."""
    shape, kind = tuple(entry["shape"]), entry["kind"]
    if kind == "zeros":
        return torch.zeros(shape, dtype=getattr(torch, entry.get("dtype", "float32")))
    if kind == "literal":
        return torch.tensor(entry["values"], dtype=torch.float32).reshape(shape)
    g = torch.Generator(device="cpu").manual_seed(SEED + index)
    noise = torch.randn(shape, generator=g, dtype=torch.float32)
    if kind == "abs":
        noise = noise.abs()
    elif kind != "normal":
        raise ValueError(f"unknown recipe kind {kind!r}")
    return entry.get("mean", 0.0) + entry.get("std", 1.0) * noise


def realise(recipe: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The recipe's tensors, by name, in the recipe's order."""
    return {e["key"]: draw(e, i) for i, e in enumerate(recipe["tensors"])}


def checksum(state: dict[str, torch.Tensor]) -> float:
    """Σ over tensors of Σ |x| · (1 + index mod 7), in float64: a change of any drawn tensor changes it."""
    return float(sum(t.double().abs().sum().item() * (1 + i % 7) for i, t in enumerate(state.values())))


def spec(key: str, tensor: torch.Tensor) -> dict[str, Any]:
    """How the fixture script draws a tensor of the authors' model, from its name and shape."""
    shape = list(tensor.shape)
    base: dict[str, Any] = {"key": key, "shape": shape}
    name = key.rsplit(".", 1)[-1]
    if not tensor.is_floating_point():
        return base | {"kind": "zeros", "dtype": str(tensor.dtype).removeprefix("torch.")}
    if name == "kernel":  # FIR filters of the decoder: their exact values
        return base | {"kind": "literal", "values": tensor.flatten().tolist()}
    if key == "latent_avg":
        return base | {"kind": "normal", "mean": 0.0, "std": 0.5}
    if key.startswith("encoder."):
        return base | _encoder_spec(key, tensor)
    return base | _decoder_spec(key, tensor)


def _encoder_spec(key: str, tensor: torch.Tensor) -> dict[str, Any]:
    name = key.rsplit(".", 1)[-1]
    if name == "running_var":
        return {"kind": "abs", "mean": 1.0, "std": 0.2}
    if name == "running_mean":
        return {"kind": "normal", "std": 0.1}
    if tensor.ndim == 1 and tensor.numel() and ".linear." not in key and name == "weight":  # BatchNorm, PReLU
        is_prelu = any(key.endswith(s) for s in ("input_layer.2.weight", "res_layer.2.weight"))
        return {"kind": "normal", "mean": 0.25 if is_prelu else 1.0, "std": 0.05 if is_prelu else 0.1}
    if name == "bias":
        return {"kind": "normal", "std": 0.1}
    if ".linear." in key:  # EqualLinear: drawn N(0, 1) like its init; scaled by 1/√in at run time
        return {"kind": "normal", "std": 1.0}
    fan_in = math.prod(tensor.shape[1:])
    return {"kind": "normal", "std": 1.0 / math.sqrt(fan_in)}


def _decoder_spec(key: str, tensor: torch.Tensor) -> dict[str, Any]:
    name = key.rsplit(".", 1)[-1]
    if "modulation.bias" in key:
        return {"kind": "normal", "mean": 1.0, "std": 0.1}
    if name == "bias" or key.endswith("noise.weight"):
        return {"kind": "normal", "std": 0.1}
    return {"kind": "normal", "std": 1.0}  # equalised-lr weights (scaled at run time), noise maps, const input


def read_recipe(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
