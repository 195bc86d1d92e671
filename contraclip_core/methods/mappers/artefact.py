"""Mapper files: one trained mapper = ``mapper.safetensors`` + ``mapper.json`` in one folder (mirrors ``PathSet``).

The JSON holds what a reader needs to use or reproduce the mapper: objective, generator, latent space and shape,
CLIP model and its embedding size, network shape, every training setting, iterations, metrics, creation time.
Loading validates the JSON and every tensor's shape, and ``check_fits`` refuses another generator's mapper.

Sources (``MapperSet.from_pretrained``): a local folder; ``hf://org/repo[@rev]/folder``; or a registry name
``<generator>/<mapper>`` for a mapper shipped in ``checkpoints/<…>/mappers/<mapper>``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...artefact import Artefact
from ...errors import RecordError, WeightsError
from ...generators.base import Generator
from .model import LatentMapper, MapperConfig

WEIGHTS_NAME = "mapper.safetensors"
META_NAME = "mapper.json"
FORMAT_VERSION = 1
OBJECTIVES = ("clip2gan", "csla")


@dataclass
class MapperSet(Artefact):
    """A trained mapper with its metadata."""

    kind: ClassVar[str] = "mapper"
    what: ClassVar[str] = "mapper"
    weights_name: ClassVar[str] = WEIGHTS_NAME
    meta_name: ClassVar[str] = META_NAME
    shipped_folder: ClassVar[str] = "mappers"

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

    def metadata(self) -> dict[str, Any]:
        return {
            **self.kind_metadata(), "format_version": FORMAT_VERSION, "name": self.name, "objective": self.objective,
            "generator": self.generator, "space": self.space, "latent_shape": list(self.latent_shape),
            "clip": self.clip, "truncation": self.truncation, "network": asdict(self.mapper.config),
            "settings": self.settings, "iterations": self.iterations, "metrics": self.metrics, "created": self.created,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        return self.mapper.state_dict()

    @classmethod
    def load(cls, folder: str | Path, generator: Generator | None = None, device: str | torch.device = "cpu") -> "MapperSet":
        """Read a mapper folder (validating the JSON and every tensor); with ``generator``, check that it fits."""
        f, weights_path = cls.read_description(folder)
        try:
            values = cls.common(f)
            values.update(objective=f.text("objective", choices=OBJECTIVES), clip=f.text("clip", max_chars=1000,
                                                                                         nonempty=True))
            net = f.sub("network")
            config = MapperConfig(clip_dim=net.number("clip_dim", 1, 1 << 16, integer=True),
                                  latent_dim=net.number("latent_dim", 1, 1 << 24, integer=True),
                                  hidden=net.number("hidden", 1, 8192, integer=True),
                                  depth=net.number("depth", 1, 64, integer=True), residual=net.flag("residual"))
        except RecordError as e:
            raise WeightsError(f"not a valid mapper description: {e}") from e
        flat = 1
        for side in values["latent_shape"]:
            flat *= side
        if flat != config.latent_dim:
            raise WeightsError(f"{Path(folder) / META_NAME}: latent_shape {values['latent_shape']} does not match "
                               f"latent_dim {config.latent_dim}")
        mapper = LatentMapper(config)
        mapper.load_state_dict(cls.checked_state(weights_path, mapper.state_dict()))
        result = cls(mapper=mapper.to(device).eval().requires_grad_(False), **values)
        if generator is not None:
            result.check_fits(generator, str(folder))
        return result
