"""LPIPS, the learned perceptual distance of Zhang et al. 2018 ("The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric"), version 0.1 on the VGG16 trunk — re-derived from the ``lpips`` package (0.1.4), which is not
imported: it reads its weights with an unrestricted ``torch.load``.

For images x, y in [-1, 1], (B, 3, H, W) with H, W ≥ 16:

    LPIPS(x, y) = Σ_l  mean_{h,w}  Σ_c  w_l,c · (x̂_l − ŷ_l)²,    x̂_l = f_l / (‖f_l‖_c + 1e-10)

where f_l is VGG16's feature at tap l (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3) of the scaled input
(x − SHIFT) / SCALE, ‖·‖_c its norm over channels at each pixel, and w_l ≥ 0 the "lin" weights (a 1×1 convolution
without bias in the package; its dropout is the identity in evaluation).

Weights, read only through ``generators.formats.read_weights`` (safetensors, or ``torch.load(weights_only=True)``):

- the lin weights ship with the project, ``checkpoints/lpips/vgg-lin-v0.1.safetensors`` (6 KB): the package's
  ``lpips/weights/v0.1/vgg.pth`` as vectors (``convert_lin_weights``; BSD-2-Clause, notice in
  ``checkpoints/lpips/LICENSE``);
- the VGG16 trunk is torchvision's ImageNet ``vgg16-397923af.pth`` (528 MB; ``VGG_URL``), found at the path in
  ``$CONTRACLIP_LPIPS_VGG``, else in torch hub's cache (``torch.hub.get_dir()/checkpoints/``), else downloaded into
  that cache (SHA-256 prefix checked) where download.pytorch.org can be reached (a Space). None of these: a
  ``ProjectionError`` sentence naming the file and where to put it (``missing_vgg``).
"""
from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors.torch import save_file
from torch import nn

from ...errors import WeightsError
from ...generators.formats import read_weights
from ...hub import PROJECT_ROOT
from .losses import ProjectionError
from .model import resize

SHIFT = (-0.030, -0.088, -0.188)  # the package's ScalingLayer: (x − shift) / scale, per RGB channel
SCALE = (0.458, 0.448, 0.450)
VGG_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)  # torchvision "D"
TAPS = (3, 8, 15, 22, 29)  # indices in vgg16.features of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
CHANNELS = (64, 128, 256, 512, 512)
MIN_SIZE = 16  # four 2× poolings before relu5_3
MAX_SIZE = 256  # the projection compares larger renders at 256 px
LIN_FILE = PROJECT_ROOT / "checkpoints" / "lpips" / "vgg-lin-v0.1.safetensors"
VGG_NAME = "vgg16-397923af.pth"
VGG_URL = f"https://download.pytorch.org/models/{VGG_NAME}"
VGG_HASH = "397923af"  # the leading hex digits of the file's SHA-256 (torch hub's convention)
VGG_ENV = "CONTRACLIP_LPIPS_VGG"


def vgg16_trunk() -> nn.Sequential:
    """VGG16's convolutional layers up to relu5_3 (torchvision's ``vgg16().features[:30]``, the same indices, so
    its state dict's ``features.*`` entries load), randomly initialised."""
    layers: list[nn.Module] = []
    channels = 3
    for v in VGG_LAYERS:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            channels = int(v)
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """LPIPS v0.1 (VGG): ``net(x, y)`` → (B,), images in [-1, 1]; frozen, in evaluation mode."""

    def __init__(self, trunk: dict[str, torch.Tensor] | None = None, lin: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT).reshape(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).reshape(1, 3, 1, 1))
        self.trunk = vgg16_trunk()
        self.lin = nn.ParameterList([nn.Parameter(torch.zeros(c)) for c in CHANNELS])
        if trunk is not None:
            self.trunk.load_state_dict(checked_trunk(trunk))
        if lin is not None:
            for parameter, weight in zip(self.lin, checked_lin(lin)):
                parameter.data.copy_(weight)
        self.eval().requires_grad_(False)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The unit-normalised features at the five taps, [(B, C_l, H_l, W_l)]."""
        if min(images.shape[-2:]) < MIN_SIZE:
            raise ProjectionError(f"LPIPS compares images of at least {MIN_SIZE} pixels, got "
                                  f"{images.shape[-1]}×{images.shape[-2]}")
        h, taps = (images - self.shift) / self.scale, []
        for i, layer in enumerate(self.trunk):
            h = layer(h)
            if i in TAPS:
                taps.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return taps

    def distance(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS between two lists of ``features`` (rows paired), (B,)."""
        total = a[0].new_zeros(len(a[0]))
        for fa, fb, w in zip(a, b, self.lin):
            total = total + ((fa - fb) ** 2 * w[:, None, None]).sum(1).mean((1, 2))
        return total

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.distance(self.features(x), self.features(y))


def checked_trunk(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision VGG16 weights (``features.N.*`` keys, or the trunk's own ``N.*``) → the trunk's state dict; a
    ``WeightsError`` sentence for a file that is not VGG16's."""
    if not isinstance(state, dict):
        raise WeightsError(f"the VGG16 weights must be a state dict of tensors, not a {type(state).__name__}")
    want = vgg16_trunk().state_dict()
    out = {}
    for key, like in want.items():
        value = state.get(f"features.{key}", state.get(key))
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(like.shape):
            got = "missing" if value is None else f"shaped {tuple(getattr(value, 'shape', ()))}"
            raise WeightsError(f"these are not torchvision's VGG16 weights: features.{key} is {got}, not "
                               f"{tuple(like.shape)}")
        if not torch.isfinite(value).all():
            raise WeightsError(f"the VGG16 weights are damaged: features.{key} holds NaN or infinite values")
        out[key] = value.float()
    return out


def checked_lin(state: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The five lin weight vectors (``lin0`` … ``lin4``, or the package's ``linL.model.1.weight``), non-negative."""
    out = []
    for i, c in enumerate(CHANNELS):
        value = state.get(f"lin{i}", state.get(f"lin{i}.model.1.weight")) if isinstance(state, dict) else None
        if not isinstance(value, torch.Tensor) or value.numel() != c:
            raise WeightsError(f"these are not LPIPS VGG lin weights: lin{i} must hold {c} values")
        if not torch.isfinite(value).all() or (value < 0).any():
            raise WeightsError(f"the LPIPS lin weights are damaged: lin{i} holds negative, NaN or infinite values")
        out.append(value.float().reshape(c))
    return out


def convert_lin_weights(package_file: str | Path, out: str | Path = LIN_FILE) -> Path:
    """The ``lpips`` package's ``weights/v0.1/vgg.pth`` (read with weights_only) → our safetensors file."""
    lin = checked_lin(read_weights(package_file))
    save_file({f"lin{i}": w.contiguous() for i, w in enumerate(lin)}, str(out),
              metadata={"source": "lpips 0.1.4, lpips/weights/v0.1/vgg.pth", "license": "BSD-2-Clause"})
    return Path(out)


def vgg_cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG_NAME


def missing_vgg() -> str:
    return (f"LPIPS is not available here: torchvision's VGG16 weights {VGG_NAME} are not on this machine and "
            f"{urlparse(VGG_URL).hostname} cannot be reached; put the file in {vgg_cache_path().parent} or set "
            f"${VGG_ENV} to its path")


def reachable(url: str | None = None, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``url``'s host (None: ``VGG_URL``'s) opens within ``timeout`` s."""
    host = urlparse(url or VGG_URL)
    try:
        socket.create_connection((host.hostname or "", host.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def vgg_path() -> Path:
    """Where the VGG16 weights are: ``$CONTRACLIP_LPIPS_VGG``, torch hub's cache, or downloaded into that cache."""
    named = os.environ.get(VGG_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ProjectionError(f"${VGG_ENV} names {named!r}, which is not a file; point it at torchvision's "
                                  f"{VGG_NAME} or unset it")
        return path
    path = vgg_cache_path()
    if path.is_file():
        return path
    if not reachable():
        raise ProjectionError(missing_vgg())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(VGG_URL, str(path), hash_prefix=VGG_HASH, progress=False)
    except (OSError, RuntimeError) as e:  # RuntimeError: the hash did not match (the partial file is removed)
        raise ProjectionError(f"{missing_vgg()} (the download failed: {type(e).__name__})") from e
    return path


@lru_cache(maxsize=2)
def cached_lpips(vgg: str, device: str) -> LPIPS:
    if not LIN_FILE.is_file():
        raise ProjectionError(f"LPIPS is not available here: its lin weights {LIN_FILE.relative_to(PROJECT_ROOT)} "
                              "are missing from the project; restore the file from the repository")
    return LPIPS(read_weights(vgg), read_weights(LIN_FILE)).to(device)


def load_lpips(device: torch.device | str = "cpu", vgg: str | Path | None = None) -> LPIPS:
    """LPIPS with its weights (``vgg``: the VGG16 file; None: ``vgg_path()``), kept for the next call."""
    return cached_lpips(str(Path(vgg) if vgg is not None else vgg_path()), str(torch.device(device)))


class LpipsLoss:
    """LPIPS of renders against their pictures, per image; pictures larger than ``MAX_SIZE`` are compared at
    ``MAX_SIZE`` (antialiased bilinear), and the pictures' features are computed once per size."""

    def __init__(self, net: LPIPS, targets: torch.Tensor):
        self.net, self.targets, self.target_features = net, targets, {}

    def __call__(self, images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """images (N, 3, s, s) in [-1, 1] and, per image, the row of its picture (N,) → (N,)."""
        size = min(images.shape[-1], MAX_SIZE)
        if size not in self.target_features:
            with torch.no_grad():
                self.target_features[size] = self.net.features(resize(self.targets, size))
        target = [f[rows] for f in self.target_features[size]]
        return self.net.distance(self.net.features(resize(images, size)), target)
