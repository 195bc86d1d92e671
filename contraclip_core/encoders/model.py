"""pSp / e4e encoders: an image → the W+ code of a StyleGAN2 generator.

Both put one ``GradualStyleBlock`` head per style input on an IR-SE50 backbone (``irse``), over a small feature
pyramid: the coarse map (1/16 of the input, 512 channels), ``middle`` = bilinear-up(coarse) + 1×1 conv of the
256-channel map (``latlayer1``), ``fine`` = bilinear-up(middle) + 1×1 conv of the 128-channel map (``latlayer2``).
Heads 0–2 read the coarse map, 3–6 the middle one, 7 and up the fine one. A head is ``log2(spatial)`` stride-2 3×3
convs with LeakyReLU(0.01) (spatial 16, 32, 64 for the three levels) and an equalised linear layer.

- ``"psp"`` (Richardson et al. 2021, ``GradualStyleEncoder``): style input i is head i's output.
- ``"e4e"`` (Tov et al. 2021, ``Encoder4Editing``): head 0 gives w₀ and every other head a delta: style input i is
  w₀ + Δᵢ (i ≥ 1), which keeps the code near W where StyleGAN's edits work.

Both then add the generator's average w (``latent_avg``) when trained with ``start_from_latent_avg``, as the authors'
``pSp.forward`` does. Module names are the authors', so the ``encoder.*`` part of their checkpoints loads unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ContraCLIPError
from ..generators.stylegan2 import EqualLinear
from .irse import IRBackbone

KINDS = {"e4e": "Encoder4Editing", "psp": "GradualStyleEncoder"}  # our name → the authors' encoder_type
COARSE, MIDDLE = 3, 7  # heads [0, 3) read the coarse map, [3, 7) the middle one, the rest the fine one


@dataclass
class EncoderConfig:
    kind: str = "e4e"  # "e4e" | "psp"
    num_ws: int = 18  # style inputs of the generator it encodes for: 2·log2(size) − 2
    w_dim: int = 512
    se: bool = True  # IR-SE (squeeze-excitation in every unit); False: plain IR
    input_size: tuple[int, int] = (256, 256)  # (height, width) images are resized to; (192, 256) for e4e's cars
    add_latent_avg: bool = True  # the authors' start_from_latent_avg

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        if self.num_ws < 1:
            raise ValueError(f"num_ws must be ≥ 1, got {self.num_ws}")
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))


class GradualStyleBlock(nn.Module):
    """A feature map of ``spatial``² → one style vector: log2(spatial) stride-2 convs, then an equalised linear."""

    def __init__(self, channels: int, spatial: int):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU()]  # slope 0.01
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(channels, channels)
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.convs(x).reshape(-1, self.channels))


def _upsample_add(x: Tensor, lateral: Tensor) -> Tensor:
    return F.interpolate(x, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class StyleEncoder(nn.Module):
    """The network (``forward``: images at any size ≥ 16 px → W+) and ``encode`` (resize first, as the authors'
    transforms do). The returned code is (B, num_ws, w_dim), ready for ``generator.synthesis(code, "w+")``."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.num_ws, self.w_dim = config.num_ws, config.w_dim
        self.backbone = IRBackbone(se=config.se)
        self.styles = nn.ModuleList(
            GradualStyleBlock(config.w_dim, 16 if i < COARSE else 32 if i < MIDDLE else 64)
            for i in range(config.num_ws)
        )
        self.latlayer1 = nn.Conv2d(256, config.w_dim, 1)
        self.latlayer2 = nn.Conv2d(128, config.w_dim, 1)
        self.register_buffer("latent_avg", torch.zeros(config.num_ws, config.w_dim))

    # The authors' encoders keep input_layer and body at their top level; ours sit in ``backbone``.
    @staticmethod
    def our_key(key: str) -> str:
        return f"backbone.{key}" if key.startswith(("input_layer.", "body.")) else key

    def forward(self, x: Tensor) -> Tensor:
        fine, middle, coarse = self.backbone.features(x)
        levels = [coarse]
        if self.num_ws > COARSE:
            levels.append(_upsample_add(coarse, self.latlayer1(middle)))
        if self.num_ws > MIDDLE:
            levels.append(_upsample_add(levels[1], self.latlayer2(fine)))
        rows = [head(levels[(i >= COARSE) + (i >= MIDDLE)]) for i, head in enumerate(self.styles)]
        if self.config.kind == "e4e":
            rows = [rows[0]] + [rows[0] + delta for delta in rows[1:]]
        codes = torch.stack(rows, dim=1)
        return codes + self.latent_avg if self.config.add_latent_avg else codes

    @property
    def device(self) -> torch.device:
        return self.latent_avg.device

    @property
    def dtype(self) -> torch.dtype:
        return self.latent_avg.dtype

    def encode(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) in [-1, 1] → W+ codes (B, num_ws, w_dim). Images not at ``input_size`` are resized
        (bilinear, antialiased: the authors resize with PIL before encoding)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ContraCLIPError(f"the encoder takes RGB images of shape (B, 3, H, W), got {tuple(images.shape)}")
        if min(images.shape[-2:]) < 16:
            raise ContraCLIPError(f"the image is too small to encode ({images.shape[-2]}×{images.shape[-1]} px)")
        images = images.to(device=self.device, dtype=self.dtype)
        if tuple(images.shape[-2:]) != self.config.input_size:
            images = F.interpolate(images, size=self.config.input_size, mode="bilinear", align_corners=False,
                                   antialias=True)
        return self(images)

    def check_fits(self, generator) -> None:
        """Raise ``ContraCLIPError`` unless the generator takes W+ codes of this encoder's shape."""
        shape = (getattr(generator, "num_ws", 0), getattr(generator, "w_dim", 0))
        if shape != (self.num_ws, self.w_dim):
            raise ContraCLIPError(
                f"this encoder gives W+ codes of {self.num_ws} × {self.w_dim}, but the generator takes "
                f"{shape[0]} × {shape[1]}: use the generator the encoder was trained with (its checkpoint's decoder)."
            )
