"""The saved-artefact base every method's result shares (a path set, an edit model, a mapper).

One layout: a folder holding a JSON description (its metadata, with one ``kind`` tag) beside a safetensors file,
written atomically and weights first (so a folder with a JSON is whole) and read only when both files are there.
One way to find one: ``from_pretrained(source)`` with a registry name (``<generator>/<name>``, the shipped ones under
``checkpoints/<generator>/<shipped_folder>/<name>/``), an ``hf://owner/repo/<folder>`` URL, or a local folder.
One check against a generator (``check_fits``): trained on the same generator, a space it has, the same code shape.
This module knows no method: each method's ``artefact.py`` subclasses ``Artefact`` and says what its files hold.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch

from . import hub, registry
from .atomic import atomic_write_bytes
from .errors import ContraCLIPError, RecordError, WeightsError
from .generators.base import Generator
from .generators.formats import read_weights
from .records import Fields, read_json

SHIPPED_ROOT = hub.PROJECT_ROOT / "checkpoints"  # shipped artefacts: checkpoints/<generator>/<shipped_folder>/<name>/
DEFAULT_DATA = SHIPPED_ROOT / "local"  # the app's data folder by default: what is trained here is not shipped
SPACES = ("z", "w", "w+")  # the latent spaces an artefact may live in
MAX_LATENT_SIDE = 1 << 16  # each entry of a code's shape
# where an artefact came from → its id tag: with the project, from the Hub, trained here by you, or another
# visitor's that its owner shared
ORIGIN_TAGS = {"shipped": "shipped", "Hub": "hub", "trained here": "local", "shared": "shared"}


def require_pair(folder: str | Path, meta_name: str, weights_name: str, what: str) -> tuple[Path, Path]:
    """The two files' paths; ``WeightsError`` saying which are needed when either is missing (``what``: "a path
    set", "a generator folder", …)."""
    folder = Path(folder)
    meta_path, weights_path = folder / meta_name, folder / weights_name
    if not meta_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"{folder} is not {what}: it needs {meta_name} and {weights_name}")
    return meta_path, weights_path


def picker_label(label: str, origin: str) -> str:
    """How a picker shows an artefact's label: typed text (every origin but shipped) has its square brackets shown
    as parentheses, so no label can carry a fake "[shipped]" origin tag."""
    return label if origin == "shipped" else label.translate(str.maketrans("[]", "()"))


def same_generator(a: str, b: str) -> bool:
    """Whether two generator names mean the same generator (registry aliases count as the same)."""
    pa, pb = registry.GENERATORS.get(a), registry.GENERATORS.get(b)
    return a == b or (pa is not None and pa is pb)


@dataclass(frozen=True)
class Header:
    """What every artefact's description says about itself, read without loading it."""

    kind: str  # the artefact's type tag: its method's job kind ("paths", "edit", "mapper")
    generator: str  # the generator it was trained on
    name: str  # its display name ("" when none)


class Artefact:
    """Base of every saved artefact. A subclass names its two files and what it is, and implements ``tensors()``,
    ``metadata()`` (``kind_metadata()`` adds the tag) and ``load(folder, generator=None, device=…)``; its
    instances carry ``generator``, ``space`` and ``latent_shape``."""

    kind: ClassVar[str]  # the type tag written into the description (also its method's job kind)
    what: ClassVar[str]  # what it is called in messages: "path set", "edit model", "mapper"
    weights_name: ClassVar[str]
    meta_name: ClassVar[str]
    shipped_folder: ClassVar[str]  # the folder under checkpoints/<generator>/ that holds the shipped ones
    generator: str
    space: str
    latent_shape: tuple[int, ...]

    # --- saving ---------------------------------------------------------------------------------------------------
    def tensors(self) -> Mapping[str, torch.Tensor]:
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        raise NotImplementedError

    def kind_metadata(self) -> dict[str, Any]:
        """The type tag every description opens with (older files without it still load: the file name says)."""
        return {"kind": self.kind}

    def save(self, folder: str | Path) -> Path:
        """Write both files atomically (temp file + rename); the weights first, so a folder with a JSON is whole."""
        from safetensors.torch import save

        folder = Path(folder)
        atomic_write_bytes(folder / self.weights_name, save({k: v.detach().cpu().float().contiguous()
                                                             for k, v in self.tensors().items()}))
        return self.save_metadata(folder)

    def save_metadata(self, folder: str | Path) -> Path:
        """Rewrite only the JSON (e.g. after adding metrics); the weights file is left as it is."""
        folder = Path(folder)
        atomic_write_bytes(folder / self.meta_name, (json.dumps(self.metadata(), indent=1) + "\n").encode())
        return folder

    # --- reading --------------------------------------------------------------------------------------------------
    @classmethod
    def require_files(cls, folder: str | Path) -> tuple[Path, Path]:
        """The description's and the weights' paths; ``WeightsError`` saying which are needed when either is
        missing."""
        article = "an" if cls.what[0] in "aeiou" else "a"
        return require_pair(folder, cls.meta_name, cls.weights_name, f"{article} {cls.what}")

    @classmethod
    def fields(cls, folder: str | Path) -> Fields:
        """The description as checked ``records.Fields`` (bounded size, UTF-8 JSON object, its kind tag right);
        ``RecordError`` naming the file otherwise."""
        path = Path(folder) / cls.meta_name
        source = f"{Path(folder).name}/{cls.meta_name}"
        f = Fields(read_json(path, source), source, f"{cls.what} description (a JSON object)")
        f.text("kind", choices=(cls.kind,), default=cls.kind)
        return f

    @staticmethod
    def common(f: Fields) -> dict[str, Any]:
        """The fields every description holds, checked: generator, space, code shape, truncation, settings,
        iterations, metrics, creation time, name."""
        shape = f.sequence("latent_shape", min_len=1, max_len=2)
        if not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_LATENT_SIDE for s in shape):
            raise f.fail("latent_shape", f"1 or 2 whole numbers in [1, {MAX_LATENT_SIDE}]", shape)
        return dict(generator=f.text("generator", max_chars=1000, nonempty=True), space=f.text("space", choices=SPACES),
                    latent_shape=tuple(shape), truncation=f.number("truncation", 0.0, 10.0, default=1.0),
                    settings=f.mapping("settings", default={}), metrics=f.mapping("metrics", default={}),
                    iterations=f.number("iterations", 0, 10**9, integer=True, default=0),
                    created=f.text("created", max_chars=100, default=""), name=f.text("name", max_chars=1000, default=""))

    @classmethod
    def read_description(cls, folder: str | Path) -> tuple[Fields, Path]:
        """``fields(folder)`` and the weights' path, both files required; a bad description is a ``WeightsError``
        naming the file and the field."""
        meta_path, weights_path = cls.require_files(folder)
        try:
            return cls.fields(folder), weights_path
        except RecordError as e:
            raise WeightsError(f"not a valid {cls.what.replace(' ', '-')} description: {e}") from e

    @classmethod
    def header(cls, folder: str | Path) -> Header:
        return cls.header_of(cls.fields(folder))

    @classmethod
    def header_of(cls, f: Fields) -> Header:
        """The header of a description already read (``fields``), for a caller that reads more of it."""
        return Header(cls.kind, f.text("generator", max_chars=1000, nonempty=True),
                      f.text("name", max_chars=1000, default=""))

    @staticmethod
    def checked_state(weights_path: Path, expected: Mapping[str, torch.Tensor], exact: bool = False,
                      ) -> dict[str, torch.Tensor]:
        """The weights file's tensors for ``expected``'s keys: each present, of the expected shape and finite
        (``WeightsError`` naming the file and the tensor otherwise); ``exact``: no other tensors either."""
        state = read_weights(weights_path)
        for key, tensor in expected.items():
            if key not in state or tuple(state[key].shape) != tuple(tensor.shape):
                got = tuple(state[key].shape) if key in state else "missing"
                raise WeightsError(f"{weights_path}: {key!r} is {got}, expected {tuple(tensor.shape)}")
            if state[key].is_floating_point() and not torch.isfinite(state[key]).all():
                raise WeightsError(f"{weights_path}: {key!r} holds NaN or infinite values; the file is damaged "
                                   "(train it again)")
        extra = sorted(set(state) - set(expected))
        if exact and extra:
            raise WeightsError(f"{weights_path}: holds weights the description does not have ({extra[0]!r}, "
                               f"{len(extra)} in all); its JSON does not describe this file")
        return {k: state[k] for k in expected}

    @classmethod
    def load(cls, folder: str | Path, generator: Generator | None = None,
             device: str | torch.device = "cpu") -> "Artefact":
        raise NotImplementedError

    def check_fits(self, generator: Generator, source: str | None = None, generator_name: str | None = None) -> None:
        """Raise ``WeightsError`` unless this artefact can move codes of ``generator`` (with a registry
        ``generator_name``: also refuse one trained on another generator whose codes merely have the same shape)."""
        source = source or f"this {self.what}"
        if generator_name is not None and not same_generator(self.generator, generator_name):
            raise WeightsError(f"{source} was trained on {self.generator!r}, not on {generator_name!r}; its "
                               f"directions mean nothing in another generator's latent space: pick a {self.what} "
                               "made for this generator, or train one.")
        if self.space not in generator.spaces:
            raise WeightsError(f"{source} lives in the {self.space!r} space, which the generator does not have "
                               f"(it has {list(generator.spaces)}); it was trained for {self.generator!r}.")
        shape = tuple(generator.latent_shape(self.space))
        if shape != tuple(self.latent_shape):
            raise WeightsError(f"{source} was trained for {self.space!r} codes of shape {tuple(self.latent_shape)} "
                               f"(generator {self.generator!r}), but this generator's are {shape}.")

    # --- finding --------------------------------------------------------------------------------------------------
    @classmethod
    def generator_of(cls, folder: Path) -> str | None:
        try:
            return cls.header(folder).generator
        except RecordError:
            return None

    @classmethod
    def shipped_order(cls, meta_path: Path) -> Any:
        """Sort key of the shipped ones (by path; a subclass may put some first)."""
        return meta_path

    @classmethod
    def shipped(cls, generator_name: str | None = None) -> list[Path]:
        """Folders of the ones that ship with the project (for one generator, or all)."""
        metas = sorted((p for p in SHIPPED_ROOT.glob(f"*/{cls.shipped_folder}/*/{cls.meta_name}")
                        if p.parents[2] != DEFAULT_DATA), key=cls.shipped_order)  # not what was trained here
        folders = [p.parent for p in metas]
        if generator_name is None:
            return folders
        return [f for f in folders if (g := cls.generator_of(f)) is not None and same_generator(g, generator_name)]

    @classmethod
    def local(cls, results: Path) -> list[Path]:
        """Folders of the ones trained here (``<data>/<results>/<job id>/``), oldest first."""
        return [p.parent for p in sorted(Path(results).glob(f"*/{cls.meta_name}"), key=lambda p: p.stat().st_mtime)]

    @classmethod
    def default_name(cls, generator_name: str) -> str:
        """The shipped one ``<generator>`` alone names ("" : the first)."""
        return ""

    @classmethod
    def hub_fallback(cls, generator_name: str, name: str) -> str | None:
        """Where on the Hub a registry name not shipped here may be (None: nowhere)."""
        return None

    @classmethod
    def from_hub(cls, url: str) -> Path:
        """``hf://owner/repo/<folder>`` (or the URL of either file in it) → the local folder holding both files,
        from the Hub or its local cache; ``WeightsError`` when the repository has no such description."""
        where = hub.parse_hf_url(url)
        folder = where.filename.rstrip("/")
        if folder.endswith((f"/{cls.meta_name}", f"/{cls.weights_name}")):
            folder = folder.rsplit("/", 1)[0]
        root = hub.snapshot(where.repo_id, where.revision, [f"{folder}/{cls.meta_name}", f"{folder}/{cls.weights_name}"],
                            what=f"the {cls.what} {url}")
        if not (root / folder / cls.meta_name).is_file():
            article = "an" if cls.what[0] in "aeiou" else "a"
            raise WeightsError(f"{url} is not {article} {cls.what}: {where.repo_id} has no {folder}/{cls.meta_name}"
                               " (or it is not in the local cache)")
        return root / folder

    @classmethod
    def resolve(cls, source: str | Path) -> Path:
        """A source → the local folder holding both files (downloaded from the Hub when needed): ``hf://…``, a
        registry name ``<generator>[/<name>]`` (shipped, else where ``hub_fallback`` says), or a local folder."""
        text = str(source)
        if isinstance(source, str) and text.startswith("hf://"):
            return cls.from_hub(text)
        name, _, item = text.partition("/")
        if isinstance(source, str) and name in registry.GENERATORS and not Path(text).expanduser().exists():
            item = item or cls.default_name(name)
            if "/" in item or item in (".", ".."):
                raise ContraCLIPError(f"{text!r}: write a registry {cls.what} as <generator>/<name>")
            for folder in cls.shipped(name):
                if folder.name == item or not item:
                    return folder
            remote = cls.hub_fallback(name, item)
            if remote is None:
                raise ContraCLIPError(f"no shipped {cls.what} {item!r} for {name!r}")
            return cls.resolve(remote)
        return hub.resolve(source, what=f"the {cls.what}")

    @classmethod
    def from_pretrained(cls, source: str | Path, generator: Generator | None = None, *,
                        generator_name: str | None = None, device: str | torch.device = "cpu") -> "Artefact":
        """Load from a registry name, ``hf://…`` or a local folder, ready to use (eval mode, no gradients). With
        ``generator``, check that it fits (latent space, code shape); with ``generator_name`` (a registry name),
        also that it was trained on that generator."""
        loaded = cls.load(cls.resolve(source), device=device)
        if generator is not None:
            loaded.check_fits(generator, str(source), generator_name)
        elif generator_name is not None and not same_generator(loaded.generator, generator_name):
            raise WeightsError(f"{source} was trained on {loaded.generator!r}, not on {generator_name!r}")
        return loaded
