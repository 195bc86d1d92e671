"""Anchors: a latent code a visitor made (from a sentence, a picture, a projection or an encoder) that a traversal
or an edit starts from instead of the seeds. Shared by every method that makes or reads one; knows no method.

An anchor is a small file ``<outputs>/anchors/<id>.safetensors`` (``latent`` (1, *shape); the generator and space
in the safetensors metadata) beside its render ``<outputs>/anchor_<id>.png``. The app passes only the id (16 random
hex digits: whoever holds it made it), and the code is checked again whenever it is read: the generator it was made
for, the space's shape, finite values. The anchors folder is never served; ``export`` writes a copy to download.
Anchors are swept with the other outputs (``LIMITS["output_ttl_s"]``).
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable

import torch

from .artefact import same_generator
from .generators.base import Generator
from .inputs import ServiceError

FOLDER = "anchors"


class AnchorStore:
    """The anchors under ``outputs``; ``generator(name)`` gives the loaded generator a code is checked against."""

    def __init__(self, outputs: Path, generator: Callable[[str], Generator]):
        self.outputs = Path(outputs)
        self.folder = self.outputs / FOLDER
        self.generator = generator

    def path(self, anchor_id: Any) -> Path:
        """The file of ``anchor_id``; a ``ServiceError`` for an id that is not one of ours or is gone."""
        anchor_id = str(anchor_id).strip()
        path = self.folder / f"{anchor_id}.safetensors"
        if not anchor_id or len(anchor_id) > 64 or any(c not in "0123456789abcdef" for c in anchor_id) \
                or not path.is_file():
            raise ServiceError(f"unknown anchor {anchor_id[:64]!r} (anchors are kept for an hour): make it again")
        return path

    def save(self, generator: str, space: str, latent: torch.Tensor, image: torch.Tensor,
             metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """Store one code (1, *shape) and its render (1, 3, R, R) in [-1, 1]: {"anchor", "image" (PNG path),
        "space", "latent" (flat list)}. ``metadata``: further plain strings kept with it (e.g. how it was made)."""
        import io

        from PIL import Image
        from safetensors.torch import save

        from .atomic import atomic_write_bytes
        from .media import to_uint8

        anchor_id = uuid.uuid4().hex[:16]
        png, buffer = self.outputs / f"anchor_{anchor_id}.png", io.BytesIO()
        Image.fromarray(to_uint8(image)[0]).save(buffer, format="PNG")
        atomic_write_bytes(png, buffer.getvalue())  # the picture first: a code on disk always has its picture
        atomic_write_bytes(self.folder / f"{anchor_id}.safetensors",
                           save({"latent": latent.detach().float().cpu().contiguous()},
                                metadata={**(metadata or {}), "generator": generator, "space": space}))
        return {"anchor": anchor_id, "image": str(png), "space": space, "latent": latent.flatten().tolist()}

    def load(self, generator: str, anchor_id: Any) -> tuple[torch.Tensor, str]:
        """A stored anchor → (code (1, *shape), space); refused unless it was made for ``generator``."""
        from safetensors import safe_open

        path = self.path(anchor_id)
        anchor_id = path.stem
        try:
            with safe_open(str(path), "pt") as f:
                meta, latent = f.metadata() or {}, f.get_tensor("latent")
        except Exception as e:  # noqa: BLE001 - a damaged file is a message, not a crash
            raise ServiceError(f"the anchor {anchor_id!r} cannot be read ({type(e).__name__}); make it again") from e
        if not same_generator(meta.get("generator", ""), generator):
            raise ServiceError(f"the anchor {anchor_id!r} was made for {meta.get('generator')!r}, not {generator!r}")
        g = self.generator(generator)
        space = meta.get("space", "")
        if space not in g.spaces or tuple(latent.shape[1:]) != tuple(g.latent_shape(space)) or len(latent) != 1 \
                or not torch.isfinite(latent).all():
            raise ServiceError(f"the anchor {anchor_id!r} does not hold one {generator} code; make it again")
        return latent, space

    def in_space(self, generator: str, anchor_id: Any, space: str) -> torch.Tensor:
        """A stored anchor as a code of ``space`` (1, *shape): as it is, W → W+ by repeating the style, Z → W/W+
        through the mapping network; other directions cannot be taken and are refused with a sentence."""
        latent, own = self.load(generator, anchor_id)
        if own == space:
            return latent
        g = self.generator(generator)
        with torch.no_grad():
            if own == "w" and space == "w+":
                return latent.unsqueeze(1).repeat(1, g.num_ws, 1)
            if own == "z":
                return g.encode(latent.to(g.device, g.dtype), space).cpu()
        raise ServiceError(f"this anchor is a {own!r} code and the path lives in {space!r}; there is no way back "
                           "from that space: pick a path of the anchor's space or start from a seed")

    def export(self, generator: str, anchor_id: Any) -> Path:
        """A copy of the anchor's code to download, ``<outputs>/code_<generator>_<id>.safetensors`` (readable by
        ``python -m contraclip_core project``'s ``load_code`` and by safetensors anywhere)."""
        import shutil

        self.load(generator, anchor_id)  # checked: ours, this generator's
        path = self.path(anchor_id)
        slug = "".join(c if c.isalnum() or c == "-" else "-" for c in generator)[:60]
        out = self.outputs / f"code_{slug}_{path.stem}.safetensors"
        shutil.copyfile(path, out)
        return out
