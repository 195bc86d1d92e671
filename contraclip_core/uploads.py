"""Reading a user's uploaded picture safely: size and pixel caps, decoding, square crop, the generator's resolution.

Caps (stated in README.md): at most ``MAX_UPLOAD_BYTES`` (20 MB) on disk and ``MAX_UPLOAD_PIXELS`` (4096 × 4096)
decoded. The pixel count is read from the header *before* decoding, so a decompression bomb (a small file that
decodes to gigapixels) is refused without allocating it; PIL's own bomb check is turned into the same refusal.
Anything that is not an image PIL can decode is refused with one sentence (``UploadError``).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import ContraCLIPError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB
MAX_UPLOAD_SIDE = 4096
MAX_UPLOAD_PIXELS = MAX_UPLOAD_SIDE * MAX_UPLOAD_SIDE  # 16.8 M pixels


class UploadError(ContraCLIPError, ValueError):
    """An upload that cannot be used; the message says why in one sentence."""


def read_image(path: str | Path, resolution: int) -> torch.Tensor:
    """An image file → (1, 3, resolution, resolution) in [-1, 1]: RGB (alpha composited on white), centre-cropped
    to a square, resized with antialiasing. Raises ``UploadError`` for files that are too big, too many pixels, or
    not an image."""
    return square_tensor(open_image(path), resolution)


def square_tensor(rgb: Image.Image, resolution: int) -> torch.Tensor:
    """An RGB picture → (1, 3, resolution, resolution) in [-1, 1], centre-cropped to a square (a no-op for a square
    one) and resized with antialiasing."""
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    square = rgb.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
    x = torch.from_numpy(np.asarray(square, dtype=np.float32) / 127.5 - 1.0)  # (R, R, 3)
    return x.permute(2, 0, 1).unsqueeze(0).contiguous()  # (1, 3, R, R)


def open_image(path: str | Path) -> Image.Image:
    """An image file → an RGB PIL image (alpha composited on white; the first frame of an animation), bounded: an
    ``UploadError`` sentence for files that are too big, decode to too many pixels, or are not an image."""
    path = Path(path)
    if not path.is_file():
        raise UploadError("no image was uploaded (the file is missing)")
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(f"the upload is {size / 2**20:.1f} MB; images up to {MAX_UPLOAD_BYTES // 2**20} MB are "
                          "accepted")
    if size == 0:
        raise UploadError("the upload is an empty file, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size  # from the header: nothing decoded yet
                if width * height > MAX_UPLOAD_PIXELS:
                    raise UploadError(f"the image is {width}×{height} pixels; images up to {MAX_UPLOAD_SIDE}×"
                                      f"{MAX_UPLOAD_SIDE} ({MAX_UPLOAD_PIXELS / 1e6:.1f} M pixels) are accepted")
                im.verify()  # structural check of the file (truncation, bad chunks)
            with Image.open(path) as im:
                im.seek(0)  # the first frame of an animation
                im.load()
                rgba = im.convert("RGBA")
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UploadError(f"the image decodes to too many pixels (limit {MAX_UPLOAD_PIXELS / 1e6:.1f} M): {e}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise UploadError("the upload is not an image that can be read (PNG, JPEG, WebP, GIF or BMP), or it is "
                          "truncated") from e
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")
