"""Traversals: Euler integration of a path's latent direction field, and the strips, GIFs and MP4s made from it.

From an anchor code w₀ the path is followed both ways: w_{t+1} = w_t ± η u^L_k(w_t), T steps each way; positive
steps move toward the dipole's first sentence. Every step is rendered once (no repeated last shift, no blank
frame). Only the generator and the path set are needed — no CLIP.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from ...generators.base import Generator
from ...media import Traversal, to_uint8
from .artefact import PathSet


@torch.no_grad()
def euler_path(paths, anchor: torch.Tensor, path_index: int, steps: int, step_size: float) -> torch.Tensor:
    """Flat anchors (S, d) → (S, 2T+1, d): T steps of −η·u, the anchor, T steps of +η·u."""
    index = torch.full((anchor.shape[0],), path_index, dtype=torch.long, device=anchor.device)
    sides = []
    for sign in (-1.0, 1.0):
        w, side = anchor, []
        for _ in range(steps):
            w = w + sign * step_size * paths.direction(w, index)
            side.append(w)
        sides.append(side)
    ordered = sides[0][::-1] + [anchor] + sides[1]
    return torch.stack(ordered, dim=1)


def traverse(
    generator: Generator,
    path_set: PathSet,
    path_index: int,
    seeds: Sequence[int],
    steps: int = 8,
    step_size: float = 0.2,
    truncation: float | None = None,
    batch_size: int = 32,
    anchors: torch.Tensor | None = None,
) -> Traversal:
    """Follow path ``path_index`` from one anchor per seed and render every step (batched through G).

    ``anchors`` (S, *latent_shape) in the path set's space, optional: explicit anchor codes (e.g. from a sentence or
    an uploaded image through a mapper) used instead of the seeds' codes; ``seeds`` then only label the rows.
    """
    for t in traverse_iter(generator, path_set, path_index, seeds, steps, step_size, truncation, batch_size,
                           anchors_first=False, anchors=anchors):
        pass
    return t


@torch.no_grad()
def traverse_iter(
    generator: Generator,
    path_set: PathSet,
    path_index: int,
    seeds: Sequence[int],
    steps: int = 8,
    step_size: float = 0.2,
    truncation: float | None = None,
    batch_size: int = 32,
    anchors_first: bool = True,
    anchors: torch.Tensor | None = None,
) -> Iterator[Traversal]:
    """``traverse``, streamed: yields the traversal once the first seed's anchor is rendered, once every anchor
    is, then after each
    further batch of ``batch_size`` frames, nearest steps first (``anchors_first=False``: plain batches in strip
    order). Frames not rendered yet are grey; ``rendered`` counts the others. The last yield is complete
    (``rendered`` None) and is what ``traverse`` returns. Every yield shares one image array, filled in place.
    ``anchors``: as in ``traverse``."""
    if not 0 <= path_index < len(path_set.dipoles):
        raise ValueError(f"path index {path_index} is out of range: this set has {len(path_set.dipoles)} paths")
    view = path_set.view
    truncation = path_set.truncation if truncation is None else truncation
    paths = path_set.lss.to(generator.device)
    if anchors is None:
        anchor = generator.encode(generator.sample_z(list(seeds)), view.space, truncation)  # (S, *shape)
    else:
        if tuple(anchors.shape[1:]) != tuple(view.shape) or len(anchors) != len(seeds):
            raise ValueError(f"anchors of shape {tuple(anchors.shape)} do not fit {len(seeds)} rows of "
                             f"{view.space!r} codes {tuple(view.shape)}")
        anchor = anchors.to(device=generator.device, dtype=generator.dtype)
    flat = euler_path(paths, view.flat(anchor).to(torch.float32), path_index, steps, step_size)  # (S, 2T+1, d)
    s, n = flat.shape[:2]
    full = view.merge(flat.reshape(s * n, -1).to(anchor.dtype), anchor.repeat_interleave(n, dim=0))
    # render order: the first seed's anchor alone (the first picture, one image's latency), the other anchors,
    # then outward from them (|step| = 1, 2, …), every seed at each distance
    if anchors_first:
        order = sorted(range(s * n), key=lambda i: (abs(i % n - steps), i))
        chunks = [order[:1]] + ([order[1:s]] if s > 1 else [])
        chunks += [order[k:k + batch_size] for k in range(s, s * n, batch_size)]
    else:
        chunks = [list(range(k, min(k + batch_size, s * n))) for k in range(0, s * n, batch_size)]
    images: np.ndarray | None = None
    done = 0
    for chunk in chunks:
        rendered = to_uint8(generator.synthesis(full[chunk], view.space))  # (len(chunk), H, W, 3)
        if images is None:
            images = np.full((s * n, *rendered.shape[1:]), 128, dtype=np.uint8)
        images[chunk] = rendered
        done += len(chunk)
        yield Traversal(
            seeds=[int(x) for x in seeds], steps=list(range(-steps, steps + 1)),
            latents=full.reshape(s, n, *full.shape[1:]).cpu(), images=images.reshape(s, n, *images.shape[1:]),
            path_index=path_index, dipole=tuple(path_set.dipoles[path_index]),
            rendered=None if done == s * n else done,
        )



