"""``gpu``: the decorator an event handler that renders wears. On a ZeroGPU Space it is ``spaces.GPU`` (a GPU is
asked for per call); elsewhere ``spaces`` is not installed and it is a no-op."""
from __future__ import annotations

from typing import Callable

try:  # ZeroGPU Spaces: the decorator asks for a GPU per call; elsewhere it is a no-op
    import spaces  # type: ignore[import-not-found]

    gpu: Callable = spaces.GPU
except ImportError:  # pragma: no cover - not installed outside Spaces
    def gpu(fn: Callable) -> Callable:
        return fn
