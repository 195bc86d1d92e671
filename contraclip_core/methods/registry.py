"""The method registry: every method the project has, in one table filled in one place.

The service builds each method's actions from it and runs each job by its kind; the job store reads each kind's
records with its request check; the data folder makes and checks each results folder; delete removes a job's
results whatever its kind; the CLI adds each method's sub-command; the UI builds each method's modules. Adding a
method is one folder under ``methods/``, one UI module, one entry below and its tests (docs/ARCHITECTURE.md).

The five methods of the README map onto three entries: ContraCLIP paths with their CLIP-PAE objectives
(``contraclip``), CF-CLIP edit models (``cfclip``), and the CLIP → latent mappers trained by CLIP2GAN's or CSLA's
objective (``mappers``). The projection (``projection``: a picture → the code that re-renders it, by optimisation or
by an e4e / pSp encoder) has no job kind: the app runs it as a streamed step, so it is a ``Tool`` (its actions, CLI
and UI). It starts from the methods' first guesses (``Method.guess``: the mappers' inversion), which this table
hands it as ``GUESSES``: no method package imports another for them.
"""
from __future__ import annotations

from ..method import Method, Tool
from .cfclip import cli as cfclip_cli
from .cfclip import service as cfclip_service
from .cfclip.artefact import EditSet
from .contraclip import cli as contraclip_cli
from .contraclip import service as contraclip_service
from .contraclip.artefact import PathSet
from .mappers import cli as mappers_cli
from .mappers import guess as mappers_guess
from .mappers import service as mappers_service
from .mappers.artefact import MapperSet
from .projection import cli as projection_cli
from .projection import service as projection_service

METHODS: dict[str, Method] = {m.name: m for m in (
    Method(name="contraclip", title="ContraCLIP paths (plain or CLIP-PAE objective)", kind="paths",
           results=contraclip_service.RESULTS, check_request=contraclip_service.check_request,
           actions=contraclip_service.PathActions, artefact=PathSet, add_cli=contraclip_cli.add_commands,
           ui=("explore", "train")),
    Method(name="cfclip", title="CF-CLIP edit models", kind="edit",
           results=cfclip_service.RESULTS, check_request=cfclip_service.check_edit_request,
           actions=cfclip_service.EditActions, artefact=EditSet, add_cli=cfclip_cli.add_commands, ui=("edit",)),
    Method(name="mappers", title="CLIP → latent mappers (CLIP2GAN, CSLA)", kind="mapper",
           results=mappers_service.RESULTS, check_request=mappers_service.check_mapper_request,
           actions=mappers_service.MapperActions, artefact=MapperSet, add_cli=mappers_cli.add_commands,
           ui=("anchor",), guess=mappers_guess.first_guess),
)}
KINDS: dict[str, Method] = {m.kind: m for m in METHODS.values()}  # a job record's kind → its method
REQUEST_CHECKS = {kind: m.check_request for kind, m in KINDS.items()}  # what a job store reads each kind's request with
GUESSES = tuple(m.guess for m in METHODS.values() if m.guess is not None)  # first guesses, best first
# Method packages without a job kind (their actions are ``service.method(name)`` too; their UI shares the anchor panel).
TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool(name="projection", title="your picture → its code (projection; e4e / pSp encoders)",
         actions=projection_service.ProjectionActions, add_cli=projection_cli.add_commands, ui=("anchor",)),
)}
