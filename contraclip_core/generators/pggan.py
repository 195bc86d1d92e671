"""Progressive GAN (Karras et al. 2018) generator in the genforce layout, at its final level of detail.

Parameter names follow genforce's ``PGGANGenerator`` (``layer{i}``, ``output{j}``, ``lod``), so its state dicts load
unchanged. Only the Z space exists: z is pixel-normalised, reshaped to (B, z, 1, 1), and a 4×4 "convolution" with
padding 3 plays the role of the dense first layer. Every block pixel-normalises its input first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from .base import Generator
from .formats import unwrap_genforce

INIT_RES = 4


@dataclass
class PGGANConfig:
    resolution: int = 1024  # output resolution (a power of two, 8…1024)
    z_space_dim: int = 512  # size of z
    image_channels: int = 3  # RGB
    final_tanh: bool = False  # apply tanh to the output (genforce's CelebA-HQ weights: False)
    fused_scale: bool = False  # up-sample + conv fused into a transposed conv
    use_wscale: bool = True  # equalised learning rate (weights scaled at run time)
    fmaps_base: int = 16384  # channels at resolution r are min(fmaps_base // r, fmaps_max)
    fmaps_max: int = 512

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two ≥ 8, got {self.resolution}")
        if self.image_channels != 3:
            raise ValueError("only RGB generators (image_channels = 3) are supported")


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class ConvBlock(nn.Module):
    """pixel norm → (nearest ×2 up-sampling) → conv with equalised lr → leaky ReLU 0.2 (or linear)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1,
                 upsample: bool = False, fused_scale: bool = False, use_wscale: bool = True,
                 wscale_gain: float = math.sqrt(2.0), linear: bool = False):
        super().__init__()
        self.upsample = upsample and not fused_scale
        self.transposed = upsample and fused_scale
        self.stride, self.padding = (2, 1) if self.transposed else (1, padding)
        shape = (in_channels, out_channels) if self.transposed else (out_channels, in_channels)
        wscale = wscale_gain / math.sqrt(kernel_size * kernel_size * in_channels)
        self.weight = nn.Parameter(torch.randn(*shape, kernel_size, kernel_size) * (1.0 if use_wscale else wscale))
        self.wscale = wscale if use_wscale else 1.0
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        weight = self.weight * self.wscale
        if self.transposed:
            # A 3×3 kernel becomes 4×4 by summing its four shifted copies: up-sampling folded into the conv.
            weight = F.pad(weight, (1, 1, 1, 1))
            weight = weight[:, :, 1:, 1:] + weight[:, :, :-1, 1:] + weight[:, :, 1:, :-1] + weight[:, :, :-1, :-1]
            x = F.conv_transpose2d(x, weight, self.bias, stride=self.stride, padding=self.padding)
        else:
            x = F.conv2d(x, weight, self.bias, stride=self.stride, padding=self.padding)
        return x if self.linear else F.leaky_relu(x, 0.2)


class PGGANGenerator(Generator):
    arch = "pggan"
    config_class = PGGANConfig

    def __init__(self, config: PGGANConfig):
        super().__init__()
        self.config = config
        self.z_dim, self.w_dim, self.num_ws = config.z_space_dim, 0, 0
        self.resolution = config.resolution
        self.num_blocks = int(math.log2(config.resolution)) - int(math.log2(INIT_RES)) + 1
        self.register_buffer("lod", torch.zeros(()))
        for block in range(self.num_blocks):
            res = INIT_RES * 2**block
            if block == 0:
                first = ConvBlock(config.z_space_dim, self.channels(res), kernel_size=INIT_RES, padding=INIT_RES - 1,
                                  use_wscale=config.use_wscale)
            else:
                first = ConvBlock(self.channels(res // 2), self.channels(res), upsample=True,
                                  fused_scale=config.fused_scale, use_wscale=config.use_wscale)
            self.add_module(f"layer{2 * block}", first)
            self.add_module(f"layer{2 * block + 1}",
                            ConvBlock(self.channels(res), self.channels(res), use_wscale=config.use_wscale))
            self.add_module(f"output{block}", ConvBlock(self.channels(res), config.image_channels, kernel_size=1,
                                                        padding=0, use_wscale=config.use_wscale, wscale_gain=1.0,
                                                        linear=True))

    def channels(self, res: int) -> int:
        return min(self.config.fmaps_base // res, self.config.fmaps_max)

    @classmethod
    def convert_state_dict(cls, obj: Any, layout: str, source: str) -> dict[str, torch.Tensor]:
        if layout not in ("genforce", "ours"):
            raise WeightsError(f"{source}: ProgGAN reads the 'genforce' layout, not {layout!r}")
        state = {k: v.float() for k, v in unwrap_genforce(obj, source).items()}
        if "lod" in state and float(state["lod"]) != 0.0:
            raise WeightsError(
                f"{source}: lod = {float(state['lod'])} — this is a generator in the middle of progressive "
                "training; only fully grown generators (lod 0) are supported."
            )
        return state

    @staticmethod
    def after_conversion(model: "PGGANGenerator") -> None:
        pass

    def _synthesize_z(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z).view(z.shape[0], self.z_dim, 1, 1)  # (B, z, 1, 1)
        for block in range(self.num_blocks):
            x = getattr(self, f"layer{2 * block}")(x)
            x = getattr(self, f"layer{2 * block + 1}")(x)  # (B, C, 4·2^block, 4·2^block)
        image = getattr(self, f"output{self.num_blocks - 1}")(x)
        return torch.tanh(image) if self.config.final_tanh else image
