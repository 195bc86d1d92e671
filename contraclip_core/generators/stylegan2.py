"""StyleGAN2 (config-f and any smaller variant) in plain PyTorch.

Module and parameter names follow rosinality/stylegan2-pytorch, so its ``g_ema`` state dicts load unchanged; what
we add is a ``w_avg`` buffer (the truncation centre, from the checkpoint's ``latent_avg``). Modulated convolutions
run in one of two ways, chosen per call:

- ``"activations"`` (default): scale the input activations by the style, run one ordinary convolution for the whole
  batch, scale the outputs by the demodulation coefficients. Same maths, no per-sample weights.
- ``"grouped"``: rosinality's reference way — build a modulated weight per sample and run a grouped convolution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from . import fast_ops
from .base import Generator
from .formats import unwrap_rosinality
from .ops import make_kernel, upfirdn2d

SQRT2 = math.sqrt(2.0)


def default_channels(size: int, channel_multiplier: int) -> dict[str, int]:
    """rosinality's resolution → channels table (4…32 → 512, 64 → 256·m, …, 1024 → 16·m)."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {str(res): ch for res, ch in table.items() if res <= size}


@dataclass
class StyleGAN2Config:
    size: int = 1024  # output resolution (a power of two ≥ 8)
    style_dim: int = 512  # size of w (and of z and the mapping layers unless z_dim / mapping_width say otherwise)
    n_mlp: int = 8  # depth of the mapping network
    channel_multiplier: int = 2  # 2 for config-f
    blur_kernel: list[int] = field(default_factory=lambda: [1, 3, 3, 1])  # FIR taps for up-sampling
    lr_mlp: float = 0.01  # equalised-lr multiplier of the mapping network
    channels: dict[str, int] | None = None  # resolution (as str) → channels; None = the config-f table
    conv_clamp: float | None = None  # NVIDIA StyleGAN2-ADA: clamp conv/toRGB outputs to ±conv_clamp (None: never)
    # NVIDIA StyleGAN2-ADA lets z and the mapping layers differ from w (z_dim, layer_features): the mapping network
    # is z_dim → mapping_width → … → mapping_width → style_dim. None: style_dim (rosinality's, every official model).
    z_dim: int | None = None
    mapping_width: int | None = None

    def __post_init__(self) -> None:
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"size must be a power of two ≥ 8, got {self.size}")
        if self.n_mlp < 1:
            raise ValueError(f"n_mlp must be ≥ 1, got {self.n_mlp}")
        for name in ("style_dim", "z_dim", "mapping_width"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.channels is None:
            self.channels = default_channels(self.size, self.channel_multiplier)
        self.channels = {str(k): int(v) for k, v in self.channels.items()}
        missing = [2**i for i in range(2, int(math.log2(self.size)) + 1) if str(2**i) not in self.channels]
        if missing:
            raise ValueError(f"channels has no entry for resolution(s) {missing}")


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """leaky_relu(x + bias, 0.2) · √2, bias broadcast over channel dim 1."""
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), 0.2) * SQRT2


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights scaled at run time)."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    def __init__(self, kernel: list[int], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor**2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel: list[int], factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor**2)
        p = len(kernel) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    impl = "activations"  # or "grouped"; set on the instance or via StyleGAN2Generator.set_impl

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, blur_kernel: list[int] = (1, 3, 3, 1)):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(list(blur_kernel), pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.impl == "grouped":
            return self._forward_grouped(x, style)
        b = x.shape[0]
        style = self.modulation(style)  # (B, in)
        weight = self.scale * self.weight[0]  # (out, in, k, k)
        x = x * style.view(b, -1, 1, 1)
        if self.upsample:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            x = self.blur(x)
        else:
            x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # Σ_{in,k,k} (w · s)² = (s²) @ Σ_{k,k} w²ᵀ  → (B, out)
            dcoefs = torch.rsqrt(style.square() @ weight.square().sum((2, 3)).t() + 1e-8)
            x = x * dcoefs.view(b, -1, 1, 1)
        return x

    def _forward_grouped(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k, out = self.kernel_size, self.out_channel
        style = self.modulation(style).view(b, 1, c, 1, 1)
        weight = self.scale * self.weight * style  # (B, out, in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, out, 1, 1, 1)
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * c, out, k, k)
            x = F.conv_transpose2d(x, weight, stride=2, groups=b)
            x = self.blur(x.view(b, out, x.shape[2], x.shape[3]))
            return x
        x = F.conv2d(x, weight.reshape(b * out, c, k, k), padding=self.padding, groups=b)
        return x.view(b, out, h, w)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: list[int] = (1, 3, 3, 1), clamp: float | None = None):
        super().__init__()
        self.clamp = clamp
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = self.activate(self.noise(self.conv(x, style), noise))
        return x if self.clamp is None else x.clamp(-self.clamp, self.clamp)


class ToRGB(nn.Module):
    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True, blur_kernel: list[int] = (1, 3, 3, 1),
                 clamp: float | None = None):
        super().__init__()
        self.clamp = clamp
        if upsample:
            self.upsample = Upsample(list(blur_kernel))
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if self.clamp is not None:
            out = out.clamp(-self.clamp, self.clamp)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class StyleGAN2Generator(Generator):
    """StyleGAN2 generator; ``num_ws = 2·log2(size) − 2`` style inputs (18 at 1024, 16 at 512)."""

    arch = "stylegan2"
    config_class = StyleGAN2Config

    def __init__(self, config: StyleGAN2Config):
        super().__init__()
        self.config = config
        self.w_dim = config.style_dim
        self.z_dim = config.z_dim or config.style_dim
        self.resolution = config.size
        ch = {int(k): v for k, v in config.channels.items()}
        blur = list(config.blur_kernel)
        clamp = None if config.conv_clamp is None else float(config.conv_clamp)
        width = config.mapping_width or config.style_dim
        dims = [self.z_dim] + [width] * (config.n_mlp - 1) + [config.style_dim]
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(d_in, d_out, lr_mul=config.lr_mlp, activation=True) for d_in, d_out in zip(dims, dims[1:])],
        )
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, config.style_dim, blur_kernel=blur, clamp=clamp)
        self.to_rgb1 = ToRGB(ch[4], config.style_dim, upsample=False, clamp=clamp)
        self.log_size = int(math.log2(config.size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            res = (layer_idx + 5) // 2
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, 2**res, 2**res))
        in_channel = ch[4]
        for i in range(3, self.log_size + 1):
            out_channel = ch[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, config.style_dim, upsample=True, blur_kernel=blur,
                                         clamp=clamp))
            self.convs.append(StyledConv(out_channel, out_channel, 3, config.style_dim, blur_kernel=blur, clamp=clamp))
            self.to_rgbs.append(ToRGB(out_channel, config.style_dim, blur_kernel=blur, clamp=clamp))
            in_channel = out_channel
        self.num_ws = self.log_size * 2 - 2
        self.register_buffer("latent_avg", torch.zeros(config.style_dim))
        self.impl = "fast"  # how synthesis runs; see set_impl

    # --- conversion from rosinality checkpoints -------------------------------------------------------------------
    @classmethod
    def convert_state_dict(cls, obj: Any, layout: str, source: str) -> dict[str, torch.Tensor]:
        if layout == "nvidia":
            from .nvidia_layout import nvidia_to_ours

            return nvidia_to_ours(obj, source)
        if layout not in ("rosinality", "ours"):
            raise WeightsError(f"{source}: StyleGAN2 reads the 'rosinality' and 'nvidia' layouts, not {layout!r}")
        state, latent_avg = unwrap_rosinality(obj, source)
        state = {k: v.float() for k, v in state.items() if k != "latent_avg"}
        if latent_avg is not None:
            state["latent_avg"] = latent_avg.float()
        elif "latent_avg" not in state:
            state["latent_avg"] = torch.full_like(state.get("style.1.bias", torch.zeros(1)), float("nan"))
        return state

    @staticmethod
    @torch.no_grad()
    def after_conversion(model: "StyleGAN2Generator") -> None:
        """Checkpoints without ``latent_avg``: estimate it as the mean w over 10,000 seeded z (as rosinality's
        ``mean_latent`` does at run time, but once and reproducibly)."""
        if torch.isnan(model.latent_avg).any():
            z = torch.randn(10_000, model.z_dim, generator=torch.Generator().manual_seed(0))
            model.latent_avg.copy_(torch.cat([model._map(c) for c in z.split(1000)]).mean(0))

    IMPLS = ("fast", "activations", "grouped")

    def set_impl(self, impl: str) -> "StyleGAN2Generator":
        """Choose how synthesis runs: ``"fast"`` (default: ``fast_ops.synthesize``), or the module forwards with
        modulated convolutions as ``"activations"`` (scale activations) or ``"grouped"`` (rosinality's reference)."""
        if impl not in self.IMPLS:
            raise ValueError(f"impl must be one of {list(self.IMPLS)}, got {impl!r}")
        self.impl = impl
        for m in self.modules():
            if isinstance(m, ModulatedConv2d):
                m.impl = "activations" if impl == "fast" else impl
        return self

    # --- protocol ---------------------------------------------------------------------------------------------------
    def _map(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)

    def w_avg(self) -> torch.Tensor:
        return self.latent_avg

    def _synthesize_ws(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """ws (B, num_ws, w_dim) → image (B, 3, size, size). Uses the fixed noise buffers unless noise is given."""
        if self.impl == "fast":
            return fast_ops.synthesize(self, ws, noise)
        return self._module_forwards(ws, noise)

    def noise_inputs(self) -> list[torch.Tensor]:
        """The fixed per-layer noise maps every render uses, (1, 1, r, r) each, in layer order."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def synthesis_with_noise(self, ws: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        """ws (B, num_ws, w_dim) and one noise map per layer, (B or 1, 1, r, r), → image (B, 3, size, size);
        differentiable in both (a projection optimises them). Runs the module forwards: the fast path's per-sample
        convolutions share one noise map across the batch."""
        if len(noise) != self.num_layers:
            raise ValueError(f"this generator has {self.num_layers} noise inputs, got {len(noise)}")
        return self._module_forwards(ws.to(device=self.device, dtype=self.dtype), noise)

    def _module_forwards(self, ws: torch.Tensor, noise: list[torch.Tensor] | None) -> torch.Tensor:
        if noise is None:
            noise = self.noise_inputs()
        x = self.input(ws.shape[0])  # (B, C4, 4, 4)
        x = self.conv1(x, ws[:, 0], noise[0])
        skip = self.to_rgb1(x, ws[:, 1])
        i = 1
        for conv_up, conv, noise1, noise2, to_rgb in zip(
            self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs
        ):
            x = conv_up(x, ws[:, i], noise1)  # (B, C, 2H, 2W)
            x = conv(x, ws[:, i + 1], noise2)
            skip = to_rgb(x, ws[:, i + 2], skip)  # (B, 3, 2H, 2W)
            i += 2
        return skip
