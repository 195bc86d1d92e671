"""``gpu``: the decorator an event handler that renders wears. On a ZeroGPU Space it is ``spaces.GPU`` (a GPU is
asked for per call, for at most 60 s); elsewhere ``spaces`` is not installed and it is a no-op. ``gpu_for(seconds)``
asks for a longer call (a projection: ``LIMITS["max_projection_s"]`` plus the models' move onto the GPU)."""
from __future__ import annotations

from typing import Callable

try:  # ZeroGPU Spaces: the decorator asks for a GPU per call; elsewhere it is a no-op
    import spaces  # type: ignore[import-not-found]

    gpu: Callable = spaces.GPU

    def gpu_for(seconds: int) -> Callable[[Callable], Callable]:
        return spaces.GPU(duration=int(seconds))
except ImportError:  # pragma: no cover - not installed outside Spaces
    def gpu(fn: Callable) -> Callable:
        return fn

    def gpu_for(seconds: int) -> Callable[[Callable], Callable]:
        return gpu
