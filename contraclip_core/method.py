"""What a method declares to the rest of the project: one ``Method`` entry per package under ``methods/``.

The table of entries is ``contraclip_core.methods.METHODS``; the service, the job queue, the data folder, delete,
the CLI and the UI iterate over it. This module knows no method: it only says what an entry holds and what the
actions object a method hands the service must do (``MethodActions``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from .artefact import Artefact
    from .jobs import Job
    from .service import Service

Report = Callable[..., bool]  # report(iteration, total, loss, eta_s, flops) -> False once the job should stop
# guess(generator, generator_name, pictures (B, 3, R, R) in [-1, 1], space, clip=None) -> (codes (B, *shape) or None,
# a few words saying what the guess is or why there is none); ``clip(name)`` loads a CLIP model (a cache's, or None)
Guess = Callable[..., tuple[Any, str]]


class MethodActions(Protocol):
    """What the service asks of every method (each method's ``service.py`` adds its own interactive actions)."""

    def submit(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Check a training request (``ServiceError`` with a sentence when it is wrong) and queue it as a job of
        the method's kind; returns the job's row."""
        ...

    def run_job(self, job: "Job", report: Report, device: str | None = None) -> str:
        """Train the job on ``device`` (None: the app's; "cuda" in a ZeroGPU chunk), resuming from its checkpoint;
        save the artefact under the method's results folder (``<data>/<results>/<job id>``) and return that folder;
        "" when stopped early (cancelled, shutting down, a chunk's time is up), its checkpoint kept."""
        ...

    def job_label(self, job: "Job") -> str:
        """How the job is named on its card and in confirmations (plain text: the UI escapes it)."""
        ...


@dataclass(frozen=True)
class Method:
    """One method: everything the shared machinery needs to know about it, in one place."""

    name: str  # its package under contraclip_core/methods/, and its CLI sub-command
    title: str  # what it is called in the CLI's help and the docs, e.g. "ContraCLIP paths"
    kind: str  # the job kind its training jobs carry in job.json (never renamed: old records keep loading)
    results: str  # the data folder's sub-folder holding what its jobs trained, one folder per job id
    check_request: Callable[[Any, str], dict[str, Any]]  # a job record's request, checked (RecordError otherwise)
    actions: Callable[["Service"], MethodActions]  # its service actions, built once per Service
    artefact: type["Artefact"]  # the saved artefact its jobs make
    add_cli: Callable[[argparse._SubParsersAction], None]  # adds its CLI sub-command(s)
    ui: tuple[str, ...]  # the modules of the UI package (contraclip_ui.<name>) that show it, in page order
    guess: Guess | None = None  # a fast first guess of pictures' codes (image → latent) that an inversion refines


@dataclass(frozen=True)
class Tool:
    """A method package without a job kind: it trains nothing and keeps nothing but a code (the projection). The
    registry hands it every method's ``guess`` (``guesses``), so it starts from them without importing them."""

    name: str  # its package under contraclip_core/methods/, its CLI sub-command, and ``service.method(name)``
    title: str
    actions: Callable[["Service", tuple[Guess, ...]], Any]  # its service actions, built once per Service
    add_cli: Callable[[argparse._SubParsersAction, tuple[Guess, ...]], None]  # adds its CLI sub-command(s)
    ui: tuple[str, ...]  # the UI modules that show it (shared with a method's: built once)
