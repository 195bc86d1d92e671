"""StyleGAN2 synthesis, the fast way: same weights, same maths, fewer passes over memory.

``StyleGAN2Generator.set_impl("fast")`` (the default) routes ``_synthesize_ws`` here; the plain module forwards in
``stylegan2.py`` stay the readable reference (``"activations"``, ``"grouped"``). What is done differently:

- **channels_last** activations throughout: oneDNN (CPU) and cuDNN run NHWC convolutions without reordering the
  activations on every call (on a 2-core AVX-512 CPU the stride-2 transposed convolutions alone run ~1.5–2.5× faster).
- **Modulation folded into the weights where activations are large**: on the CPU, a layer whose activations outweigh
  its weights builds each sample's modulated-and-demodulated weight (``W · s_b · d_b``) and runs one plain
  convolution per sample — no activation-sized multiply before or after the convolution. Small, low-resolution
  layers (and every layer on a GPU, where one batched launch matters more) scale the activations instead and run one
  convolution for the whole batch.
- **Epilogue folded**: ``leaky_relu(x, 0.2)·√2 = leaky_relu(√2·x, 0.2)``, so √2 goes into the weights, bias and noise
  strength; the bias rides in the convolution (or the blur after a transposed convolution); noise is added and the
  activation applied in place. ToRGB (a 1×1 convolution) is one batched matmul on the NHWC view.
- **Fewer copies when up-sampling**: the blur after a transposed convolution pads inside the convolution, and the
  skip branch's ×2 up-sampling is one depthwise transposed convolution instead of zero-insertion, pad and convolve.
- **Reduced precision done NVIDIA's way**: under ``torch.autocast(dtype=bf16 | fp16)`` (see ``precision.py``) the
  four highest resolutions run in that dtype (StyleGAN2-ADA's ``num_fp16_res = 4``), the rest and the RGB skip sum in
  fp32; in fp16 activations are clamped to ±``conv_clamp`` (256 when the config has none, as NVIDIA's fp16 layers do)
  and styles are pre-normalised so nothing overflows.

Weight-only quantities (the scaled weight in the layout its convolution reads — channels_last, NCHW for NNPACK, or
(in, out, k, k) for a transposed convolution — and Σ_k W²) are cached per layer, keyed by the parameter's storage and
version, so they are recomputed when weights change; nothing is cached for weights that need gradients.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .ops import upfirdn2d

if TYPE_CHECKING:  # pragma: no cover
    from .stylegan2 import StyledConv, StyleGAN2Generator, ToRGB

SQRT2 = math.sqrt(2.0)
CL = torch.channels_last  # the layout of activations between layers (bench may switch it to compare)
NUM_REDUCED_RES = 4  # highest resolutions run in the autocast dtype (StyleGAN2-ADA: num_fp16_res = 4)
FP16_CLAMP = 256.0  # StyleGAN2-ADA's conv_clamp for its fp16 layers
USE_NNPACK = True  # Winograd 3×3 convolutions through NNPACK on the CPU (fp32) when torch has it; bench toggles it
WINOGRAD_MIN_CHANNELS = 256  # narrower 3×3 convolutions run direct, in channels_last (see winograd())
WINOGRAD_MIN_SIZE = 32  # and so do those on smaller images
_NNPACK: bool | None = None  # NNPACK initialised and available (None: not asked yet)


def compute_dtype(device: torch.device, full: torch.dtype) -> torch.dtype:
    """The reduced dtype autocast asks for on ``device`` (for float32 models), or the model's own dtype ``full``."""
    if full == torch.float32 and torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return full


TRANSPOSED = "transposed"  # _cached's form for up-sampling layers: (in, out, k, k) contiguous, as conv_transpose2d reads


def _cached(g: "StyleGAN2Generator", layer: torch.nn.Module,
            form: torch.memory_format | str = CL) -> tuple[torch.Tensor, torch.Tensor]:
    """(W·scale, Σ_{k,k} W² as (out, in)) for a ModulatedConv2d. W·scale is (out, in, k, k) in the memory format
    ``form`` — channels_last for oneDNN, contiguous for NNPACK — or, for ``TRANSPOSED``, (in, out, k, k) contiguous
    for ``conv_transpose2d``: either library would otherwise copy a 9 MB weight into its layout on every call."""
    weight = layer.weight
    if weight.requires_grad and torch.is_grad_enabled():
        w = layer.scale * weight[0]
        return (w.transpose(0, 1) if form == TRANSPOSED else w), w.square().sum((2, 3))
    cache = g.__dict__.setdefault("_fast_cache", {})
    key = (weight.data_ptr(), weight._version, weight.dtype, weight.device, form)
    hit = cache.get(id(layer))
    if hit is None or hit[0] != key:
        with torch.no_grad():
            w = layer.scale * weight[0]
            shaped = w.transpose(0, 1).contiguous() if form == TRANSPOSED else w.contiguous(memory_format=form)
            hit = (key, shaped, w.square().sum((2, 3)))
        cache[id(layer)] = hit
    return hit[1], hit[2]


def _per_sample(x: torch.Tensor | list[torch.Tensor], out_channels: int, weight: torch.Tensor) -> bool:
    """Fold the modulation into per-sample weights when one sample's activations (in + out) outweigh the weight."""
    if isinstance(x, list):
        return True
    if x.device.type != "cpu":
        return False
    _, c, h, w = x.shape
    return c * h * w + out_channels * h * w > weight.numel()


def _blur_weight(kernel: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    k = torch.flip(kernel, [0, 1]).to(dtype)  # upfirdn2d convolves (flipped kernel); conv2d correlates
    return k.expand(channels, 1, *k.shape)


def nnpack_ok() -> bool:
    """Whether NNPACK's Winograd 3×3 convolution is usable here (``USE_NNPACK`` and a torch built with it)."""
    global _NNPACK
    if _NNPACK is None:
        try:
            _NNPACK = bool(torch._nnpack_available())  # also initialises NNPACK; without this its calls fail
        except (AttributeError, RuntimeError):  # pragma: no cover - torch without NNPACK
            _NNPACK = False
    return USE_NNPACK and _NNPACK


def winograd(device: torch.device, dtype: torch.dtype, channels: int, size: int) -> bool:
    """Whether a 3×3 convolution with ``channels`` inputs on ``size``² pixels runs through NNPACK's Winograd here:
    fp32 on the CPU, and only wide layers — below ``WINOGRAD_MIN_CHANNELS`` the NCHW ↔ channels_last copies around
    it (one transposing pass over a large activation each way) cost more than Winograd saves — on large enough
    images: below ``WINOGRAD_MIN_SIZE`` its 6×6 output tiles are mostly padding (17 ms for 512 channels at 4×4 px,
    where the direct convolution takes under 1 ms). Measured with bench/bench.py, docs/PERFORMANCE.md."""
    return (device.type == "cpu" and dtype == torch.float32 and channels >= WINOGRAD_MIN_CHANNELS
            and size >= WINOGRAD_MIN_SIZE and nnpack_ok())


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
    """A stride-1 convolution: NNPACK's Winograd F(6×6, 3×3) on the CPU in fp32 for wide layers (≈3× the throughput
    of the direct convolution on an AVX-512 CPU; relative error ~1e-5, see tests), ``F.conv2d`` otherwise. NCHW
    output from NNPACK."""
    if weight.shape[-2:] == (3, 3) and winograd(x.device, x.dtype, weight.shape[1], x.shape[-1]):
        if bias is None:
            bias = torch.zeros(weight.shape[0], dtype=x.dtype)
        try:
            return torch._nnpack_spatial_convolution(x.contiguous(), weight.contiguous(), bias,
                                                     [padding, padding], [1, 1])
        except RuntimeError:  # pragma: no cover - NNPACK refused this shape: the direct convolution instead
            pass
    return F.conv2d(x, weight, bias, padding=padding)


def styled_conv(g: "StyleGAN2Generator", layer: "StyledConv", x: torch.Tensor | list[torch.Tensor],
                w: torch.Tensor, noise: torch.Tensor, dtype: torch.dtype,
                out_format: torch.memory_format = CL) -> torch.Tensor | list[torch.Tensor]:
    """One StyledConv: modulated 3×3 conv (×2 up-sampling if the layer has it), noise, bias, leaky ReLU·√2, clamp.

    ``x`` is a batch (B, C, H, W) or a list of B single-sample tensors (1, C, H, W); the result has the same form,
    in ``out_format`` (the layout the next layer's convolution reads fastest).
    """
    conv = layer.conv
    first = x[0] if isinstance(x, list) else x
    nnpack = not conv.upsample and winograd(first.device, dtype, conv.weight.shape[2], first.shape[-1])
    form = TRANSPOSED if conv.upsample else torch.contiguous_format if nnpack else CL
    weight, weight_sq = _cached(g, conv, form)  # (out, in, k, k) — (in, out, k, k) if up-sampling — and (out, in)
    out_channels = weight_sq.shape[0]
    style = conv.modulation(w)  # (B, in), the model's dtype
    if dtype == torch.float16:  # NVIDIA: pre-normalise so nothing overflows; demodulation cancels the scale
        style = style / style.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
    gain = torch.rsqrt(style.square() @ weight_sq.t() + 1e-8) * SQRT2  # (B, out): demodulation · √2
    bias = layer.activate.bias * SQRT2  # (out,)
    noise_gain = layer.noise.weight * SQRT2
    clamp = getattr(layer, "clamp", None) or (FP16_CLAMP if dtype == torch.float16 else None)
    pad = conv.padding

    if _per_sample(x, out_channels, weight):
        samples = x if isinstance(x, list) else list(x.split(1))
        outs = []
        for b, xb in enumerate(samples):
            scale = gain[b].view(-1, 1) * style[b].view(1, -1)  # (out, in)
            xb = xb.to(dtype)
            if conv.upsample:
                wb = (weight * scale.t().reshape(-1, out_channels, 1, 1)).to(dtype)  # (in, out, k, k)
                y = F.conv_transpose2d(xb.contiguous(memory_format=CL), wb, stride=2)
                y = _blur(conv.blur, y, bias.to(dtype))
            else:
                wb = (weight * scale.view(out_channels, -1, 1, 1)).to(dtype)
                y = conv3x3(xb, wb, bias.to(dtype), pad)
            outs.append(_epilogue(y, noise, noise_gain, clamp, out_format))
        return outs

    xs = x.to(dtype) * style.to(dtype).view(*style.shape, 1, 1)  # (B, in, H, W)
    wd = weight.to(dtype)
    if conv.upsample:
        y = F.conv_transpose2d(xs.contiguous(memory_format=CL), wd, stride=2)  # wd: (in, out, k, k)
        y = _blur(conv.blur, y, None)
    else:
        y = conv3x3(xs, wd, None, pad)
    y = torch.addcmul(bias.to(dtype).view(1, -1, 1, 1), y, gain.to(dtype).view(*gain.shape, 1, 1))
    return _epilogue(y, noise, noise_gain, clamp, out_format)


def _blur(blur: torch.nn.Module, y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Blur after a transposed conv (depthwise FIR), padding inside the conv when the pads are equal."""
    c = y.shape[1]
    k = _blur_weight(blur.kernel, c, y.dtype)
    p0, p1 = blur.pad
    if p0 != p1 or p0 < 0:
        y = upfirdn2d(y, blur.kernel.to(y.dtype), pad=blur.pad)
        return y if bias is None else y + bias.view(1, -1, 1, 1)
    return F.conv2d(y, k, bias, padding=p0, groups=c)


def _epilogue(y: torch.Tensor, noise: torch.Tensor, noise_gain: torch.Tensor, clamp: float | None,
              out_format: torch.memory_format) -> torch.Tensor:
    """y + √2·strength·noise, leaky ReLU (√2 already folded), clamp, in ``out_format``: one pass that also converts
    the layout when no gradient is needed, in place where autograd allows otherwise."""
    scaled_noise = noise.to(y.dtype) * noise_gain.to(y.dtype)  # (1, 1, H, W)
    if torch.is_grad_enabled() and y.requires_grad:
        y = (y + scaled_noise).contiguous(memory_format=out_format)
    elif y.is_contiguous(memory_format=out_format):
        y = y.add_(scaled_noise)
    else:
        y = torch.add(y, scaled_noise, out=torch.empty_like(y, memory_format=out_format))
    y = F.leaky_relu_(y, 0.2)  # in place is differentiable for a positive slope (backward uses the result)
    return y if clamp is None else y.clamp(-clamp, clamp)


def to_rgb(g: "StyleGAN2Generator", layer: "ToRGB", x: torch.Tensor | list[torch.Tensor], w: torch.Tensor,
           skip: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """ToRGB as one batched matmul on the NHWC view, in fp32 out, plus the ×2 up-sampled skip."""
    conv = layer.conv
    weight, _ = _cached(g, conv)  # (3, in, 1, 1)
    style = conv.modulation(w)  # (B, in), the model's dtype
    wb = (weight[:, :, 0, 0].unsqueeze(0) * style.unsqueeze(1)).transpose(1, 2).to(dtype)  # (B, in, 3)
    if isinstance(x, list):  # per sample: no batch-sized copy of the activations
        y = torch.cat([_rgb_matmul(xb.to(dtype), wb[k:k + 1]) for k, xb in enumerate(x)]).to(w.dtype)
    else:
        y = _rgb_matmul(x.to(dtype), wb).to(w.dtype)
    y = y + layer.bias
    clamp = getattr(layer, "clamp", None) or (FP16_CLAMP if dtype == torch.float16 else None)
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    if skip is not None:
        y = y + _upsample_skip(layer.upsample, skip)
    return y


def _rgb_matmul(x: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) · wb (B, C, 3) over C → (B, 3, H, W), without copying x in either layout."""
    b, c, h, w = x.shape
    if x.is_contiguous(memory_format=CL) and not x.is_contiguous():
        flat = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view of the NHWC data
        return torch.bmm(flat, wb).view(b, h, w, 3).permute(0, 3, 1, 2)
    return torch.bmm(wb.transpose(1, 2), x.reshape(b, c, h * w)).view(b, 3, h, w)


def _upsample_skip(up: torch.nn.Module, skip: torch.Tensor) -> torch.Tensor:
    """upfirdn2d(up=2) as one depthwise transposed conv: zero insertion + FIR in a single op."""
    kernel = up.kernel.to(skip.dtype)
    kh = kernel.shape[0]
    p0, p1 = up.pad
    # upfirdn2d keeps a trailing zero after the last pixel; the transposed conv's full output crops kh−1−p0 / kh−2−p1.
    crop0, crop1 = kh - 1 - p0, kh - 2 - p1
    if crop0 != crop1 or crop0 < 0:
        from .ops import upfirdn2d

        return upfirdn2d(skip, kernel, up=up.factor, pad=up.pad)
    c = skip.shape[1]
    return F.conv_transpose2d(skip, kernel.expand(c, 1, *kernel.shape), stride=up.factor, padding=crop0, groups=c)


def synthesize(g: "StyleGAN2Generator", ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
    """ws (B, num_ws, w_dim) → image (B, 3, size, size) in the model's dtype: ``g._synthesize_ws``'s result, faster."""
    if noise is None:
        noise = [getattr(g.noises, f"noise_{i}") for i in range(g.num_layers)]
    device, full = ws.device, g.dtype
    reduced = compute_dtype(device, full)
    with torch.autocast(device.type, enabled=False):
        ws = ws.to(full)
        first_reduced = g.log_size - NUM_REDUCED_RES + 1  # log2 of the first reduced-precision resolution

        def dtype_at(log_res: int) -> torch.dtype:
            return reduced if log_res >= first_reduced else full

        x = g.input(ws.shape[0]).contiguous(memory_format=CL)  # (B, C4, 4, 4)
        x = styled_conv(g, g.conv1, x, ws[:, 0], noise[0], dtype_at(2))
        skip = to_rgb(g, g.to_rgb1, x, ws[:, 1], None, dtype_at(2))
        i, log_res = 1, 3
        for conv_up, conv, noise1, noise2, rgb in zip(g.convs[::2], g.convs[1::2], noise[1::2], noise[2::2],
                                                      g.to_rgbs):
            dtype = dtype_at(log_res)
            # the up-sampling conv's output feeds a 3×3 conv: NCHW when that runs through NNPACK, else channels_last
            mid = torch.contiguous_format if winograd(device, dtype, conv.conv.weight.shape[2], 2**log_res) else CL
            x = styled_conv(g, conv_up, x, ws[:, i], noise1, dtype, out_format=mid)  # (B, C, 2H, 2W)
            x = styled_conv(g, conv, x, ws[:, i + 1], noise2, dtype)
            skip = to_rgb(g, rgb, x, ws[:, i + 2], skip, dtype)  # (B, 3, 2H, 2W) fp32
            i, log_res = i + 2, log_res + 1
    return skip.contiguous()
