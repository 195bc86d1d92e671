"""What keeps one visitor of a shared app from starving or filling it (the numbers are ``inputs.LIMITS``).

- ``Admission``: at most one interactive request (a traversal, an edit, an anchor) in flight per visitor and a
  fixed number in all; one more is answered at once with "busy, try again in N s" (N from the recent requests'
  durations) instead of waiting in a queue that grows.
- ``retention``: the jobs to remove so that one visitor's, and everybody's, jobs and results stay under their
  storage caps: finished ones only, unshared before shared, oldest first, never a pinned one.

Knows no method: a job's disk use is measured by the caller (its folder and its results folder).
"""
from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .inputs import ServiceError
from .jobs import ACTIVE, Job


class BusyError(ServiceError):
    """An interactive request refused because the app (or this visitor) is busy; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Admission:
    """Interactive requests in flight: one per visitor, ``slots`` in all. ``exempt(visitor_id)``: ids never
    limited (the machine's own user of a private app, the Space's owner)."""

    def __init__(self, slots: int):
        self.slots = slots
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._recent: deque[float] = deque(maxlen=20)  # seconds the last requests took

    def retry_after(self) -> int:
        typical = sorted(self._recent)[len(self._recent) // 2] if self._recent else 5.0
        return max(1, math.ceil(typical))

    @contextmanager
    def enter(self, visitor_id: str, limited: bool = True) -> Iterator[None]:
        with self._lock:
            if limited and self._in_flight[visitor_id]:
                raise BusyError(f"busy: your previous request is still running; try again in {self.retry_after()} s",
                                self.retry_after())
            if limited and sum(self._in_flight.values()) >= self.slots:
                raise BusyError(f"busy: {self.slots} requests are running; try again in {self.retry_after()} s",
                                self.retry_after())
            self._in_flight[visitor_id] += 1
        start = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[visitor_id] -= 1
                if not self._in_flight[visitor_id]:
                    del self._in_flight[visitor_id]
                self._recent.append(time.monotonic() - start)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist)."""
    total = 0
    for f in folder.rglob("*") if folder.is_dir() else ():
        try:
            total += f.stat().st_size if f.is_file() else 0
        except OSError:
            continue  # removed meanwhile
    return total


def retention(jobs: Iterable[Job], size: Callable[[Job], int], visitor_cap: int, global_cap: int,
              exempt: Callable[[str], bool]) -> list[Job]:
    """The finished jobs to remove (in order) so that every visitor's jobs hold at most ``visitor_cap`` bytes and
    all jobs at most ``global_cap``: unshared before shared, oldest first; pinned jobs, active jobs and the
    jobs of exempt owners (``exempt(owner)``, the Space's owner) are never removed."""
    jobs = list(jobs)
    sizes = {j.id: size(j) for j in jobs}
    removable = sorted((j for j in jobs if j.status not in ACTIVE and not j.pinned and not exempt(j.owner)),
                       key=lambda j: (j.shared, j.finished or j.created))
    per_owner: Counter[str] = Counter()
    for j in jobs:
        per_owner[j.owner] += sizes[j.id]
    total = sum(sizes.values())
    chosen: list[Job] = []
    for j in removable:
        if per_owner[j.owner] > visitor_cap:
            chosen.append(j)
            per_owner[j.owner] -= sizes[j.id]
            total -= sizes[j.id]
    for j in removable:
        if total <= global_cap:
            break
        if j not in chosen:
            chosen.append(j)
            total -= sizes[j.id]
    return chosen
