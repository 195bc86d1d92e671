"""Training where a Space runs on ZeroGPU: the GPU exists only inside a visitor's request.

ZeroGPU lends a GPU to a function decorated with ``spaces.GPU(duration=…)`` for the length of one call made by a
Gradio request; a background thread never gets one, and would train a real generator's dipole on the CPU for hours.
So there, a job advances in chunks: each is a request of the job's owner (their open job card, or the "continue on
GPU" button) that trains for ``LIMITS['gpu_chunk_s']`` seconds on the GPU, resuming from the job's checkpoint and
leaving one (``Service.train_chunk``). When the visitor's GPU quota is used up, ZeroGPU refuses the call; the refusal
becomes a sentence on the job's card and the job simply waits for the next chunk.

Knows no method, and no Gradio: the UI wraps what ``chunk_runner`` returns in an event.
"""
from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any, Callable

from .inputs import LIMITS

if TYPE_CHECKING:
    from .service import Service
    from .visitors import Visitor

QUOTA_WORDS = ("quota", "no gpu was available", "illegal duration")  # what ZeroGPU's refusals say


def available() -> bool:
    """Whether this process runs on ZeroGPU (the ``spaces`` package is installed and the Space says so)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true") and \
        importlib.util.find_spec("spaces") is not None


def is_quota_error(error: BaseException) -> bool:
    """A refusal by ZeroGPU (quota used up, no GPU free, a duration over the tier's cap) rather than a failure of
    the training itself, e.g. "You have exceeded your GPU quota (60s requested vs. 56s left)"."""
    text = f"{type(error).__name__} {getattr(error, 'title', '')} {error}".lower()
    return any(word in text for word in QUOTA_WORDS)


def chunk_runner(service: "Service", seconds: float | None = None, gpu: Callable[..., Any] | None = None,
                 device: str | None = None) -> Callable[[str, "Visitor"], dict[str, Any]]:
    """``continue_on_gpu(job_id, visitor)``: one chunk of the visitor's job on a ZeroGPU GPU; the job's row after
    it. ``gpu``: the decorator factory (default ``spaces.GPU``; tests pass a stand-in that records the calls);
    ``device``: default "cuda" where torch sees one (on ZeroGPU it does), else the CPU."""
    seconds = seconds or LIMITS["gpu_chunk_s"]
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if gpu is None:
        import spaces  # type: ignore[import-not-found]

        gpu = spaces.GPU

    @gpu(duration=int(seconds) + 10)  # the chunk, plus moving the models onto the GPU and the last checkpoint
    def run(job_id: str, visitor: "Visitor") -> dict[str, Any]:
        return service.train_chunk(job_id, visitor, seconds, device=device)

    def continue_on_gpu(job_id: str, visitor: "Visitor") -> dict[str, Any]:
        try:
            return run(job_id, visitor)
        except Exception as e:  # noqa: BLE001 - only ZeroGPU's refusals are a wait; anything else is raised
            if not is_quota_error(e):
                raise
            reason = str(e).split("<")[0].strip() or "ZeroGPU refused the GPU"
            service.note(job_id, f"waiting for GPU time: {reason}. The job keeps its progress and goes on with "
                                 "the next chunk (keep this page open, or press Continue on GPU later).")
            return service.job(job_id, visitor)

    return continue_on_gpu
