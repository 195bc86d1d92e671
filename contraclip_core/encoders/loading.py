"""Read the authors' pSp / e4e checkpoints safely and build our encoder from them.

Their training code saves ``torch.save({"state_dict": net.state_dict(), "opts": vars(opts), "latent_avg": …})``:
``state_dict`` holds the encoder (``encoder.*``) and the StyleGAN2 generator it was trained with (``decoder.*``, in
rosinality's layout), ``opts`` the training options as plain values, ``latent_avg`` the generator's average w
repeated per style input. The file is read by ``generators.formats.read_weights`` (``torch.load(weights_only=True)``,
which also accepts ``opts`` pickled as an ``argparse.Namespace``); nothing in it is executed. The decoder part loads
as a generator through ``generators.from_pretrained`` on the same file.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from .. import hub
from ..catalogue import ENCODERS
from ..errors import UnknownNameError, WeightsError
from ..generators.formats import check_finite, check_state_dict, read_weights
from .model import KINDS, EncoderConfig, StyleEncoder

ENCODER_TYPES = {their: ours for ours, their in KINDS.items()}
OTHER_TYPES = ("SingleStyleCodeEncoder", "BackboneEncoderUsingLastLayerIntoW", "BackboneEncoderUsingLastLayerIntoWPlus")
WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl")


def _encoder_state(obj: Any, source: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or "state_dict" not in obj:
        found = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(f"{source} is not a pSp / e4e checkpoint: expected a dict with 'state_dict', 'opts' and "
                           f"'latent_avg' (found {found}).")
    state = obj["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{source}: 'state_dict' is not a dict of tensors.")
    encoder = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if not encoder:
        raise WeightsError(f"{source} holds no encoder weights (no 'encoder.*' keys in its state_dict).")
    return encoder


def _opts(obj: dict, source: str) -> dict[str, Any]:
    opts = obj.get("opts", {})
    if not isinstance(opts, dict):
        opts = getattr(opts, "__dict__", None)  # an argparse.Namespace (the only class read_weights lets through)
    if not isinstance(opts, dict):
        raise WeightsError(f"{source}: 'opts' is neither a dict nor an argparse.Namespace.")
    return opts


def encoder_config(obj: Any, source: str) -> tuple[EncoderConfig, dict[str, torch.Tensor]]:
    """Our config and state dict (our key names, fp32) for a pSp / e4e checkpoint already read by read_weights."""
    state = _encoder_state(obj, source)
    opts = _opts(obj, source)
    encoder_type = opts.get("encoder_type")
    if encoder_type in OTHER_TYPES:
        raise WeightsError(f"{source} holds a {encoder_type}, which gives one W code; only the per-layer encoders "
                           f"{sorted(ENCODER_TYPES)} (pSp, e4e) are supported.")
    if encoder_type not in ENCODER_TYPES:
        raise WeightsError(f"{source}: its opts name the encoder type {encoder_type!r}; supported: "
                           f"{sorted(ENCODER_TYPES)} (pSp, e4e).")
    heads = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"styles\.(\d+)\.linear\.weight", k)))
    if not heads or heads != list(range(len(heads))):
        raise WeightsError(f"{source}: the encoder's style heads are incomplete (found heads {heads[:20]}).")
    size = opts.get("stylegan_size", opts.get("output_size"))
    if isinstance(size, int) and size >= 8 and 2 * int(math.log2(size)) - 2 != len(heads):
        raise WeightsError(f"{source}: its opts say a {size}-px generator ({2 * int(math.log2(size)) - 2} style "
                           f"inputs) but the encoder has {len(heads)} style heads.")
    units = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    if units != set(range(24)):
        raise WeightsError(f"{source}: the encoder's backbone has {len(units)} units; only IR-SE50 (24 units, the "
                           "backbone pSp and e4e use) is supported.")
    first = state.get("input_layer.0.weight")
    if first is None or first.ndim != 4 or first.shape[1] != 3:
        got = "no input layer" if first is None else f"{first.shape[1]}-channel inputs"
        raise WeightsError(f"{source}: the encoder takes {got}, not RGB photos (a sketch or segmentation pSp model?).")
    latent_avg = obj.get("latent_avg")
    add_avg = bool(opts.get("start_from_latent_avg", latent_avg is not None))
    w_dim = int(state["styles.0.linear.weight"].shape[0])
    if add_avg:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.shape[-1] != w_dim or latent_avg.numel() not in (
                w_dim, w_dim * len(heads)):
            found = tuple(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
            raise WeightsError(f"{source}: the encoder was trained with start_from_latent_avg but its 'latent_avg' "
                               f"is not a ({len(heads)}, {w_dim}) or ({w_dim},) tensor (found {found}).")
        latent_avg = latent_avg.float().reshape(-1, w_dim).expand(len(heads), w_dim)
    else:
        latent_avg = torch.zeros(len(heads), w_dim)
    dataset = str(opts.get("dataset_type", ""))
    config = EncoderConfig(kind=ENCODER_TYPES[encoder_type], num_ws=len(heads), w_dim=w_dim,
                           se="body.0.res_layer.5.fc1.weight" in state, add_latent_avg=add_avg,
                           input_size=(192, 256) if dataset.startswith("cars") else (256, 256))
    ours = {StyleEncoder.our_key(k): v.float() if v.is_floating_point() else v for k, v in state.items()}
    ours["latent_avg"] = latent_avg.contiguous().clone()
    return config, ours


def build(config: EncoderConfig, state: dict[str, torch.Tensor], source: str) -> StyleEncoder:
    """The encoder with the given weights (built on the meta device first: no random init of ~250 M weights)."""
    with torch.device("meta"):
        model = StyleEncoder(config)
    check_state_dict(model.state_dict(), state, source)
    check_finite(state, source)
    model.load_state_dict(state, strict=True, assign=True)
    model.eval().requires_grad_(False)
    return model


def load_encoder(source: str | Path, *, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> StyleEncoder:
    """A pSp / e4e encoder, in eval mode with frozen weights.

    Args:
        source: an encoder name of the catalogue (``registry.ENCODERS``; none is listed yet), ``hf://org/repo/file``
            or a local checkpoint file as the authors' training code saves it (e.g. ``e4e_ffhq_encode.pt``).
    The generator it encodes for is the checkpoint's decoder: ``generators.from_pretrained(source)`` on the same file.
    """
    name = str(source)
    what = f"encoder {name!r}"
    if name in ENCODERS:
        source, what = ENCODERS[name].source, f"the encoder {name!r}"
    elif not (name.startswith("hf://") or Path(name).expanduser().exists() or (hub.PROJECT_ROOT / name).exists()):
        if "/" not in name and "\\" not in name and not name.endswith(WEIGHT_SUFFIXES):
            raise UnknownNameError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS) or 'none listed yet'}, "
                                   "or give hf://org/repo/path/to/file or a local path")
    path = hub.resolve(source, what=what)
    if path.is_dir():
        raise WeightsError(f"{what}: {path} is a folder; give the checkpoint file (e.g. e4e_ffhq_encode.pt).")
    config, state = encoder_config(read_weights(path), path.name)
    return build(config, state, path.name).to(device=device, dtype=dtype)
