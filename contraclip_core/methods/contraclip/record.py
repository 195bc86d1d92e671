"""``paths.json``, typed: the description of a path set, every field checked, and its declared tensor shapes
compared with the ``paths.safetensors`` header before a single tensor is allocated.

A description may claim anything (billions of support vectors, a latent code of 10¹⁰ dimensions); ``PathSetMeta``
refuses values outside sane bounds, and ``check_weights_header`` refuses a weights file whose tensors are not
exactly the declared shapes. Only then does ``PathSet.load`` build modules and read tensors, so memory use is
bounded by the size of the file actually present.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...artefact import SPACES  # noqa: F401  (this record's spaces: the artefacts' ones)
from ...errors import RecordError, WeightsError
from ...records import Fields, read_json
from .model import LatentView

FORMAT_VERSION = 1
METHODS = ("contraclip", "linear")
MAX_PATHS = 4096  # K
MAX_PAIRS = 1 << 16  # D
MAX_LATENT_SIDE = 1 << 16  # each entry of latent_shape
MAX_ELEMENTS = 1 << 28  # most numbers one path set's tensors may hold (1 GiB as float32)


@dataclass
class PathSetMeta:
    """The checked contents of ``paths.json`` (see ``PathSet.metadata`` for how it is written)."""

    dipoles: list[tuple[str, str]]
    generator: str
    space: str
    layers: int
    latent_shape: tuple[int, ...]
    num_paths: int
    num_pairs: int
    method: str = "contraclip"
    truncation: float = 1.0
    name: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    iterations: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    format_version: int = FORMAT_VERSION
    whitening_block: int = 0  # > 0: the paths live in whitened coordinates, blocks of this many (whitening.py)

    @classmethod
    def from_json(cls, obj: Any, source: str) -> "PathSetMeta":
        """Check every field of a decoded ``paths.json``; ``RecordError`` names the first bad one."""
        f = Fields(obj, source, "a path-set description (a JSON object)")
        f.text("kind", choices=("paths",), default="paths")  # the artefact's type tag; older files have none
        version = f.number("format_version", 1, 10**6, integer=True, default=1)
        if version > FORMAT_VERSION:
            raise RecordError(f"{source}: 'format_version' is {version}, newer than this version reads "
                              f"({FORMAT_VERSION}); update ContraCLIP Studio")
        meta = cls(
            dipoles=f.sentence_pairs("dipoles", min_len=1, max_len=MAX_PATHS),
            generator=f.text("generator", max_chars=1000, nonempty=True),
            space=f.text("space", max_chars=10),
            layers=f.number("layers", 0, MAX_LATENT_SIDE, integer=True, default=0),
            latent_shape=tuple(f.sequence("latent_shape", min_len=1, max_len=2)),
            num_paths=f.number("num_paths", 1, MAX_PATHS, integer=True),
            num_pairs=f.number("num_pairs", 0, MAX_PAIRS, integer=True),
            method=f.text("method", choices=METHODS, default="contraclip"),
            truncation=f.number("truncation", 0, 100, default=1.0),
            name=f.text("name", max_chars=1000, default=""),
            settings=f.mapping("settings", default={}),
            iterations=f.number("iterations", 0, 10**9, integer=True, default=0),
            metrics=f.mapping("metrics", default={}),
            created=f.text("created", max_chars=100, default=""),
            format_version=version,
            whitening_block=f.number("whitening_block", 0, MAX_LATENT_SIDE, integer=True, default=0),
        )
        if meta.space not in SPACES:
            raise RecordError(f"{source}: unknown latent space {meta.space!r} in 'space' (expected one of {list(SPACES)})")
        if not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_LATENT_SIDE
                   for s in meta.latent_shape):
            raise f.fail("latent_shape", f"a list of whole numbers in [1, {MAX_LATENT_SIDE}]", list(meta.latent_shape))
        if len(meta.latent_shape) != (2 if meta.space == "w+" else 1):
            raise RecordError(f"{source}: 'latent_shape' {list(meta.latent_shape)} does not fit the {meta.space!r} "
                              f"space ({'(layers, width)' if meta.space == 'w+' else '(width,)'})")
        if len(meta.dipoles) != meta.num_paths:
            raise RecordError(f"{source}: {len(meta.dipoles)} dipoles but 'num_paths' is {meta.num_paths}")
        if meta.whitening_block and meta.latent_shape[-1] % meta.whitening_block:
            raise RecordError(f"{source}: 'whitening_block' {meta.whitening_block} does not divide the latent width "
                              f"{meta.latent_shape[-1]}")
        if meta.method == "contraclip" and meta.num_pairs < 1:
            raise RecordError(f"{source}: 'num_pairs' must be at least 1 for ContraCLIP paths, got 0")
        try:
            view = meta.view
        except (ValueError, IndexError) as e:
            raise RecordError(f"{source}: {e}") from e
        elements = sum(math.prod(s) for s in meta.tensor_shapes(view.dim).values())
        if elements > MAX_ELEMENTS:
            raise RecordError(f"{source} declares {elements:,} numbers of paths (num_paths {meta.num_paths}, "
                              f"num_pairs {meta.num_pairs}, dimension {view.dim}); at most {MAX_ELEMENTS:,} are read")
        return meta

    @classmethod
    def read(cls, folder: Path, name: str = "paths.json") -> "PathSetMeta":
        path = Path(folder) / name
        return cls.from_json(read_json(path), str(path))

    @property
    def view(self) -> LatentView:
        return LatentView(self.space, tuple(self.latent_shape), self.layers)

    def tensor_shapes(self, dim: int | None = None) -> dict[str, tuple[int, ...]]:
        """The tensors ``paths.safetensors`` must hold for this description, with their shapes."""
        k, d2, dim = self.num_paths, 2 * self.num_pairs, self.view.dim if dim is None else dim
        b = self.whitening_block
        whitening = {"whitening.mean": (b,), "whitening.chol": (b, b)} if b else {}
        if self.method == "linear":
            return {"directions": (k, dim)} | whitening
        return {"support_sets": (k, d2, dim), "log_gamma": (k,), "alpha": (d2,)} | whitening


def check_weights_header(meta: PathSetMeta, weights_path: Path) -> None:
    """Compare the declared shapes with the safetensors header (read without loading any tensor)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights_path), framework="pt") as f:
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{weights_path.name} is not a readable safetensors file (truncated or corrupted?): {e}. "
                           "Download it again or re-run the conversion.") from e
    declared = meta.tensor_shapes()
    for key, shape in declared.items():
        if shapes.get(key) != shape:
            got = shapes[key] if key in shapes else "missing"
            raise WeightsError(f"{weights_path}: {key!r} is {got}, expected {shape} (as paths.json declares)")
    extra = sorted(set(shapes) - set(declared))
    if extra:  # e.g. whitening tensors with no 'whitening_block': the paths would be read in the wrong coordinates
        raise WeightsError(f"{weights_path}: holds {', '.join(map(repr, extra))}, which paths.json does not declare "
                           "(a 'whitening_block' or 'method' missing or changed?)")
