"""glibc's malloc, tuned for a generator's large activations on the CPU.

By default glibc serves every block over its mmap threshold (128 KiB, rising to at most 32 MiB) with a fresh
``mmap`` and hands it back to the OS when freed, and trims the heap's free top above twice that. A StyleGAN2 layer's
activations are 16–270 MB, so each one is page-faulted in again on every image: on the free CPU tier's 2 cores the
naive path ran 1.2–1.7× faster with the thresholds raised (docs/PERFORMANCE.md). Raising both thresholds keeps freed
blocks in the process for the next image. The price is resident memory: it stays at the peak of the largest render
instead of falling back between renders (`bench/malloc_check.py`, 2026-12-01: after four 1024-px images at once
the process keeps 2.14 GB tuned, 0.98 GB with glibc's defaults; peaks 2.20 and 1.94 GB).

Process-wide, so only entry points call :func:`tune` (the app, the CLI, the bench), never an import. Does nothing
where the C library is not glibc, or when ``CONTRACLIP_MALLOC=default``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from contextlib import contextmanager
from typing import Iterator

ENV = "CONTRACLIP_MALLOC"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap and are reused
TRIM_THRESHOLD = 1 << 30  # up to 1 GiB of free heap is kept rather than returned
log = logging.getLogger(__name__)
_state: str | None = None  # tune()'s sentence, once it has run
_tuned = False  # whether tune() raised the thresholds


def tune() -> str:
    """Raise glibc's mmap and trim thresholds once per process; a sentence saying what was done (for the log)."""
    global _state
    if _state is None:
        _state = _tune()
        log.info(_state)
    return _state


GLIBC_STEADY = (32 << 20, 64 << 20)  # glibc's own dynamic thresholds once large blocks have been freed (bench)


def set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds (bytes); False where that cannot be done (not glibc)."""
    mallopt = _mallopt()
    return bool(mallopt and mallopt(M_MMAP_THRESHOLD, mmap_threshold) and mallopt(M_TRIM_THRESHOLD, trim_threshold))


def _mallopt():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


@contextmanager
def glibc_defaults() -> Iterator[None]:
    """Within: glibc's own thresholds (at their steady state), for the bench's naive baseline; the tuned ones again
    after. Nothing to do where :func:`tune` did not raise them."""
    if not _tuned:
        yield
        return
    set_thresholds(*GLIBC_STEADY)
    try:
        yield
    finally:
        set_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD)


def _tune() -> str:
    global _tuned
    if os.environ.get(ENV, "tuned").strip().lower() == "default":
        return f"memory allocator: glibc defaults ({ENV}=default)"
    if not set_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD):
        return "memory allocator: left as it is (not glibc, or it refused the thresholds)"
    _tuned = True
    return (f"memory allocator: glibc keeps freed blocks under {MMAP_THRESHOLD >> 20} MiB for reuse "
            f"(no page faults per image; {ENV}=default turns this off)")
