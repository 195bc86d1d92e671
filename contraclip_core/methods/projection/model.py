"""The projection's trainable model: a batch of latent codes (and, for StyleGAN2, optionally its per-layer noise
maps) held as parameters, with how it is rendered.

Several starts per picture are optimised side by side (rows ``i·starts … i·starts + starts − 1`` belong to picture
``i``); ``keep_best`` narrows the batch to one code per picture after the search phase.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...generators.base import Generator, seeded_normal
from .losses import ProjectionError

NOISE_SPACES = ("w", "w+")  # per-layer noise is optimised only with a style code (StyleGAN2)


def default_space(generator: Generator) -> str:
    """W+ where the generator has it (StyleGAN2), W where it has a single style input (Shapes), Z otherwise."""
    return "w+" if "w+" in generator.spaces else ("w" if "w" in generator.spaces else "z")


def has_noise_inputs(generator: Generator) -> bool:
    """Whether the generator exposes per-layer noise maps that can be optimised (StyleGAN2)."""
    return callable(getattr(generator, "noise_inputs", None)) and callable(getattr(generator, "synthesis_with_noise",
                                                                                   None))


@torch.no_grad()
def mean_code(generator: Generator, space: str) -> torch.Tensor:
    """The generator's centre in ``space``, (1, *shape): w̄ in W and W+, the origin of Z."""
    if space == "z":
        return torch.zeros(1, generator.z_dim, device=generator.device)
    w = generator.w_avg().float().reshape(1, -1).to(generator.device)
    return w if space == "w" else w[:, None, :].repeat(1, generator.num_ws, 1)


@torch.no_grad()
def prior_spread(generator: Generator, space: str, n: int = 256, seed: int = 7_000_003) -> torch.Tensor:
    """Per-coordinate standard deviation of prior codes in ``space`` (1, *shape): the scale of the search's jitter."""
    z = seeded_normal(range(seed, seed + n), generator.z_dim).to(generator.device, generator.dtype)
    codes = generator.encode(z, space).float()
    return codes.std(0, keepdim=True)


class LatentCode(nn.Module):
    """Codes (N, *shape) of ``space`` as one parameter, and per-layer noise maps (N, 1, r, r) as parameters when
    ``noise`` is on."""

    def __init__(self, generator: Generator, space: str, codes: torch.Tensor, noise: bool = False):
        super().__init__()
        generator.check_space(space)
        self.space = space
        self.code = nn.Parameter(codes.detach().float().clone())
        self.noise = nn.ParameterList()
        if noise:
            if space not in NOISE_SPACES or not has_noise_inputs(generator):
                raise ProjectionError(f"{type(generator).__name__} has no per-layer noise to optimise in {space!r}")
            for n in generator.noise_inputs():  # (1, 1, r, r) each
                self.noise.append(nn.Parameter(n.detach().float().repeat(len(codes), 1, 1, 1)))

    def render(self, generator: Generator, size: int | None = None, offset: torch.Tensor | None = None) -> torch.Tensor:
        """The codes' images (N, 3, s, s), s = ``size`` (drawn at that size when the generator can, else resized with
        antialiasing) or the generator's resolution; ``offset`` (N, *shape): render the codes shifted by it."""
        code = self.code if offset is None else self.code + offset
        if len(self.noise):
            ws = code if self.space == "w+" else code[:, None, :].repeat(1, generator.num_ws, 1)
            image = generator.synthesis_with_noise(ws, list(self.noise))
        elif size is not None and size < generator.resolution:
            image = generator.synthesis_for(code, self.space, size)
        else:
            image = generator.synthesis(code, self.space)
        return resize(image.float(), size)

    @torch.no_grad()
    def keep_best(self, scores: torch.Tensor, starts: int, k: int = 1) -> torch.Tensor:
        """Keep, per picture, the ``k`` starts with the lowest scores (N,), best first; returns the rows kept (B·k,)
        of the N."""
        best = scores.reshape(-1, starts).topk(min(k, starts), dim=1, largest=False).indices  # (B, k)
        rows = (torch.arange(len(best), device=best.device)[:, None] * starts + best).reshape(-1)
        self.code = nn.Parameter(self.code.data[rows].clone())
        self.noise = nn.ParameterList([nn.Parameter(n.data[rows].clone()) for n in self.noise])
        return rows

    def noise_regulariser(self) -> torch.Tensor:
        """StyleGAN2's projector's noise regulariser (Karras et al. 2020, Appendix D): squared autocorrelation of
        each noise map at shifts of one pixel, over a pyramid down to 8 px; (N,)."""
        total = self.code.new_zeros(len(self.code))
        for n in self.noise:
            while True:
                total = total + (n * torch.roll(n, 1, dims=3)).mean((1, 2, 3)) ** 2
                total = total + (n * torch.roll(n, 1, dims=2)).mean((1, 2, 3)) ** 2
                if n.shape[-1] <= 8:
                    break
                n = F.avg_pool2d(n, 2)
        return total

    @torch.no_grad()
    def normalise_noise(self) -> None:
        """Keep each noise map at zero mean and unit variance (the projector's habit)."""
        for n in self.noise:
            mean = n.mean((1, 2, 3), keepdim=True)
            std = n.std((1, 2, 3), keepdim=True).clamp_min(1e-8)
            n.sub_(mean).div_(std)


def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Images (B, 3, H, W) → (B, 3, size, size), bilinear with antialiasing; unchanged when already that size."""
    if size is None or images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
