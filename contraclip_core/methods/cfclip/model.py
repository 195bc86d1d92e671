"""The text-conditioned latent mapper of CF-CLIP, re-derived from the paper and its code's layout.

For each style input l of the latent code (one for Z/W, ``num_ws`` for W+):
  text mapper_l: CLIP text embedding t (T,) → PixelNorm → 4 equalised-LR linear layers (lr multiplier 0.01,
  leaky ReLU) → m_l (D,);
  fuse (shared over layers): [w_l, m_l] (2D) → one equalised linear layer → f_l (D,);
then StyleCLIP's levels mapper: one 4-layer MLP (PixelNorm first) for the coarse layers 0–3, one for the medium
4–7, one for the fine 8+ (one level when there is a single style input) → residual Δw_l.
Optional terms beside them (not in CF-CLIP; docs/EDITS.md says why): a linear text → residual map (``text_skip``) and
a text-gated linear map of the code, U·diag(G·t)·Vᵀ·w (``gate_rank`` R), both zero at start.
The edit is w′ = w + s·λ·Δw, λ = ``residual_scale`` (0.1 in the authors' code), s ∈ [0, 1] the strength the app
exposes (s = 1 is what was trained).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...clip import ClipModel, cached_text_embeddings


TEXT_INPUTS = ("embedding", "direction", "offset")


def text_input(targets: torch.Tensor, source: torch.Tensor, kind: str) -> torch.Tensor:
    """What the mapper reads for target embeddings (N, E) and the source class's (1, E), both template-averaged:
    "embedding" t̄ (the authors'), "direction" n(t̄ − t̄_source), or "offset" t̄ − t̄_source unnormalised: a
    three-factor sentence's offset is close to the sum of its factors' one-factor offsets (in the Shapes CLIP,
    least-squares coefficients 1.0–1.2), where normalising shrinks each factor's share as factors are added."""
    if kind == "embedding":
        return targets
    if kind == "direction":
        return F.normalize(targets - source, dim=-1)
    if kind == "offset":
        return targets - source
    raise ValueError(f"text input must be one of {TEXT_INPUTS}, got {kind!r}")


def text_table(clip: ClipModel, sentences: list[str], templates: list[str]) -> torch.Tensor:
    """Each sentence's template-averaged normalised text embedding, (N, E) (the mean itself is not renormalised): the
    text the mapper is conditioned on (training, the rivals and keep tables, and a loaded ``EditSet``)."""
    flat = [t.format(s) for s in sentences for t in templates]
    e = F.normalize(cached_text_embeddings(clip, flat).float(), dim=-1)  # (N·M, E)
    return e.view(len(sentences), len(templates), -1).mean(1)


@dataclass
class MapperConfig:
    latent_dim: int  # D: size of one style vector (w_dim; z_dim in Z)
    text_dim: int  # size of the CLIP text embedding
    num_layers: int  # style inputs the mapper edits: num_ws in W+, 1 in Z and W
    depth: int = 4  # linear layers per text mapper and per level mapper
    lr_mul: float = 0.01  # equalised learning-rate multiplier of every linear layer
    residual_scale: float = 0.1  # λ in w′ = w + λ·Δw
    coarse_end: int = 4  # layers [0, coarse_end) are coarse
    medium_end: int = 8  # [coarse_end, medium_end) medium, the rest fine
    text_skip: bool = False  # add a linear text → residual term (zero at start) beside the fused MLP path
    skip_lr_mul: float = 0.01  # lr multiplier of that linear term
    gate_rank: int = 0  # R > 0: add a text-gated linear map of the code, U·diag(G·t)·Vᵀ·w (zero at start; lr
    #                     multiplier skip_lr_mul, like the skip)

    def levels(self) -> list[range]:
        """Which style inputs each level mapper owns (a single level when there are few layers)."""
        if self.num_layers <= self.coarse_end:
            return [range(self.num_layers)]
        bounds = [0, self.coarse_end, min(self.medium_end, self.num_layers), self.num_layers]
        return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class PixelNorm(nn.Module):
    """x / sqrt(mean(x²) + 1e-8) over the last dimension."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights stored as N(0, 1)/lr_mul, scaled by lr_mul/√in at run
    time, so Adam's step size is the same for every layer and ``lr_mul`` slows this layer down. Optional leaky ReLU
    (slope 0.2) with gain √2, as StyleGAN2's fused_lrelu."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0, activation: bool = True, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim)) if bias else None
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale, None if self.bias is None else self.bias * self.lr_mul)
        return F.leaky_relu(out, 0.2) * math.sqrt(2.0) if self.activation else out


def mlp(in_dim: int, out_dim: int, depth: int, lr_mul: float) -> nn.Sequential:
    """PixelNorm, then ``depth`` equalised linear layers with leaky ReLU (the first maps in_dim → out_dim)."""
    layers: list[nn.Module] = [PixelNorm()]
    for i in range(depth):
        layers.append(EqualLinear(in_dim if i == 0 else out_dim, out_dim, lr_mul=lr_mul))
    return nn.Sequential(*layers)


class TextConditionedMapper(nn.Module):
    """(latent codes, text embedding) → latent residual, one forward pass for any code and any sentence."""

    def __init__(self, config: MapperConfig, seed: int = 0):
        super().__init__()
        self.config = config
        c = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.text_mappers = nn.ModuleList(mlp(c.text_dim, c.latent_dim, c.depth, c.lr_mul)
                                              for _ in range(c.num_layers))
            self.fuse = EqualLinear(2 * c.latent_dim, c.latent_dim, lr_mul=c.lr_mul)
            self.level_mappers = nn.ModuleList(mlp(c.latent_dim, c.latent_dim, c.depth, c.lr_mul)
                                               for _ in c.levels())
            if c.text_skip:
                # Δw_skip = A·t, one matrix per style input, zero at start; the fused path starts silent too
                # (its last layer's weights zeroed), so training starts from the identity edit.
                self.text_skip = nn.ModuleList(EqualLinear(c.text_dim, c.latent_dim, lr_mul=c.skip_lr_mul,
                                                           activation=False) for _ in range(c.num_layers))
                with torch.no_grad():
                    for skip in self.text_skip:
                        skip.weight.zero_()
                    for level in self.level_mappers:
                        level[-1].weight.zero_()
            if c.gate_rank > 0:
                # Δw_gate = U·diag(G·t)·Vᵀ·w per style input: a linear map of the code chosen by the sentence, so
                # "toward the middle" (a pull whose sign depends on where the code is) is one term, and sentences
                # whose offsets add give maps that add. G starts at zero: the term starts silent.
                def gate_part(i: int, o: int) -> nn.ModuleList:
                    return nn.ModuleList(EqualLinear(i, o, lr_mul=c.skip_lr_mul, activation=False, bias=False)
                                         for _ in range(c.num_layers))

                self.gate_in = gate_part(c.latent_dim, c.gate_rank)
                self.gate_text = gate_part(c.text_dim, c.gate_rank)
                self.gate_out = gate_part(c.gate_rank, c.latent_dim)
                with torch.no_grad():
                    for gate in self.gate_text:
                        gate.weight.zero_()

    def residual(self, codes: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """codes (B, L, D) and text embeddings (B, T) or (1, T) → Δw (B, L, D), before the scale λ."""
        b, num_layers, _ = codes.shape
        if num_layers != self.config.num_layers:
            raise ValueError(f"the mapper edits {self.config.num_layers} style inputs, got codes with {num_layers}")
        text = text.to(codes).expand(b, -1)  # (B, T)
        mapped = torch.stack([m(text) for m in self.text_mappers], dim=1)  # (B, L, D)
        fused = self.fuse(torch.cat([codes, mapped], dim=-1))  # (B, L, D)
        parts = [mapper(fused[:, level.start : level.stop]) for mapper, level in
                 zip(self.level_mappers, self.config.levels())]
        out = torch.cat(parts, dim=1)  # (B, L, D)
        if self.config.text_skip:
            out = out + torch.stack([skip(text) for skip in self.text_skip], dim=1)
        if self.config.gate_rank > 0:
            out = out + torch.stack([o(g(text) * i(codes[:, l])) for l, (i, g, o) in
                                     enumerate(zip(self.gate_in, self.gate_text, self.gate_out))], dim=1)
        return out

    def forward(self, codes: torch.Tensor, text: torch.Tensor, strength: float | torch.Tensor = 1.0) -> torch.Tensor:
        """The edited codes w + strength·λ·Δw, (B, L, D)."""
        return codes + strength * self.config.residual_scale * self.residual(codes, text)
