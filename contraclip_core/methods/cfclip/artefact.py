"""Edit-model files: one trained CF-CLIP mapper = ``edit.safetensors`` + ``edit.json`` in one folder.

The safetensors file holds the mapper's weights; the JSON holds what a reader needs to use or reproduce it:
generator, latent space and code shape, truncation, CLIP model, target sentences (the text conditioning), source
class and templates, the mapper's architecture, every training setting, iterations, metrics, creation time. Loading
validates every field and checks the mapper fits the generator, like ``PathSet``.

Sources (``EditSet.from_pretrained``): a registry name ``<generator>/<name>`` (shipped under
``checkpoints/<generator folder>/edits/<name>``), ``hf://org/repo[@revision]/folder``, or a local folder.
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
from .model import TEXT_INPUTS, MapperConfig, TextConditionedMapper, text_input, text_table

WEIGHTS_NAME = "edit.safetensors"
META_NAME = "edit.json"
FORMAT_VERSION = 1
METHOD = "cf-clip"
MAX_SIDE = 1 << 16  # most entries of one mapper dimension
MAX_TARGETS = 4096  # target sentences one edit model may hold


def codes_of(latent: torch.Tensor, space: str) -> torch.Tensor:
    """A latent batch as per-style-input codes (B, L, D): W+ as it is, Z and W as one row."""
    return latent if space == "w+" else latent.unsqueeze(1)


@dataclass
class EditSet(Artefact):
    """A trained text-conditioned mapper with its metadata."""

    kind: ClassVar[str] = "edit"
    what: ClassVar[str] = "edit model"
    weights_name: ClassVar[str] = WEIGHTS_NAME
    meta_name: ClassVar[str] = META_NAME
    shipped_folder: ClassVar[str] = "edits"

    mapper: TextConditionedMapper
    generator: str  # registry name (or source) of the generator it was trained on
    space: str  # "z", "w" or "w+"
    truncation: float  # ψ of the codes it was trained on
    latent_shape: tuple[int, ...]  # one code's shape in that space, checked against the generator
    clip: str  # registry name of the CLIP model that embeds the sentences
    targets: list[str]  # the target sentences it was trained on (the text conditioning)
    source_class: str = ""  # the neutral domain description of CLIP-NCE's negatives
    text_input: str = "embedding"  # what the mapper reads: one of model.TEXT_INPUTS
    templates: list[str] = field(default_factory=lambda: ["{}"])  # prompt templates sentences are averaged over
    settings: dict[str, Any] = field(default_factory=dict)  # every training hyperparameter
    iterations: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    name: str = ""

    def text_embedding(self, clip: Any, sentence: str) -> torch.Tensor:
        """The mapper's text input for ``sentence`` (``model.text_input`` of its template-averaged CLIP embedding),
        (1, E)."""
        source = text_table(clip, [self.source_class], self.templates) if self.text_input != "embedding" else None
        text = text_input(text_table(clip, [sentence], self.templates), source, self.text_input)  # (1, E)
        if text.shape[1] != self.mapper.config.text_dim:
            raise WeightsError(f"the CLIP model gives {text.shape[1]}-d text embeddings; this edit model needs "
                               f"{self.mapper.config.text_dim}-d ones ({self.clip!r})")
        return text

    @torch.no_grad()
    def edit(self, latent: torch.Tensor, text: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """Edited latent codes, same shape as ``latent``: w + strength·λ·Δw(w, text)."""
        param = next(self.mapper.parameters())
        codes = codes_of(latent.to(param), self.space)
        return self.mapper(codes, text.to(param), strength).reshape(latent.shape)

    def metadata(self) -> dict[str, Any]:
        return {**self.kind_metadata(), "format_version": FORMAT_VERSION, "method": METHOD, "name": self.name, "generator": self.generator,
                "space": self.space, "truncation": self.truncation, "latent_shape": list(self.latent_shape),
                "clip": self.clip, "targets": list(self.targets), "source_class": self.source_class,
                "text_input": self.text_input,
                "templates": list(self.templates), "mapper": asdict(self.mapper.config), "settings": self.settings,
                "iterations": self.iterations, "metrics": self.metrics, "created": self.created}

    def tensors(self) -> dict[str, torch.Tensor]:
        return self.mapper.state_dict()

    @classmethod
    def load(cls, folder: str | Path, generator: Generator | None = None, device: str | torch.device = "cpu") -> "EditSet":
        """Read an edit folder, validating every field; with ``generator``, also check that it fits."""
        f, weights_path = cls.read_description(folder)
        try:
            f.text("method", choices=(METHOD,), default=METHOD)
            values = cls.common(f)
            m = f.sub("mapper")
            positive = dict(lo=1, hi=MAX_SIDE, integer=True)
            mapper_cfg = MapperConfig(
                latent_dim=m.number("latent_dim", **positive), text_dim=m.number("text_dim", **positive),
                num_layers=m.number("num_layers", **positive), depth=m.number("depth", lo=1, hi=64, integer=True),
                lr_mul=m.number("lr_mul", 1e-9, 1e6), residual_scale=m.number("residual_scale", 1e-9, 1e6),
                coarse_end=m.number("coarse_end", 0, MAX_SIDE, integer=True, default=4),
                medium_end=m.number("medium_end", 0, MAX_SIDE, integer=True, default=8),
                text_skip=m.flag("text_skip", default=False), skip_lr_mul=m.number("skip_lr_mul", 1e-9, 1e6, default=0.01),
                gate_rank=m.number("gate_rank", 0, MAX_SIDE, integer=True, default=0))
            values.update(clip=f.text("clip", max_chars=1000, nonempty=True),
                          targets=f.sentences("targets", min_len=1, max_len=MAX_TARGETS),
                          source_class=f.text("source_class", max_chars=1000, default=""),
                          templates=f.sentences("templates", min_len=1, max_len=64, default=["{}"]),
                          text_input=f.text("text_input", choices=TEXT_INPUTS, default="embedding"))
        except RecordError as e:
            raise WeightsError(f"not a valid edit-model description: {e}") from e
        meta_path, space, latent_shape = Path(folder) / META_NAME, values["space"], values["latent_shape"]
        expected_layers = latent_shape[0] if space == "w+" else 1
        if mapper_cfg.num_layers != expected_layers or mapper_cfg.latent_dim != latent_shape[-1]:
            raise WeightsError(f"{meta_path}: the mapper ({mapper_cfg.num_layers} × {mapper_cfg.latent_dim}) does "
                               f"not match the {space!r} code shape {latent_shape}")
        if any("{}" not in t for t in values["templates"]):
            raise WeightsError(f"{meta_path}: every template needs a {{}} where the sentence goes")
        mapper = TextConditionedMapper(mapper_cfg)
        mapper.load_state_dict(cls.checked_state(weights_path, mapper.state_dict(), exact=True))
        edit_set = cls(mapper=mapper.to(device).eval().requires_grad_(False), **values)
        if generator is not None:
            edit_set.check_fits(generator, str(folder))
        return edit_set
