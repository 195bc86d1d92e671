"""Edit-model files: one trained CF-CLIP mapper = ``edit.safetensors`` + ``edit.json`` in one folder.

The safetensors file holds the mapper's weights; the JSON holds what a reader needs to use or reproduce it:
generator, latent space and code shape, truncation, CLIP model, target sentences (the text conditioning), source
class and templates, the mapper's architecture, every training setting, iterations, metrics, creation time. Loading
validates every field and checks the mapper fits the generator, like ``PathSet``.

Sources (``EditSet.from_pretrained``): a registry name ``<generator>/<name>`` (shipped under
``checkpoints/<generator folder>/edits/<name>``), ``hf://org/repo[@revision]/folder``, or a local folder.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from .. import hub, registry
from ..errors import ContraCLIPError, WeightsError
from ..generators.base import Generator
from ..generators.formats import read_weights
from ..filesets import SavedPair, from_hub, require_pair
from ..pathset import same_generator
from .model import MapperConfig, TextConditionedMapper

WEIGHTS_NAME = "edit.safetensors"
META_NAME = "edit.json"
FORMAT_VERSION = 1
METHOD = "cf-clip"
SHIPPED = hub.PROJECT_ROOT / "checkpoints"  # shipped edit models: checkpoints/<generator folder>/edits/<name>/


def codes_of(latent: torch.Tensor, space: str) -> torch.Tensor:
    """A latent batch as per-style-input codes (B, L, D): W+ as it is, Z and W as one row."""
    return latent if space == "w+" else latent.unsqueeze(1)


@dataclass
class EditSet(SavedPair):
    """A trained text-conditioned mapper with its metadata."""

    weights_name: ClassVar[str] = WEIGHTS_NAME
    meta_name: ClassVar[str] = META_NAME

    mapper: TextConditionedMapper
    generator: str  # registry name (or source) of the generator it was trained on
    space: str  # "z", "w" or "w+"
    truncation: float  # ψ of the codes it was trained on
    latent_shape: tuple[int, ...]  # one code's shape in that space, checked against the generator
    clip: str  # registry name of the CLIP model that embeds the sentences
    targets: list[str]  # the target sentences it was trained on (the text conditioning)
    source_class: str = ""  # the neutral domain description of CLIP-NCE's negatives
    text_input: str = "embedding"  # what the mapper reads: "embedding" (t̄) or "direction" (n(t̄ − t̄_source))
    templates: list[str] = field(default_factory=lambda: ["{}"])  # prompt templates sentences are averaged over
    settings: dict[str, Any] = field(default_factory=dict)  # every training hyperparameter
    iterations: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    name: str = ""

    def check_fits(self, generator: Generator, source: str = "this edit model", generator_name: str | None = None) -> None:
        """Raise ``WeightsError`` unless this mapper can edit codes of ``generator`` (and, given a registry name,
        was trained on that generator)."""
        if generator_name is not None and not same_generator(self.generator, generator_name):
            raise WeightsError(f"{source} was trained on {self.generator!r}, not on {generator_name!r}; "
                               "pick an edit model made for this generator, or train one.")
        if self.space not in generator.spaces:
            raise WeightsError(f"{source} edits {self.space!r} codes, which the generator does not have "
                               f"(it has {list(generator.spaces)}).")
        shape = tuple(generator.latent_shape(self.space))
        if shape != tuple(self.latent_shape):
            raise WeightsError(f"{source} was trained for {self.space!r} codes of shape {tuple(self.latent_shape)}, "
                               f"but this generator's are {shape}.")

    def text_embedding(self, clip: Any, sentence: str) -> torch.Tensor:
        """The mapper's text input for ``sentence``: its template-averaged normalised CLIP embedding, (1, E)."""
        from .train import text_table

        text = text_table(clip, [sentence], self.templates)  # (1, E)
        if self.text_input == "direction":
            source = text_table(clip, [self.source_class], self.templates)
            text = F.normalize(text - source, dim=-1)
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
        return {"format_version": FORMAT_VERSION, "method": METHOD, "name": self.name, "generator": self.generator,
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
        folder = Path(folder)
        meta_path, weights_path = require_pair(folder, META_NAME, WEIGHTS_NAME, "an edit model")
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("method", METHOD) != METHOD:
                raise ValueError(f"method {meta.get('method')!r} is not {METHOD!r}")
            known = {f.name for f in fields(MapperConfig)}
            mapper_cfg = MapperConfig(**{k: v for k, v in dict(meta["mapper"]).items() if k in known})
            for name in ("latent_dim", "text_dim", "num_layers", "depth"):
                if not isinstance(getattr(mapper_cfg, name), int) or getattr(mapper_cfg, name) < 1:
                    raise ValueError(f"mapper.{name} must be a positive whole number")
            for name in ("lr_mul", "skip_lr_mul", "residual_scale"):
                value = getattr(mapper_cfg, name)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
                    raise ValueError(f"mapper.{name} must be a positive number")
            if not isinstance(mapper_cfg.text_skip, bool):
                raise ValueError("mapper.text_skip must be true or false")
            space = str(meta["space"])
            latent_shape = tuple(int(s) for s in meta["latent_shape"])
            targets = [str(t) for t in meta["targets"]]
            templates = [str(t) for t in meta.get("templates", ["{}"])]
            values = dict(generator=str(meta["generator"]), space=space, truncation=float(meta["truncation"]),
                          latent_shape=latent_shape, clip=str(meta["clip"]), targets=targets,
                          source_class=str(meta.get("source_class", "")), templates=templates,
                          text_input=str(meta.get("text_input", "embedding")),
                          settings=dict(meta.get("settings", {})), iterations=int(meta.get("iterations", 0)),
                          metrics=dict(meta.get("metrics", {})), created=str(meta.get("created", "")),
                          name=str(meta.get("name", "")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError, AttributeError) as e:
            raise WeightsError(f"{meta_path} is not a valid edit-model description: {type(e).__name__}: {e}") from e
        if space not in ("z", "w", "w+"):
            raise WeightsError(f"{meta_path}: unknown latent space {space!r}")
        if values["text_input"] not in ("embedding", "direction"):
            raise WeightsError(f"{meta_path}: unknown text_input {values['text_input']!r}")
        expected_layers = latent_shape[0] if space == "w+" else 1
        if not latent_shape or min(latent_shape) < 1 or mapper_cfg.num_layers != expected_layers \
                or mapper_cfg.latent_dim != latent_shape[-1]:
            raise WeightsError(f"{meta_path}: the mapper ({mapper_cfg.num_layers} × {mapper_cfg.latent_dim}) does "
                               f"not match the {space!r} code shape {latent_shape}")
        if not targets or any("{}" not in t for t in templates) or not templates:
            raise WeightsError(f"{meta_path}: needs at least one target sentence and templates with a {{}}")
        mapper = TextConditionedMapper(mapper_cfg)
        state = read_weights(weights_path)
        expected = mapper.state_dict()
        for key, tensor in expected.items():
            if key not in state or tuple(state[key].shape) != tuple(tensor.shape):
                got = tuple(state[key].shape) if key in state else "missing"
                raise WeightsError(f"{weights_path}: {key!r} is {got}, expected {tuple(tensor.shape)}")
        extra = sorted(set(state) - set(expected))
        if extra:
            raise WeightsError(f"{weights_path}: holds weights the described mapper does not have ({extra[0]!r}, "
                               f"{len(extra)} in all); {META_NAME} does not describe this file")
        mapper.load_state_dict({k: state[k] for k in expected})
        edit_set = cls(mapper=mapper.to(device).eval().requires_grad_(False), **values)
        if generator is not None:
            edit_set.check_fits(generator, str(folder))
        return edit_set

    @classmethod
    def from_pretrained(cls, source: str | Path, generator: Generator | None = None, *,
                        generator_name: str | None = None, device: str | torch.device = "cpu") -> "EditSet":
        """Load from a registry name, ``hf://…`` or a local folder; with ``generator`` (and ``generator_name``)
        check that it fits (and was trained on that generator)."""
        edit_set = cls.load(resolve(source), device=device)
        if generator is not None:
            edit_set.check_fits(generator, str(source), generator_name)
        elif generator_name is not None and not same_generator(edit_set.generator, generator_name):
            raise WeightsError(f"{source} was trained on {edit_set.generator!r}, not on {generator_name!r}")
        return edit_set


def shipped_edits(generator_name: str | None = None) -> list[Path]:
    """Folders of the edit models that ship with the project (for one generator, or all)."""
    folders = [p.parent for p in sorted(SHIPPED.glob(f"*/edits/*/{META_NAME}"))]
    if generator_name is None:
        return folders
    out = []
    for folder in folders:
        try:
            gen = str(json.loads((folder / META_NAME).read_text())["generator"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if same_generator(gen, generator_name):
            out.append(folder)
    return out


def resolve(source: str | Path) -> Path:
    """An edit-model source → the local folder holding its two files (downloaded from the Hub when needed)."""
    text = str(source)
    if isinstance(source, str) and text.startswith("hf://"):
        return from_hub(text, META_NAME, WEIGHTS_NAME, "edit model")
    name, _, edit_name = text.partition("/")
    if isinstance(source, str) and name in registry.GENERATORS and not Path(text).expanduser().exists():
        for folder in shipped_edits(name):
            if folder.name == edit_name:
                return folder
        raise ContraCLIPError(f"no shipped edit model {edit_name!r} for {name!r}")
    return hub.resolve(source, what="the edit model")
