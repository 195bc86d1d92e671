"""The embedded Shapes world: a differentiable procedural "GAN" with exact ground truth (DESIGN.md §5).

z (B, 32) ~ N(0, I) → a fixed, seeded, non-linear mapping MLP → w (B, 32) → linear heads → whitened head outputs
h (B, 12) → attributes (shape blend, size, position, rotation, colour, background) → a soft signed-distance-field
rasteriser → image (B, 3, H, W) in [-1, 1]. Every step is plain torch and differentiable in z and w.

Because the mapping MLP is non-linear, attributes are entangled non-linearly in Z; in W each attribute is a fixed
monotone function of one linear direction (the heads), as in a well-behaved StyleGAN W space.

Coordinates: the image spans [-1, 1] in both axes; x grows to the right, y grows **downwards** (image rows), so
y = -1 is the top edge. Lengths are in the same units (half the image side).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import WeightsError
from .base import Generator

SHAPES = ("circle", "square", "triangle")
NUM_HEADS = 12  # 3 shape logits, size, x, y, rotation, 2 for hue, saturation, value, background
# Head rows: what each whitened output drives.
_SHAPE, _SIZE, _X, _Y, _ROT, _HUE, _SAT, _VAL, _BG = slice(0, 3), 3, 4, 5, 6, slice(7, 9), 9, 10, 11
# The head each scalar attribute grows with (hue is the angle of heads 7 (sine) and 8 (cosine)).
HEADS = {"shape_circle": 0, "shape_square": 1, "shape_triangle": 2, "size": 3, "x": 4, "y": 5, "rotation": 6,
         "saturation": 9, "value": 10, "bg_lightness": 11}
HUE_HEADS = (7, 8)


@dataclass
class ShapesConfig:
    z_dim: int = 32  # size of z
    w_dim: int = 32  # size of w
    resolution: int = 128  # output height and width in pixels
    mapping_layers: int = 4  # linear layers of the mapping MLP z → w
    mapping_width: int = 64  # hidden width of the mapping MLP
    seed: int = 0  # seed of the mapping/head weights (and of the normalisation samples)
    shape_sharpness: float = 12.0  # softmax temperature⁻¹ of the shape blend; higher → purer shapes
    size_min: float = 0.13  # smallest size (radius of the equal-area circle, half-image units)
    size_max: float = 0.40  # largest size
    position_range: float = 0.55  # centres lie in [-position_range, position_range] on both axes
    saturation_bias: float = 0.8  # saturation = sigmoid(saturation_gain · h + saturation_bias): sets how many greys
    saturation_gain: float = 1.5  # see saturation_bias
    value_min: float = 0.7  # foreground HSV value range (kept above the background so shapes stay visible)
    value_max: float = 1.0  # see value_min
    bg_min: float = 0.0  # background grey level range, in [0, 1]
    bg_max: float = 0.45  # see bg_min
    edge_softness: float = 0.35  # anti-aliasing ramp of the SDF, in pixels
    normalisation_samples: int = 20000  # z samples used to fit the head whitening and w_avg


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def hsv_to_rgb(hue: torch.Tensor, sat: torch.Tensor, val: torch.Tensor) -> torch.Tensor:
    """HSV → RGB, differentiable. hue in radians, sat/val in [0, 1]; inputs (B,), output (B, 3) in [0, 1]."""
    h6 = torch.remainder(hue, 2 * math.pi) / (math.pi / 3)  # (B,) in [0, 6)
    n = torch.tensor([5.0, 3.0, 1.0], device=hue.device, dtype=hue.dtype)  # R, G, B
    k = torch.remainder(n + h6[:, None], 6.0)  # (B, 3)
    ramp = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)  # (B, 3)
    return val[:, None] - val[:, None] * sat[:, None] * ramp


def _sdf_box(p: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Signed distance to an axis-aligned square. p (B, H, W, 2), half (B, 1, 1) → (B, H, W)."""
    d = p.abs() - half[..., None]  # (B, H, W, 2)
    outside = torch.clamp(d, min=0.0).norm(dim=-1)
    inside = torch.clamp(d.amax(dim=-1), max=0.0)
    return outside + inside


def _sdf_triangle(p: torch.Tensor, half_side: torch.Tensor) -> torch.Tensor:
    """Signed distance to an equilateral triangle centred on its centroid, one vertex up (−y).

    Inigo Quilez's exact formula, written with ``torch.where`` so it stays batched and differentiable.
    p (B, H, W, 2), half_side (B, 1, 1) → (B, H, W).
    """
    k = math.sqrt(3.0)
    px = p[..., 0].abs() - half_side
    py = -p[..., 1] + half_side / k  # flip y: the formula is written y-up
    fold = px + k * py > 0.0
    px, py = torch.where(fold, (px - k * py) / 2.0, px), torch.where(fold, (-k * px - py) / 2.0, py)
    px = px - torch.clamp(px, min=-2.0 * half_side, max=torch.zeros_like(half_side))
    return -torch.sqrt(px * px + py * py + 1e-12) * torch.sign(py)


class ShapesGenerator(Generator):
    """G: z (B, 32) → w (B, 32) → one soft shape on a grey background, (B, 3, H, W) in [-1, 1].

    Build new weights with :meth:`build` (seeded, reproducible); load shipped ones with
    ``from_pretrained("shapes-128")``.
    """

    arch: ClassVar[str] = "shapes"
    config_class: ClassVar[type] = ShapesConfig
    supports_wplus: ClassVar[bool] = False

    def __init__(self, config: ShapesConfig) -> None:
        super().__init__()
        self.config = config
        self.z_dim, self.w_dim, self.num_ws, self.resolution = config.z_dim, config.w_dim, 1, config.resolution
        g = torch.Generator(device="cpu").manual_seed(int(config.seed))
        dims = [config.z_dim] + [config.mapping_width] * (config.mapping_layers - 1) + [config.w_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            linear = nn.Linear(d_in, d_out)
            with torch.no_grad():
                gain = math.sqrt(2.0 / (1.0 + 0.2**2))  # Kaiming gain for LeakyReLU(0.2)
                linear.weight.copy_(torch.randn(d_out, d_in, generator=g) * gain / math.sqrt(d_in))
                linear.bias.copy_(torch.randn(d_out, generator=g) * 0.5)
            layers.append(linear)
            if i < len(dims) - 2:
                layers.append(nn.LeakyReLU(0.2))
        self.mapping_net = nn.Sequential(*layers)
        self.heads = nn.Linear(config.w_dim, NUM_HEADS)
        with torch.no_grad():
            q, _ = torch.linalg.qr(torch.randn(config.w_dim, NUM_HEADS, generator=g))  # orthonormal columns
            self.heads.weight.copy_(q.T)
            self.heads.bias.zero_()
        # Filled by fit_normalisation() (and by the weights file): whitening of head outputs, mean w.
        self.register_buffer("head_mean", torch.zeros(NUM_HEADS))
        self.register_buffer("head_whiten", torch.eye(NUM_HEADS))
        self.register_buffer("w_mean", torch.zeros(config.w_dim))
        self.register_buffer("w_std", torch.ones(config.w_dim))
        self.register_buffer("w_average", torch.zeros(config.w_dim))

    # --- building the weights ---------------------------------------------------------------------------------------
    @classmethod
    def build(cls, config: ShapesConfig | None = None) -> ShapesGenerator:
        """New weights from ``config.seed``: seeded MLP and heads, then statistics fitted on seeded samples."""
        model = cls(config or ShapesConfig())
        model.fit_normalisation()
        return model.eval().requires_grad_(False)

    @torch.no_grad()
    def fit_normalisation(self) -> None:
        """Standardise w and whiten the head outputs over ``normalisation_samples`` seeded z codes."""
        c = self.config
        g = torch.Generator(device="cpu").manual_seed(int(c.seed) + 1)
        z = torch.randn(c.normalisation_samples, c.z_dim, generator=g).to(self.w_mean)
        raw = self.mapping_net(z)  # (N, w_dim)
        self.w_mean.copy_(raw.mean(0))
        self.w_std.copy_(raw.std(0))
        w = (raw - self.w_mean) / self.w_std
        self.w_average.copy_(w.mean(0))
        h = self.heads(w)  # (N, 12)
        self.head_mean.copy_(h.mean(0))
        cov = torch.cov((h - self.head_mean).T)  # (12, 12)
        evals, evecs = torch.linalg.eigh(cov)
        self.head_whiten.copy_(evecs @ torch.diag(evals.clamp_min(1e-8).rsqrt()) @ evecs.T)  # ZCA

    # --- loader hooks -------------------------------------------------------------------------------------------------
    @classmethod
    def convert_state_dict(cls, obj: Any, layout: str, source: str) -> Any:
        """Only our own layout exists for the Shapes world."""
        if layout != "ours":
            raise WeightsError(f"{source}: the Shapes world has no foreign layout {layout!r}; only 'ours' exists")
        return obj

    @staticmethod
    def after_conversion(model: ShapesGenerator) -> None:
        """Nothing to fix after loading our own layout."""

    # --- Generator protocol ----------------------------------------------------------------------------------------
    # The Shapes world is a few small matmuls and elementwise maths: it runs in its own dtype under any autocast
    # (in fp16 the rasteriser's 1e-12 guards flush to zero and its backward turns NaN).
    def _map(self, z: torch.Tensor) -> torch.Tensor:
        with torch.autocast(z.device.type, enabled=False):
            return (self.mapping_net(z.to(self.dtype)) - self.w_mean) / self.w_std  # (B, w_dim)

    def w_avg(self) -> torch.Tensor:
        return self.w_average

    def _synthesize_ws(self, ws: torch.Tensor) -> torch.Tensor:
        return self.render(self._attributes_from_w(ws[:, 0]))  # ws (B, 1, w_dim)

    def synthesis_for(self, latent: torch.Tensor, space: str, size: int) -> torch.Tensor:
        """What CLIP sees at ``size`` px, drawn at that size (¼ of the pixels at 64 px) instead of drawn at full size
        and resized: the edge ramp is widened to what the anti-aliased bilinear resize makes of it (``edge_softness_at``),
        so the two agree to ~1e-3 per pixel on average and their CLIP embeddings to 1 − cos ≈ 4e-4 (tests)."""
        if size >= self.resolution:
            return self.synthesis(latent, space)
        attrs = self._attributes_from_w(self._w(latent, space))
        return self.render(attrs, resolution=size, edge_softness=self.edge_softness_at(size))

    def edge_softness_at(self, size: int) -> float:
        """The edge ramp (logistic scale, in output pixels) of a full-size render resized to ``size`` px.

        The resize (bilinear, anti-aliased, factor f) convolves with a tent one output pixel wide on each side,
        sampled at input pixels: variance 1/6 + 1/(12 f²) output px². A logistic ramp of scale s has variance
        π² s² / 3. Variances add; the result is returned as a logistic scale.
        """
        f = self.resolution / size
        var = (math.pi * self.config.edge_softness / f) ** 2 / 3.0 + 1.0 / 6.0 + 1.0 / (12.0 * f * f)
        return math.sqrt(3.0 * var) / math.pi

    def head_direction(self, move: torch.Tensor) -> torch.Tensor:
        """The unit w direction along which the whitened heads move as ``move`` (12,) does, and the heads' other
        directions not at all (minimum norm): the ground-truth path for an attribute, for reference."""
        heads = self.head_whiten @ self.heads.weight  # (12, w_dim): whitened head outputs per unit of w
        d = torch.linalg.pinv(heads) @ move.to(heads)
        return d / d.norm().clamp_min(1e-12)

    # --- attributes -------------------------------------------------------------------------------------------------
    def _attributes_from_w(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast(w.device.type, enabled=False):  # see _map
            return self._attributes(w.to(self.dtype))

    def _attributes(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        h = (self.heads(w) - self.head_mean) @ self.head_whiten.T  # (B, 12), ≈ N(0, I) over the prior
        logits = c.shape_sharpness * h[:, _SHAPE]  # (B, 3)
        shape, log_shape = torch.softmax(logits, dim=-1), torch.log_softmax(logits, dim=-1)
        return {
            "shape_circle": shape[:, 0],
            "shape_square": shape[:, 1],
            "shape_triangle": shape[:, 2],
            "log_shape_circle": log_shape[:, 0],
            "log_shape_square": log_shape[:, 1],
            "log_shape_triangle": log_shape[:, 2],
            "size": c.size_min + (c.size_max - c.size_min) * _normal_cdf(h[:, _SIZE]),
            "x": c.position_range * (2.0 * _normal_cdf(h[:, _X]) - 1.0),
            "y": c.position_range * (2.0 * _normal_cdf(h[:, _Y]) - 1.0),
            "rotation": 2.0 * math.pi * _normal_cdf(h[:, _ROT]),
            "hue": torch.remainder(torch.atan2(h[:, _HUE][:, 0], h[:, _HUE][:, 1]), 2.0 * math.pi),
            "saturation": torch.sigmoid(c.saturation_gain * h[:, _SAT] + c.saturation_bias),
            "value": c.value_min + (c.value_max - c.value_min) * _normal_cdf(h[:, _VAL]),
            "bg_lightness": c.bg_min + (c.bg_max - c.bg_min) * _normal_cdf(h[:, _BG]),
        }

    def attributes(self, latent: torch.Tensor, space: str = "z") -> dict[str, torch.Tensor]:
        """The exact ground-truth attributes of the images ``synthesis(latent, space)`` draws; each (B,).

        - ``shape_circle``, ``shape_square``, ``shape_triangle``: softmax weights of the blended signed-distance
          fields, summing to 1; the drawn shape is the SDF blend, so the argmax names it.
        - ``log_shape_circle``, ``log_shape_square``, ``log_shape_triangle``: their logarithms (log-softmax of the
          same logits), exact where the weights themselves round to 0 or 1 in float32 (most images: the blend is
          nearly binary), so a change of shape is ordered even where the weights cannot show it.
        - ``size``: radius of the circle with the same area as the (unblended) shape, in half-image units
          (the image is 2 wide), in [size_min, size_max].
        - ``x``, ``y``: centre of the shape in [-1, 1] image coordinates; x = -1 is the left edge, y = -1 the top.
        - ``rotation``: rotation of the shape about its centre, radians in [0, 2π), clockwise on screen.
        - ``hue``: foreground HSV hue, radians in [0, 2π) (0 = red, 2π/3 = green, 4π/3 = blue).
        - ``saturation``: foreground HSV saturation in [0, 1] (near 0 = grey).
        - ``value``: foreground HSV value (brightness) in [value_min, value_max].
        - ``bg_lightness``: grey level of the background in [bg_min, bg_max] (0 = black, 1 = white).
        """
        return self._attributes_from_w(self._w(latent, space))

    def _w(self, latent: torch.Tensor, space: str) -> torch.Tensor:
        """A Z or W code (B, 32) as w (B, w_dim), on this generator's device and dtype."""
        self.check_space(space)
        latent = latent.to(device=self.device, dtype=self.dtype)
        return self._map(latent) if space == "z" else latent

    # --- rasteriser -------------------------------------------------------------------------------------------------
    def render(self, attrs: dict[str, torch.Tensor], resolution: int | None = None,
               edge_softness: float | None = None) -> torch.Tensor:
        """Soft-SDF rasteriser: attributes (each (B,)) → image (B, 3, H, W) in [-1, 1], anti-aliased; H = W =
        ``resolution`` (default: the generator's), edge ramp ``edge_softness`` pixels (default: the config's)."""
        res = resolution or self.resolution
        size = attrs["size"]  # (B,)
        coords = (torch.arange(res, device=size.device, dtype=size.dtype) + 0.5) * (2.0 / res) - 1.0  # pixel centres
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")  # (H, W)
        dx = gx[None] - attrs["x"][:, None, None]  # (B, H, W)
        dy = gy[None] - attrs["y"][:, None, None]
        cos, sin = torch.cos(attrs["rotation"])[:, None, None], torch.sin(attrs["rotation"])[:, None, None]
        # Rotate the frame by −rotation so the shape appears rotated by +rotation (clockwise on screen, y down).
        p = torch.stack((cos * dx + sin * dy, -sin * dx + cos * dy), dim=-1)  # (B, H, W, 2)
        s = size[:, None, None]  # (B, 1, 1)
        sdf_circle = p.norm(dim=-1) - s  # (B, H, W)
        sdf_square = _sdf_box(p, s * (math.sqrt(math.pi) / 2.0))  # equal area: (2a)² = π s²
        sdf_triangle = _sdf_triangle(p, s * math.sqrt(math.pi / math.sqrt(3.0)))  # equal area: √3 a² = π s²
        sdf = (
            attrs["shape_circle"][:, None, None] * sdf_circle
            + attrs["shape_square"][:, None, None] * sdf_square
            + attrs["shape_triangle"][:, None, None] * sdf_triangle
        )  # (B, H, W)
        pixel = 2.0 / res
        softness = self.config.edge_softness if edge_softness is None else edge_softness
        alpha = torch.sigmoid(-sdf / (softness * pixel))[:, None]  # (B, 1, H, W)
        fg = hsv_to_rgb(attrs["hue"], attrs["saturation"], attrs["value"])[:, :, None, None]  # (B, 3, 1, 1)
        bg = attrs["bg_lightness"][:, None, None, None]  # (B, 1, 1, 1)
        image = bg + alpha * (fg - bg)  # (B, 3, H, W) in [0, 1]
        return image * 2.0 - 1.0
