"""What a traversal or an edit is shown as: a strip (one row per seed, one column per step), an animated GIF, an MP4,
one image per step. Knows no method: a ``Traversal`` is any (rows × steps) grid of latents and images.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw


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
