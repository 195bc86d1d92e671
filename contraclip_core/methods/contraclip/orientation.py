"""The orientation check every ContraCLIP training ends with: does each path's + direction move the image toward
its dipole's first sentence, as CLIP sees it? If not, the path is flipped (its direction field exactly negated).

Nothing in training ties a path's sign to its dipole beyond the objective, and some objectives can lose the contrast
between the two poles (docs/PATHS.md: the PAE objective sent 2 of 33 ContraCLIP runs backwards). The check asks the
training's own CLIP, with the training's own dipole texts, nothing else (no ground truth): from ``ANCHORS`` fixed
anchors (drawn from their own seed, never an evaluation's), each path is followed ``STEPS`` Euler steps of η both
ways (``traversal.euler_path``, as a user traverses it), both ends are rendered and embedded, and

    movement = mean over anchors of [s(+end) − s(−end)],  s(img) = cos(E_I(img), t⁺) − cos(E_I(img), t⁻)

(unit embeddings). A path with movement < 0 goes the wrong way and is flipped; its movement is then −movement.
The record also keeps the share of anchors that move forward once the check is done (``forward_anchors``): near
1 the orientation is clear; near ½ CLIP barely sees the path move along its dipole (a weak path, which a flip does
not mend — docs/PATHS.md has the measured cases).

Flipping is exact per path kind (``flip``):

- ``LinearPaths``: the direction is normalise(v) (then lifted by the whitening's L, a linear map): negating v
  negates every step bit for bit (a norm, a division and a matrix product are odd in v exactly in IEEE arithmetic).
- ``LatentSupportSets``: the field is f(x) = Σ_i α_i exp(−γ‖x − s_i‖²), with α = (+1, −1, +1, −1, …) one buffer
  shared by all paths. Negating path k's α negates its gradient; with α shared, the same field is had by
  swapping the two support vectors of each of path k's pairs (s_{2i} ↔ s_{2i+1}): the same terms with opposite
  signs, summed in another order — equal up to float round-off (~1e-7 relative), no new tensor, the file format
  unchanged.
  γ_k is untouched.

``CorpusSupportSets`` (the CLIP-space dipoles) is no path and is never flipped.
"""
from __future__ import annotations

from typing import Any

import torch

from ...clip import ClipModel
from ...generators.base import Generator
from .model import LatentSupportSets, LatentView, LinearPaths
from .traversal import euler_path

ANCHORS = 16  # fixed anchors per check
STEPS = 4  # Euler steps each way
ANCHOR_SEED = 20_261_205  # the anchors' own seed (no evaluation draws from it)


def flip(paths: LatentSupportSets | LinearPaths, index: int) -> None:
    """Negate path ``index``'s direction field in place (see the module docstring for why this is exact)."""
    if not 0 <= index < paths.num_paths:
        raise ValueError(f"path index {index} is out of range: this set has {paths.num_paths} paths")
    with torch.no_grad():
        if isinstance(paths, LinearPaths):
            paths.directions[index].neg_()
        elif isinstance(paths, LatentSupportSets):
            alpha = paths.alpha
            if not torch.equal(alpha[0::2], -alpha[1::2]):
                raise ValueError("support-set weights are not in opposite pairs (+α, −α); this path cannot be "
                                 "flipped by swapping its pairs")
            s = paths.support_sets[index]  # (2D, d)
            s.copy_(s.view(-1, 2, s.shape[-1]).flip(1).reshape_as(s))
        else:
            raise TypeError(f"cannot flip paths of type {type(paths).__name__}")


@torch.no_grad()
def movements(paths: LatentSupportSets | LinearPaths, view: LatentView, generator: Generator, clip: ClipModel,
              positive: torch.Tensor, negative: torch.Tensor, truncation: float, step_size: float,
              anchors: int = ANCHORS, steps: int = STEPS) -> list[torch.Tensor]:
    """Per path: each anchor's CLIP-space movement along its dipole from the −end to the +end of a traversal (the
    module docstring's formula before the mean), (anchors,). ``positive``/``negative``: (K, E) text embeddings of
    the dipoles' sentences."""
    g = generator
    z = torch.randn(anchors, g.z_dim, generator=torch.Generator().manual_seed(ANCHOR_SEED))
    anchor = g.encode(z.to(g.device, g.dtype), view.space, truncation)
    flat = view.flat(anchor).float()
    t_pos = torch.nn.functional.normalize(positive.float(), dim=-1).to(g.device)
    t_neg = torch.nn.functional.normalize(negative.float(), dim=-1).to(g.device)
    out = []
    for k in range(paths.num_paths):
        moved = euler_path(paths, flat, k, steps, step_size)  # (S, 2T+1, d)
        ends = torch.cat([moved[:, 0], moved[:, -1]])  # the −ends, then the +ends
        full = view.merge(ends.to(anchor.dtype), anchor.repeat(2, *([1] * (anchor.ndim - 1))))
        e = clip.encode_images(g.synthesis_for(full, view.space, clip.image_size), normalize=True).float()
        score = e @ t_pos[k] - e @ t_neg[k]  # (2S,)
        out.append((score[anchors:] - score[:anchors]).cpu())
    return out


def orient(paths: LatentSupportSets | LinearPaths, view: LatentView, generator: Generator, clip: ClipModel,
           positive: torch.Tensor, negative: torch.Tensor, truncation: float, step_size: float,
           anchors: int = ANCHORS, steps: int = STEPS) -> list[dict[str, Any]]:
    """Check every path and flip those that go the wrong way; returns what ``paths.json`` records per path
    (``metrics["orientation"]``): checked, the movement as trained, whether it was flipped, the share of anchors
    that move forward after the check, and the check's settings."""
    found = movements(paths, view, generator, clip, positive, negative, truncation, step_size, anchors, steps)
    records = []
    for k, per_anchor in enumerate(found):
        movement = float(per_anchor.mean())
        flipped = movement < 0
        if flipped:
            flip(paths, k)
        forward = float(((-per_anchor if flipped else per_anchor) > 0).float().mean())
        records.append({"checked": True, "movement": round(movement, 6), "flipped": flipped,
                        "forward_anchors": round(forward, 4), "anchors": anchors, "steps": steps,
                        "step_size": step_size})
    return records


def record_of(metrics: dict[str, Any], index: int) -> dict[str, Any] | None:
    """Path ``index``'s orientation record in a path set's metrics; None for a set trained before the check (its
    ``paths.json`` has no such field) or a record that does not hold it."""
    records = metrics.get("orientation")
    if not isinstance(records, list) or not 0 <= index < len(records) or not isinstance(records[index], dict):
        return None
    return records[index]
