"""NVIDIA StyleGAN2-ADA generators (``G_ema`` of a snapshot pickle, or its state dict) as our StyleGAN2.

The two layouts compute the same network; only names, shapes and where constants live differ:

- mapping: ``mapping.fc{i}`` → ``style.{i+1}`` (both keep weights divided by the lr multiplier and scale them by
  ``lr_mul/√in`` at run time); ``mapping.w_avg`` → ``latent_avg``. z_dim and the layers' width (``layer_features``)
  may differ from w_dim: they become our config's ``z_dim`` and ``mapping_width``.
- synthesis: ``b4.const`` (C, 4, 4) → ``input.input`` (1, C, 4, 4); ``b4.conv1`` → ``conv1``; ``b4.torgb`` →
  ``to_rgb1``; block ``b{4·2^k}`` (k ≥ 1) → ``convs.{2k-2}`` (``conv0``, up-sampling), ``convs.{2k-1}`` (``conv1``)
  and ``to_rgbs.{k-1}``. A layer's ``weight`` gains a leading 1, ``affine`` → ``conv.modulation``, ``bias`` →
  ``activate.bias`` (toRGB: ``bias`` reshaped to (1, 3, 1, 1)), ``noise_strength`` () → ``noise.weight`` (1,), and
  ``noise_const`` (R, R) → ``noises.noise_{n}`` (1, 1, R, R) in layer order.
- NVIDIA's synthesis layers apply no ``1/√(in·k²)`` weight gain before demodulation, ours does: demodulation cancels
  it. ``conv_clamp`` (applied in fp32 layers too: after the activation, and to each toRGB output) becomes our
  config's ``conv_clamp``. The ``resample_filter`` buffers become our up-sampling kernels.
"""
from __future__ import annotations

import re
from typing import Any

import torch

from ..errors import WeightsError
from .nvidia_pickle import NvidiaModule
from .ops import make_kernel

GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")


def is_nvidia_state(state: dict[str, Any]) -> bool:
    """Whether a flat state dict uses NVIDIA's generator names."""
    return "mapping.fc0.weight" in state and any(k.startswith("synthesis.b4.") for k in state)


def snapshot_generator(obj: Any, source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The generator to import from an unpickled snapshot (``G_ema``, else ``G``) as (NVIDIA state dict, init kwargs).

    Refuses, with a sentence, StyleGAN3, discriminator-only and other non-generator pickles.
    """
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        net = obj.get("G_ema") if isinstance(obj.get("G_ema"), NvidiaModule) else obj.get("G")
        if not isinstance(net, NvidiaModule):
            if isinstance(obj.get("D"), NvidiaModule):
                raise WeightsError(f"{source} holds a discriminator only (no G_ema or G): nothing to generate with.")
            raise WeightsError(f"{source} is an NVIDIA pickle without a generator: it holds {sorted(map(str, obj))}.")
    elif isinstance(obj, NvidiaModule):
        net = obj
    else:
        return dict(obj), {}
    if net.class_name != "Generator":
        what = "a discriminator only" if net.class_name == "Discriminator" else f"a {net.class_name}"
        raise WeightsError(f"{source} holds {what}, not a generator: nothing to generate with.")
    if any(m.class_name == "SynthesisInput" for m in net.walk()):
        raise WeightsError(f"{source} is a StyleGAN3 generator; only StyleGAN2 / StyleGAN2-ADA is supported.")
    kwargs = dict(zip(GENERATOR_ARGS, net.init_args)) | dict(net.init_kwargs)
    return net.state_dict(), kwargs


def _shape(state: dict[str, torch.Tensor], key: str, source: str) -> tuple[int, ...]:
    if key not in state:
        raise WeightsError(f"{source}: the NVIDIA generator has no {key!r}; is it a complete StyleGAN2-ADA G_ema?")
    return tuple(state[key].shape)


def nvidia_config(state: dict[str, torch.Tensor], kwargs: dict[str, Any], source: str) -> dict[str, Any]:
    """Our StyleGAN2 config for an NVIDIA generator: sizes from the tensors, the rest from its init kwargs."""
    try:
        return _nvidia_config(state, kwargs, source)
    except (TypeError, ValueError, AttributeError) as e:
        raise WeightsError(f"{source}: the NVIDIA generator's constructor arguments are malformed ({e}).") from None


def _nvidia_config(state: dict[str, torch.Tensor], kwargs: dict[str, Any], source: str) -> dict[str, Any]:
    if any(k.startswith("synthesis.input.") for k in state):
        raise WeightsError(f"{source} is a StyleGAN3 generator; only StyleGAN2 / StyleGAN2-ADA is supported.")
    mapping_kwargs = dict(kwargs.get("mapping_kwargs") or {})
    synthesis_kwargs = dict(kwargs.get("synthesis_kwargs") or {})
    c_dim = int(kwargs.get("c_dim") or 0)
    if c_dim > 0 or "mapping.embed.weight" in state:
        c_dim = c_dim or _shape(state, "mapping.embed.weight", source)[1]
        raise WeightsError(f"{source} is a class-conditional generator (c_dim = {c_dim}); conditional generators "
                           "are not supported yet.")
    if int(kwargs.get("img_channels", 3)) != 3:
        raise WeightsError(f"{source} makes {kwargs['img_channels']}-channel images; only RGB generators are "
                           "supported.")
    architecture = synthesis_kwargs.get("architecture", "skip")
    if architecture != "skip":
        raise WeightsError(f"{source} uses the {architecture!r} synthesis architecture; only 'skip' (StyleGAN2's "
                           "default) is supported.")
    n_mlp = sum(1 for k in state if re.fullmatch(r"mapping\.fc\d+\.weight", k))
    mapping = mapping_dims(state, n_mlp, source)
    resolutions = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k)))
    if not resolutions or resolutions[0] != 4 or resolutions != [4 * 2**i for i in range(len(resolutions))]:
        raise WeightsError(f"{source}: the synthesis blocks {resolutions} are not b4, b8, … b<size>.")
    if "synthesis.b4.conv1.noise_const" not in state:
        raise WeightsError(f"{source}: a generator without noise inputs (use_noise=False) is not supported.")
    clamp = synthesis_kwargs.get("conv_clamp")
    return mapping | {
        "size": resolutions[-1],
        "n_mlp": n_mlp,
        "lr_mlp": float(mapping_kwargs.get("lr_multiplier", 0.01)),
        "blur_kernel": [int(t) for t in synthesis_kwargs.get("resample_filter", [1, 3, 3, 1])],
        "channels": {str(r): _shape(state, f"synthesis.b{r}.conv1.weight", source)[0] for r in resolutions},
        "conv_clamp": None if clamp is None else float(clamp),
    }


def mapping_dims(state: dict[str, torch.Tensor], n_mlp: int, source: str) -> dict[str, int]:
    """``style_dim`` (w_dim), and ``z_dim`` / ``mapping_width`` where they differ from it, from the mapping layers'
    shapes: NVIDIA's ``MappingNetwork`` is z_dim → layer_features → … → layer_features → w_dim
    (``fc0`` … ``fc{n-1}``)."""
    shapes = [_shape(state, f"mapping.fc{i}.weight", source) for i in range(max(n_mlp, 1))]
    z_dim, w_dim = shapes[0][1], shapes[-1][0]
    width = shapes[0][0] if n_mlp > 1 else w_dim
    expected = [(d_out, d_in) for d_in, d_out in zip([z_dim] + [width] * (n_mlp - 1), [width] * (n_mlp - 1) + [w_dim])]
    if z_dim == 0 or shapes != expected:
        raise WeightsError(f"{source}: the mapping layers have shapes {shapes}, which is not NVIDIA's z_dim → "
                           "layer_features → … → w_dim chain (with z_dim > 0).")
    return {"style_dim": w_dim} | ({"z_dim": z_dim} if z_dim != w_dim else {}) | (
        {"mapping_width": width} if width != w_dim else {})


def _layer(state: dict[str, torch.Tensor], src: str, dst: str, out: dict[str, torch.Tensor]) -> torch.Tensor:
    """One SynthesisLayer → StyledConv; returns its constant noise."""
    out[f"{dst}.conv.weight"] = state[f"{src}.weight"].unsqueeze(0)
    out[f"{dst}.conv.modulation.weight"] = state[f"{src}.affine.weight"]
    out[f"{dst}.conv.modulation.bias"] = state[f"{src}.affine.bias"]
    out[f"{dst}.noise.weight"] = state[f"{src}.noise_strength"].reshape(1)
    out[f"{dst}.activate.bias"] = state[f"{src}.bias"]
    return state[f"{src}.noise_const"]


def _torgb(state: dict[str, torch.Tensor], src: str, dst: str, out: dict[str, torch.Tensor]) -> None:
    out[f"{dst}.conv.weight"] = state[f"{src}.weight"].unsqueeze(0)
    out[f"{dst}.conv.modulation.weight"] = state[f"{src}.affine.weight"]
    out[f"{dst}.conv.modulation.bias"] = state[f"{src}.affine.bias"]
    out[f"{dst}.bias"] = state[f"{src}.bias"].reshape(1, -1, 1, 1)


def rename(state: dict[str, torch.Tensor], config: dict[str, Any], source: str) -> dict[str, torch.Tensor]:
    """An NVIDIA generator state dict in our StyleGAN2's names and shapes (fp32)."""
    state = {k: v.float() for k, v in state.items()}
    out: dict[str, torch.Tensor] = {}
    try:
        for i in range(config["n_mlp"]):
            out[f"style.{i + 1}.weight"] = state[f"mapping.fc{i}.weight"]
            out[f"style.{i + 1}.bias"] = state[f"mapping.fc{i}.bias"]
        w_avg = state.get("mapping.w_avg")
        out["latent_avg"] = w_avg if w_avg is not None else torch.full((config["style_dim"],), float("nan"))
        out["input.input"] = state["synthesis.b4.const"].unsqueeze(0)
        noises = [_layer(state, "synthesis.b4.conv1", "conv1", out)]
        _torgb(state, "synthesis.b4.torgb", "to_rgb1", out)
        kernel = make_kernel(config["blur_kernel"]) * 4  # up-sampling by 2: the FIR gain is factor²
        for k in range(1, len(config["channels"])):
            block = f"synthesis.b{4 * 2**k}"
            noises.append(_layer(state, f"{block}.conv0", f"convs.{2 * k - 2}", out))
            noises.append(_layer(state, f"{block}.conv1", f"convs.{2 * k - 1}", out))
            _torgb(state, f"{block}.torgb", f"to_rgbs.{k - 1}", out)
            out[f"convs.{2 * k - 2}.conv.blur.kernel"] = kernel.clone()
            out[f"to_rgbs.{k - 1}.upsample.kernel"] = kernel.clone()
    except KeyError as e:
        raise WeightsError(f"{source}: the NVIDIA generator has no {e.args[0]!r}; is it a complete StyleGAN2-ADA "
                           "G_ema?") from None
    for n, noise in enumerate(noises):
        out[f"noises.noise_{n}"] = noise.reshape(1, 1, *noise.shape[-2:])
    return out


def nvidia_to_ours(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """``StyleGAN2Generator.convert_state_dict`` for layout ``"nvidia"``."""
    state, kwargs = snapshot_generator(obj, source)
    return rename(state, nvidia_config(state, kwargs, source), source)
