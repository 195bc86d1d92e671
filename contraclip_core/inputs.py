"""Checks of what a user types, shared by the service and its parts: each returns a clean value or raises
``ServiceError`` with one sentence for the user. ``LIMITS`` bounds every request."""
from __future__ import annotations

import math
from typing import Any

from . import registry
from .errors import ContraCLIPError

LIMITS = {
    "max_seeds": 8,  # seeds per traversal request
    "max_steps": 32,  # steps each way
    "max_sentence_chars": 200,
    "max_dipoles": 16,  # per training job
    "max_iterations": 20_000,
    "max_queue": 8,  # jobs queued or running, everybody's
    # A public app's visitors (visitors.py; the Space's owner is exempt):
    "max_active_per_visitor": 2,  # jobs queued or running per visitor
    "visitor_max_iterations": 3000,  # iterations one visitor's job may ask for (the quick presets need ≤ 3000)
    "visitor_storage_mb": 50,  # what one visitor's jobs and results may hold on disk; oldest unshared go first
    "storage_mb": 2000,  # what all jobs and results may hold; oldest unshared (never pinned) go first
    "interactive_slots": 4,  # traversals / edits / anchors in flight at once (one per visitor); more: "busy"
    "training_min_share": 0.25,  # the share of time a training job keeps under interactive load
    "gpu_chunk_s": 50,  # ZeroGPU: seconds of training one visitor request runs (spaces.GPU duration: this + 10)
    "max_seed": 2**31 - 1,
    "output_ttl_s": 3600,  # generated files older than this are deleted
    "max_frame_pixels": 40_000_000,  # seeds × frames × H × W rendered by one request (memory bound)
    "stream_chunk_pixels": 4_000_000,  # frames rendered between two streamed previews: ≈ this many pixels
    "max_projection_s": 100,  # a picture's projection in the app stops here, keeping its best code (ZeroGPU: 120 s)
}


class ServiceError(ContraCLIPError, ValueError):
    """Bad input or an unavailable resource; the message is for the user."""


def check_generator(name: Any) -> str:
    """A generator name from the catalogue (``registry.GENERATORS``), or a sentence listing the ones there are."""
    if not isinstance(name, str) or name not in registry.GENERATORS:
        raise ServiceError(f"unknown generator {name!r}; choose one of {sorted(registry.GENERATORS)}")
    return name


def check_sentence(text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise ServiceError(f"{what} must be text, got {type(text).__name__}")
    text = " ".join(text.split())
    if not text:
        raise ServiceError(f"{what} is empty: type a short sentence, e.g. “a red shape”")
    if len(text) > LIMITS["max_sentence_chars"]:
        raise ServiceError(f"{what} is {len(text)} characters long; keep it under {LIMITS['max_sentence_chars']}")
    if any(not c.isprintable() for c in text):
        raise ServiceError(f"{what} contains control characters")
    return text


def parse_seeds(seeds: Any) -> list[int]:
    """“0, 1, 2” or “3-5” or [0, 1] → a list of seeds, bounded in count and range."""
    if isinstance(seeds, (int, float)) and not isinstance(seeds, bool):
        seeds = [seeds]
    if isinstance(seeds, str):
        items: list[Any] = []
        for part in seeds.replace(";", ",").replace(" ", ",").split(","):
            if not part:
                continue
            if "-" in part.strip("-") and part.count("-") == 1:
                lo, hi = part.split("-")
                if not (lo.isdigit() and hi.isdigit()) or int(hi) < int(lo) or int(hi) - int(lo) >= LIMITS["max_seeds"]:
                    raise ServiceError(f"seed range {part!r} is not valid (write e.g. 3-6, at most "
                                       f"{LIMITS['max_seeds']} seeds)")
                items.extend(range(int(lo), int(hi) + 1))
            else:
                items.append(part)
        seeds = items
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ServiceError("give at least one seed, e.g. 0 or 0, 1, 2")
    out = []
    for s in seeds:
        try:
            value = float(s)
        except (TypeError, ValueError):
            raise ServiceError(f"seed {s!r} is not a whole number") from None
        if not math.isfinite(value) or value != int(value) or not 0 <= value <= LIMITS["max_seed"]:
            raise ServiceError(f"seed {s!r} must be a whole number between 0 and {LIMITS['max_seed']}")
        out.append(int(value))
    if len(out) > LIMITS["max_seeds"]:
        raise ServiceError(f"{len(out)} seeds asked for; at most {LIMITS['max_seeds']} at once")
    return out


def check_number(value: Any, what: str, lo: float, hi: float, integer: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ServiceError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x) or not lo <= x <= hi or (integer and x != int(x)):
        kind = "a whole number" if integer else "a number"
        raise ServiceError(f"{what} must be {kind} between {lo:g} and {hi:g}, got {value!r}")
    return int(x) if integer else x


