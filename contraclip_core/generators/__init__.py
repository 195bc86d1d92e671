"""Generators: the protocol (``base``), the architectures, and loading (``from_pretrained``)."""
from __future__ import annotations

from .base import Generator, seeded_normal
from .loading import from_pretrained, load_folder, save_pretrained

__all__ = ["Generator", "from_pretrained", "load_folder", "save_pretrained", "seeded_normal"]
