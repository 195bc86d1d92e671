"""Mapper files: one trained mapper = ``mapper.safetensors`` + ``mapper.json`` in one folder (mirrors ``PathSet``).

The JSON holds what a reader needs to use or reproduce the mapper: objective, generator, latent space and shape,
CLIP model and its embedding size, network shape, every training setting, iterations, metrics, creation time.
Loading validates the JSON and every tensor's shape, and ``check_fits`` refuses another generator's mapper.

Sources (``MapperSet.from_pretrained``): a local folder; ``hf://org/repo[@rev]/folder``; or a registry name
``<generator>/<mapper>`` for a mapper shipped in ``checkpoints/<…>/mappers/<mapper>``.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from .. import hub, registry
from ..errors import ContraCLIPError, WeightsError
from ..generators.base import Generator
from ..generators.formats import read_weights
from ..filesets import SavedPair, from_hub, require_pair
from ..pathset import SPACES, same_generator
from .model import LatentMapper, MapperConfig

WEIGHTS_NAME = "mapper.safetensors"
META_NAME = "mapper.json"
FORMAT_VERSION = 1
OBJECTIVES = ("clip2gan", "csla")
SHIPPED = hub.PROJECT_ROOT / "checkpoints"  # shipped mappers: checkpoints/<generator folder>/mappers/<name>/


@dataclass
class MapperSet(SavedPair):
    """A trained mapper with its metadata."""

    weights_name: ClassVar[str] = WEIGHTS_NAME
    meta_name: ClassVar[str] = META_NAME

    mapper: LatentMapper
    objective: str  # "clip2gan" or "csla"
    generator: str  # registry name (or source) of the generator it maps into
    space: str  # "z", "w" or "w+"
    latent_shape: tuple[int, ...]  # one code's shape in that space
    clip: str  # registry name of the CLIP model whose embeddings it reads
    truncation: float = 1.0  # ψ of the training samples
    settings: dict[str, Any] = field(default_factory=dict)  # every training setting
    iterations: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    name: str = ""

    def check_fits(self, generator: Generator, source: str = "this mapper", generator_name: str | None = None) -> None:
        """Raise ``WeightsError`` unless this mapper's codes are codes of ``generator`` (and, with a registry
        ``generator_name``, unless it was trained on that very generator)."""
        if generator_name is not None and not same_generator(self.generator, generator_name):
            raise WeightsError(f"{source} was trained for {self.generator!r}, not for {generator_name!r}; its codes "
                               "mean nothing in another generator's latent space.")
        if self.space not in generator.spaces:
            raise WeightsError(f"{source} maps into the {self.space!r} space, which this generator does not have "
                               f"(it has {list(generator.spaces)}).")
        if tuple(generator.latent_shape(self.space)) != tuple(self.latent_shape):
            raise WeightsError(f"{source} makes {self.space!r} codes of shape {tuple(self.latent_shape)}, but this "
                               f"generator's are {tuple(generator.latent_shape(self.space))}.")

    def metadata(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "kind": "mapper", "name": self.name, "objective": self.objective,
            "generator": self.generator, "space": self.space, "latent_shape": list(self.latent_shape),
            "clip": self.clip, "truncation": self.truncation, "network": asdict(self.mapper.config),
            "settings": self.settings, "iterations": self.iterations, "metrics": self.metrics, "created": self.created,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        return self.mapper.state_dict()

    @classmethod
    def load(cls, folder: str | Path, generator: Generator | None = None, device: str | torch.device = "cpu") -> "MapperSet":
        """Read a mapper folder (validating the JSON and every tensor); with ``generator``, check that it fits."""
        folder = Path(folder)
        meta_path, weights_path = require_pair(folder, META_NAME, WEIGHTS_NAME, "a mapper")
        try:
            meta = json.loads(meta_path.read_text())
            objective, space = str(meta["objective"]), str(meta["space"])
            latent_shape = tuple(int(s) for s in meta["latent_shape"])
            net = meta["network"]
            config = MapperConfig(clip_dim=int(net["clip_dim"]), latent_dim=int(net["latent_dim"]),
                                  hidden=int(net["hidden"]), depth=int(net["depth"]), residual=bool(net["residual"]))
            generator_name, clip = str(meta["generator"]), str(meta["clip"])
            settings, metrics = dict(meta.get("settings", {})), dict(meta.get("metrics", {}))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
            raise WeightsError(f"{meta_path} is not a valid mapper description: {type(e).__name__}: {e}") from e
        if objective not in OBJECTIVES:
            raise WeightsError(f"{meta_path}: unknown objective {objective!r} (expected one of {list(OBJECTIVES)})")
        if space not in SPACES:
            raise WeightsError(f"{meta_path}: unknown latent space {space!r} (expected one of {list(SPACES)})")
        flat = 1
        for s in latent_shape:
            flat *= s
        if not latent_shape or min(latent_shape) < 1 or flat != config.latent_dim:
            raise WeightsError(f"{meta_path}: latent_shape {latent_shape} does not match latent_dim {config.latent_dim}")
        if min(config.clip_dim, config.hidden, config.depth) < 1 or config.hidden > 8192 or config.depth > 64:
            raise WeightsError(f"{meta_path}: implausible network shape {asdict(config)}")
        mapper = LatentMapper(config)
        state = read_weights(weights_path)
        expected = mapper.state_dict()
        for key, tensor in expected.items():
            if key not in state or tuple(state[key].shape) != tuple(tensor.shape):
                got = tuple(state[key].shape) if key in state else "missing"
                raise WeightsError(f"{weights_path}: {key!r} is {got}, expected {tuple(tensor.shape)}")
            if not torch.isfinite(state[key]).all():
                raise WeightsError(f"{weights_path}: {key!r} holds NaN or infinite values")
        mapper.load_state_dict({k: state[k] for k in expected})
        result = cls(mapper=mapper.to(device).eval().requires_grad_(False), objective=objective,
                     generator=generator_name, space=space, latent_shape=latent_shape, clip=clip,
                     truncation=float(meta.get("truncation", 1.0)), settings=settings,
                     iterations=int(meta.get("iterations", 0)), metrics=metrics,
                     created=str(meta.get("created", "")), name=str(meta.get("name", "")))
        if generator is not None:
            result.check_fits(generator, str(folder))
        return result

    @classmethod
    def from_pretrained(cls, source: str | Path, generator: Generator | None = None, *,
                        generator_name: str | None = None, device: str | torch.device = "cpu") -> "MapperSet":
        """Load from a registry name, ``hf://…`` or a folder; check it against ``generator`` / ``generator_name``."""
        result = cls.load(resolve(source), device=device)
        if generator is not None:
            result.check_fits(generator, str(source), generator_name)
        elif generator_name is not None and not same_generator(result.generator, generator_name):
            raise WeightsError(f"{source} was trained for {result.generator!r}, not for {generator_name!r}")
        return result


def _generator_of(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / META_NAME).read_text())["generator"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def shipped_mappers(generator_name: str | None = None) -> list[Path]:
    """Folders of the mappers that ship with the project (for one generator, or all)."""
    folders = [p.parent for p in sorted(SHIPPED.glob(f"*/mappers/*/{META_NAME}"))]
    if generator_name is None:
        return folders
    return [f for f in folders if (g := _generator_of(f)) is not None and same_generator(g, generator_name)]


def resolve(source: str | Path) -> Path:
    """A mapper source → the local folder holding its two files (downloaded from the Hub when needed)."""
    text = str(source)
    if isinstance(source, str) and text.startswith("hf://"):
        return from_hub(text, META_NAME, WEIGHTS_NAME, "mapper")
    name, _, mapper_name = text.partition("/")
    if isinstance(source, str) and name in registry.GENERATORS and not Path(text).expanduser().exists():
        for folder in shipped_mappers(name):
            if folder.name == mapper_name or not mapper_name:
                return folder
        raise ContraCLIPError(f"no shipped mapper {mapper_name!r} for {name!r}")
    return hub.resolve(source, what="the mapper")
