"""The method registry: every method the project has, in one table filled in one place.

The service builds each method's actions from it and runs each job by its kind; the job store reads each kind's
records with its request check; the data folder makes and checks each results folder; delete removes a job's
results whatever its kind; the CLI adds each method's sub-command; the UI builds each method's modules. Adding a
method is one folder under ``methods/``, one UI module, one entry below and its tests (docs/ARCHITECTURE.md).

The five methods of the README map onto three entries: ContraCLIP paths with their CLIP-PAE objectives
(``contraclip``), CF-CLIP edit models (``cfclip``), and the CLIP → latent mappers trained by CLIP2GAN's or CSLA's
objective (``mappers``). The projection (``projection``: a picture → the code that re-renders it) has no job kind:
the app runs it as a streamed step, so it is listed in ``COMMANDS`` for its CLI sub-command only.
"""
from __future__ import annotations

from ..method import Method
from .cfclip import cli as cfclip_cli
from .cfclip import service as cfclip_service
from .cfclip.artefact import EditSet
from .contraclip import cli as contraclip_cli
from .contraclip import service as contraclip_service
from .contraclip.artefact import PathSet
from .mappers import cli as mappers_cli
from .mappers import service as mappers_service
from .mappers.artefact import MapperSet
from .projection import cli as projection_cli

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
           ui=("anchor",)),
)}
KINDS: dict[str, Method] = {m.kind: m for m in METHODS.values()}  # a job record's kind → its method
REQUEST_CHECKS = {kind: m.check_request for kind, m in KINDS.items()}  # what a job store reads each kind's request with
# Method packages without a job kind: only their CLI sub-command (the app calls their functions directly).
COMMANDS = (projection_cli.add_commands,)
