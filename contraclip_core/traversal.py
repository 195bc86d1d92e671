"""Traversals: Euler integration of a path's latent direction field, and the strips, GIFs and MP4s made from it.

From an anchor code w₀ the path is followed both ways: w_{t+1} = w_t ± η u^L_k(w_t), T steps each way; positive
steps move toward the dipole's first sentence. Every step is rendered once (no repeated last shift, no blank
frame). Only the generator and the path set are needed — no CLIP.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .generators.base import Generator
from .pathset import PathSet


@dataclass
class Traversal:
    """One path followed from several anchors."""

    seeds: list[int]  # one anchor per seed
    steps: list[int]  # signed step indices, −T … 0 … T (0 is the anchor)
    latents: torch.Tensor  # (S, 2T+1, *latent_shape), on the CPU
    images: np.ndarray  # (S, 2T+1, H, W, 3) uint8
    path_index: int
    dipole: tuple[str, str]  # (toward positive steps, toward negative steps)
    rendered: int | None = None  # frames rendered so far while streaming (the rest are grey); None: all

    @property
    def anchor_column(self) -> int:
        return self.steps.index(0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in ≈[-1, 1] → (B, H, W, 3) uint8."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


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


def strip(traversal: Traversal, thumb: int | None = None, gap: int = 2) -> Image.Image:
    """A grid: one row per seed, one column per step (−T … T), the anchor column framed."""
    images = traversal.images
    s, n, h, w = images.shape[:4]
    size = thumb or w
    canvas = Image.new("RGB", (n * size + (n - 1) * gap, s * size + (s - 1) * gap), (255, 255, 255))
    for i in range(s):
        for j in range(n):
            tile = Image.fromarray(images[i, j])
            if size != w:
                tile = tile.resize((size, size), Image.LANCZOS)
            canvas.paste(tile, (j * (size + gap), i * (size + gap)))
    draw = ImageDraw.Draw(canvas)
    x0 = traversal.anchor_column * (size + gap)
    draw.rectangle([x0, 0, x0 + size - 1, canvas.height - 1], outline=(255, 200, 0), width=2)
    return canvas


def step_frames(traversal: Traversal, thumb: int | None = None, gap: int = 2) -> list[Image.Image]:
    """One image per step (−T … T, in order): that step's image for every seed, side by side — the strip's
    columns, for scrubbing a traversal frame by frame."""
    images = traversal.images
    s, n, h, w = images.shape[:4]
    size = thumb or w
    frames = []
    for j in range(n):
        canvas = Image.new("RGB", (s * size + (s - 1) * gap, size), (255, 255, 255))
        for i in range(s):
            tile = Image.fromarray(images[i, j])
            canvas.paste(tile.resize((size, size), Image.LANCZOS) if size != w else tile, (i * (size + gap), 0))
        frames.append(canvas)
    return frames


def save_frames(traversal: Traversal, stem: str | Path, thumb: int | None = None) -> list[Path]:
    """``step_frames`` as PNGs ``<stem>_stepm03.png … <stem>_stepp00.png … <stem>_stepp03.png``, in step order."""
    stem, paths = Path(stem), []
    for step, image in zip(traversal.steps, step_frames(traversal, thumb)):
        paths.append(stem.parent / f"{stem.name}_step{'m' if step < 0 else 'p'}{abs(step):02d}.png")
        image.save(paths[-1], compress_level=1)  # fast: these are looked at, not archived
    return paths


def gif_frames(traversal: Traversal, thumb: int | None = None, bar_height: int = 10) -> list[np.ndarray]:
    """Frames for the animation: each row is [anchor | traversed] for one seed, a progress bar underneath.

    The sequence goes anchor → +T → −T → anchor, every step once per sweep.
    """
    images = traversal.images
    s, n, h, w = images.shape[:4]
    size = thumb or w
    c = traversal.anchor_column
    order = list(range(c, n)) + list(range(n - 2, -1, -1)) + list(range(1, c))
    tiles = {}
    for i in range(s):
        for j in set(order) | {c}:
            tile = Image.fromarray(images[i, j])
            tiles[i, j] = tile.resize((size, size), Image.LANCZOS) if size != w else tile
    width, height = 2 * size, s * size + bar_height
    width, height = width + width % 2, height + height % 2  # even sizes for video encoders
    frames = []
    for j in order:
        frame = Image.new("RGB", (width, height), (24, 24, 24))
        for i in range(s):
            frame.paste(tiles[i, c], (0, i * size))
            frame.paste(tiles[i, j], (size, i * size))
        draw = ImageDraw.Draw(frame)
        top = s * size + 2
        draw.rectangle([0, top, width - 1, height - 1], fill=(60, 60, 60))
        mid = (width - 1) / 2
        x = (width - 1) * j / max(n - 1, 1)
        draw.rectangle([min(mid, x), top, max(mid, x), height - 1], fill=(255, 170, 0) if j >= c else (80, 160, 255))
        draw.line([mid, top, mid, height - 1], fill=(255, 255, 255))
        frames.append(np.asarray(frame))
    return frames


def save_gif(traversal: Traversal, path: str | Path, fps: float = 12.0, thumb: int | None = None) -> Path:
    import imageio.v3 as iio

    path = Path(path)
    iio.imwrite(path, gif_frames(traversal, thumb), extension=".gif", duration=1000.0 / fps, loop=0)
    return path


def save_mp4(traversal: Traversal, path: str | Path, fps: float = 12.0, thumb: int | None = None) -> Path:
    import imageio

    path = Path(path)
    frames = gif_frames(traversal, thumb)
    imageio.mimwrite(path, frames, fps=fps, codec="libx264", macro_block_size=2, quality=8,
                     ffmpeg_log_level="error", output_params=["-pix_fmt", "yuv420p"])
    return path
