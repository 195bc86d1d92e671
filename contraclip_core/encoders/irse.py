"""The IR-SE50 backbone of pSp and e4e (an ArcFace ResNet: "improved residual" units with squeeze-excitation).

Module names and indices are those of the authors' ``models/encoders/helpers.py`` and of their encoders'
``input_layer`` / ``body``, so their state dicts load unchanged:

- ``input_layer``: 3×3 conv (no bias) → BatchNorm → PReLU, 64 channels, full resolution;
- ``body.{i}`` (24 units): ``res_layer`` = BatchNorm → 3×3 conv → PReLU → 3×3 conv (the unit's stride) → BatchNorm
  → squeeze-excitation (``ir_se``; absent in ``ir``), plus a shortcut: a 1×1 strided conv → BatchNorm when the width
  changes, else a stride-``s`` sub-sampling (their ``MaxPool2d(1, s)``);
- stages of 3, 4, 14 and 3 units at 64, 128, 256 and 512 channels, each starting with stride 2.

``features`` returns the outputs of units 6, 20 and 23 (the last unit of the 128-, 256- and 512-channel stages):
maps at 1/4, 1/8 and 1/16 of the input size, the fine, middle and coarse features of the style heads.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

# IR-50: (input width, width, units); each stage's first unit has stride 2.
STAGES_50 = ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3))
TAPS = (6, 20, 23)  # units whose outputs feed the heads (fine, middle, coarse)


def units(stages=STAGES_50) -> list[tuple[int, int, int]]:
    """(in_channels, out_channels, stride) of every unit."""
    out = []
    for in_c, depth, count in stages:
        out += [(in_c, depth, 2)] + [(depth, depth, 1)] * (count - 1)
    return out


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate = self.fc2(self.fc1(F.adaptive_avg_pool2d(x, 1)).relu()).sigmoid()
        return x * gate


class Subsample(nn.Module):
    """Their ``MaxPool2d(1, stride)``: a 1×1 max-pool is plain sub-sampling."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x


class IRUnit(nn.Module):
    def __init__(self, in_c: int, depth: int, stride: int, se: bool):
        super().__init__()
        if in_c == depth:
            self.shortcut_layer = Subsample(stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_c, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        layers = [nn.BatchNorm2d(in_c), nn.Conv2d(in_c, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                  nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth)]
        self.res_layer = nn.Sequential(*layers, *([SqueezeExcite(depth)] if se else []))

    def forward(self, x: Tensor) -> Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRBackbone(nn.Module):
    """``input_layer`` + ``body``; ``features(x)`` → (fine, middle, coarse) feature maps."""

    def __init__(self, se: bool = True, input_nc: int = 3):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(input_nc, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                         nn.PReLU(64))
        self.body = nn.Sequential(*[IRUnit(i, o, s, se) for i, o, s in units()])

    def features(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.input_layer(x)
        taps = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in TAPS:
                taps.append(x)
        fine, middle, coarse = taps
        return fine, middle, coarse
