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

from . import hub, registry
from .errors import ContraCLIPError, RecordError, WeightsError
from .generators.base import Generator
from .generators.formats import read_weights
from .filesets import SavedPair, from_hub, require_pair
from .paths import LatentSupportSets, LatentView, LinearPaths
from .whitening import LatentWhitening
from .pathset_meta import FORMAT_VERSION, SPACES, PathSetMeta, check_weights_header

WEIGHTS_NAME = "paths.safetensors"
META_NAME = "paths.json"
SHIPPED = hub.PROJECT_ROOT / "checkpoints"  # shipped sets: checkpoints/<generator folder>/paths/<set>/


@dataclass
class PathSet(SavedPair):
    """Trained paths with their metadata."""

    weights_name: ClassVar[str] = WEIGHTS_NAME
    meta_name: ClassVar[str] = META_NAME

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

    def check_fits(self, generator: Generator, source: str = "this path set", generator_name: str | None = None) -> None:
        """Raise ``WeightsError`` unless these paths can move codes of ``generator`` (registry ``generator_name``:
        also refuse paths trained on another registry generator, whose codes merely have the same shape)."""
        if generator_name is not None and not same_generator(self.generator, generator_name):
            raise WeightsError(f"{source} was trained on {self.generator!r}, not on {generator_name!r}; "
                               "its directions mean nothing in another generator's latent space.")
        if self.space not in generator.spaces:
            raise WeightsError(
                f"{source} lives in the {self.space!r} space, which the generator does not have "
                f"(it has {list(generator.spaces)}); it was trained for {self.generator!r}."
            )
        shape = generator.latent_shape(self.space)
        if tuple(shape) != tuple(self.latent_shape):
            raise WeightsError(
                f"{source} was trained for {self.space!r} codes of shape {tuple(self.latent_shape)} "
                f"(generator {self.generator!r}), but this generator's are {tuple(shape)}."
            )
        if self.lss.dim != self.view.dim:
            raise WeightsError(f"{source}: support vectors have dimension {self.lss.dim}, expected {self.view.dim}")

    def metadata(self) -> dict[str, Any]:
        return {
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
        meta_path, weights_path = require_pair(folder, META_NAME, WEIGHTS_NAME, "a path set")
        try:
            meta = PathSetMeta.read(folder, META_NAME)
        except RecordError as e:
            raise WeightsError(f"not a valid path-set description: {e}") from e
        check_weights_header(meta, weights_path)  # declared shapes = the tensors present, before allocating
        state = read_weights(weights_path)
        view = meta.view
        if meta.method == "linear":
            lss: LatentSupportSets | LinearPaths = LinearPaths(meta.num_paths, view.dim)
        else:
            lss = LatentSupportSets(meta.num_paths, meta.num_pairs, view.dim, torch.ones(meta.num_paths))
        if meta.whitening_block:  # placeholders of the right shapes; the file's values are loaded below
            b = meta.whitening_block
            lss.whitening = LatentWhitening(torch.zeros(b), torch.eye(b))
        expected = lss.state_dict()
        for key, tensor in expected.items():
            if key not in state or tuple(state[key].shape) != tuple(tensor.shape):
                got = tuple(state[key].shape) if key in state else "missing"
                raise WeightsError(f"{weights_path}: {key!r} is {got}, expected {tuple(tensor.shape)}")
        lss.load_state_dict({k: state[k] for k in expected})
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
    def from_pretrained(cls, source: str | Path, generator: Generator | None = None, *,
                        generator_name: str | None = None, device: str | torch.device = "cpu") -> "PathSet":
        """Load a path set from a registry name, ``hf://…`` or a local folder (see the module docstring).

        With ``generator``, check that the paths fit it (latent space, layers, dimensions); with ``generator_name``
        (a registry name), also that they were trained on that generator.
        """
        folder = resolve(source)
        paths = cls.load(folder, device=device)
        if generator is not None:
            paths.check_fits(generator, str(source), generator_name)
        elif generator_name is not None and not same_generator(paths.generator, generator_name):
            raise WeightsError(f"{source} was trained on {paths.generator!r}, not on {generator_name!r}")
        return paths


def same_generator(a: str, b: str) -> bool:
    """Whether two generator names mean the same generator (registry aliases count as the same)."""
    pa, pb = registry.GENERATORS.get(a), registry.GENERATORS.get(b)
    return a == b or (pa is not None and pa is pb)


def _generator_of(folder: Path) -> str | None:
    try:
        return PathSetMeta.read(folder, META_NAME).generator
    except RecordError:
        return None


def shipped_sets(generator_name: str | None = None) -> list[Path]:
    """Folders of the path sets that ship with the project (for one generator, or all): each generator's corpus set
    (``*-corpus``, the first screen's paths) first, then the others by name."""
    metas = sorted(SHIPPED.glob(f"*/paths/*/{META_NAME}"), key=lambda p: (not p.parent.name.endswith("-corpus"), p))
    folders = [p.parent for p in metas]
    if generator_name is None:
        return folders
    return [f for f in folders if (g := _generator_of(f)) is not None and same_generator(g, generator_name)]


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


def resolve(source: str | Path) -> Path:
    """A path-set source → the local folder holding its two files (downloaded from the Hub when needed)."""
    text = str(source)
    if isinstance(source, str) and text.startswith("hf://"):
        return from_hub(text, META_NAME, WEIGHTS_NAME, "path set")
    name, _, set_name = text.partition("/")
    if isinstance(source, str) and name in registry.GENERATORS and not Path(text).expanduser().exists():
        set_name = set_name or f"{registry.GENERATORS[name].corpus}-corpus"
        if "/" in set_name or set_name in ("", ".", ".."):
            raise ContraCLIPError(f"{text!r}: write a registry path set as <generator>/<set>")
        for folder in shipped_sets(name):
            if folder.name == set_name:
                return folder
        hub_folder = registry.hub_paths_folder(name)
        if hub_folder is None:
            raise ContraCLIPError(f"no shipped path set {set_name!r} for {name!r}, and Hub path sets are turned off "
                                  f"({registry.PATHS_REPO_ENV})")
        return resolve(f"{hub_folder}/{set_name}")
    return hub.resolve(source, what="the path set")
