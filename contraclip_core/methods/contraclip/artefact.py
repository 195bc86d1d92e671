"""Path files: one trained set of ContraCLIP paths = ``paths.safetensors`` + ``paths.json`` in one folder.

The safetensors file holds the latent support sets (support vectors, log-widths, α); the JSON holds everything a
reader needs to use or reproduce them: dipoles, generator, latent space and layers, truncation, every
hyperparameter, iterations done, metrics, creation time. Loading checks that the paths fit the generator.

Where path sets come from (``PathSet.from_pretrained``):

- a registry name ``<generator>/<set>`` (or just ``<generator>``: its ``<corpus>-corpus`` set): a set shipped in
  ``checkpoints/<…>/paths/<set>``, else the one in the Hub path-set repo (``registry.hub_paths_folder``);
- ``hf://org/repo[@revision]/folder``: a set folder in any Hub repo (``…/paths.json`` is accepted too);
- a local folder.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ... import hub, registry
from ...artefact import Artefact
from ...errors import ContraCLIPError, RecordError, WeightsError
from ...generators.base import Generator
from .model import LatentSupportSets, LatentView, LinearPaths
from .record import FORMAT_VERSION, PathSetMeta, check_weights_header
from .whitening import LatentWhitening

WEIGHTS_NAME = "paths.safetensors"
META_NAME = "paths.json"


@dataclass
class PathSet(Artefact):
    """Trained paths with their metadata."""

    kind: ClassVar[str] = "paths"
    what: ClassVar[str] = "path set"
    weights_name: ClassVar[str] = WEIGHTS_NAME
    meta_name: ClassVar[str] = META_NAME
    shipped_folder: ClassVar[str] = "paths"

    lss: LatentSupportSets | LinearPaths  # the paths (LinearPaths: the linear baseline)
    dipoles: list[tuple[str, str]]  # (positive, negative) sentences, as given to CLIP
    generator: str  # registry name (or source) of the generator the paths were trained on
    space: str  # "z", "w" or "w+"
    layers: int  # ℓ for W+ (paths move style inputs 0…ℓ); 0 otherwise
    truncation: float  # ψ used to sample anchor codes
    latent_shape: tuple[int, ...]  # one code's shape in that space, checked against the generator
    settings: dict[str, Any] = field(default_factory=dict)  # all training hyperparameters
    iterations: int = 0  # iterations trained
    metrics: dict[str, Any] = field(default_factory=dict)  # evaluation results, if any
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    name: str = ""  # a short display name

    @property
    def method(self) -> str:
        return "linear" if isinstance(self.lss, LinearPaths) else "contraclip"

    @property
    def view(self) -> LatentView:
        return LatentView(self.space, tuple(self.latent_shape), self.layers)

    def check_fits(self, generator: Generator, source: str | None = None, generator_name: str | None = None) -> None:
        """``Artefact.check_fits``, and the support vectors' dimension against the code's."""
        super().check_fits(generator, source, generator_name)
        if self.lss.dim != self.view.dim:
            raise WeightsError(f"{source or 'this path set'}: support vectors have dimension {self.lss.dim}, expected {self.view.dim}")

    def metadata(self) -> dict[str, Any]:
        return {
            **self.kind_metadata(),
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "dipoles": [list(d) for d in self.dipoles],
            "generator": self.generator,
            "space": self.space,
            "layers": self.layers,
            "truncation": self.truncation,
            "latent_shape": list(self.latent_shape),
            "num_paths": self.lss.num_paths,
            "num_pairs": self.lss.num_pairs,
            "method": self.method,
            "whitening_block": self.lss.whitening.block if self.lss.whitening is not None else 0,
            "settings": self.settings,
            "iterations": self.iterations,
            "metrics": self.metrics,
            "created": self.created,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        return self.lss.state_dict()

    @classmethod
    def load(cls, folder: str | Path, generator: Generator | None = None, device: str | torch.device = "cpu") -> "PathSet":
        """Read a path folder; with ``generator``, also check that the paths fit it."""
        folder = Path(folder)
        meta_path, weights_path = cls.require_files(folder)
        try:
            meta = PathSetMeta.read(folder, META_NAME)
        except RecordError as e:
            raise WeightsError(f"not a valid path-set description: {e}") from e
        check_weights_header(meta, weights_path)  # declared shapes = the tensors present, before allocating
        view = meta.view
        if meta.method == "linear":
            lss: LatentSupportSets | LinearPaths = LinearPaths(meta.num_paths, view.dim)
        else:
            lss = LatentSupportSets(meta.num_paths, meta.num_pairs, view.dim, torch.ones(meta.num_paths))
        if meta.whitening_block:  # placeholders of the right shapes; the file's values are loaded below
            b = meta.whitening_block
            lss.whitening = LatentWhitening(torch.zeros(b), torch.eye(b))
        lss.load_state_dict(cls.checked_state(weights_path, lss.state_dict()))
        if lss.whitening is not None:
            try:
                lss.whitening.check()
            except ValueError as e:
                raise WeightsError(f"{weights_path}: {e}") from e
        lss = lss.to(device).eval().requires_grad_(False)
        paths = cls(lss=lss, dipoles=meta.dipoles, generator=meta.generator, space=meta.space, layers=meta.layers,
                    truncation=meta.truncation, latent_shape=meta.latent_shape, settings=dict(meta.settings),
                    iterations=meta.iterations, metrics=dict(meta.metrics), created=meta.created, name=meta.name)
        if generator is not None:
            paths.check_fits(generator, str(folder))
        return paths

    @classmethod
    def shipped_order(cls, meta_path: Path) -> Any:
        """Each generator's corpus set (``*-corpus``, the first screen's paths) first, then the others by name."""
        return (not meta_path.parent.name.endswith("-corpus"), meta_path)

    @classmethod
    def default_name(cls, generator_name: str) -> str:
        return f"{registry.GENERATORS[generator_name].corpus}-corpus"

    @classmethod
    def hub_fallback(cls, generator_name: str, name: str) -> str | None:
        hub_folder = registry.hub_paths_folder(generator_name)
        if hub_folder is None:
            raise ContraCLIPError(f"no shipped path set {name!r} for {generator_name!r}, and Hub path sets are turned "
                                  f"off ({registry.PATHS_REPO_ENV})")
        return f"{hub_folder}/{name}"


def hub_sets(generator_name: str) -> list[Path]:
    """Folders (in the local HF cache) of the generator's pre-trained path sets on the Hub, downloading them when
    the Hub can be reached. Raises ``HubUnavailableError`` when neither the Hub nor a cached copy is there."""
    source = registry.hub_paths_folder(generator_name)
    if source is None:
        return []
    where = hub.parse_hf_url(source)  # hf://org/repo[@rev]/folder: the folder is where.filename
    folder = where.filename
    root = hub.snapshot(where.repo_id, where.revision, [f"{folder}/*/{META_NAME}", f"{folder}/*/{WEIGHTS_NAME}"],
                        what=f"pre-trained paths for {generator_name!r}")
    return [p.parent for p in sorted((root / folder).glob(f"*/{META_NAME}")) if (p.parent / WEIGHTS_NAME).is_file()]
