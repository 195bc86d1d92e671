"""Path files: one trained set of ContraCLIP paths = ``paths.safetensors`` + ``paths.json`` in one folder.

The safetensors file holds the latent support sets (support vectors, log-widths, α); the JSON holds everything a
reader needs to use or reproduce them: dipoles, generator, latent space and layers, truncation, every
hyperparameter, iterations done, metrics, creation time. Loading checks that the paths fit the generator.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import WeightsError
from .generators.base import Generator
from .generators.formats import read_weights
from .generators.loading import _atomic_write_bytes
from .paths import LatentSupportSets, LatentView, LinearPaths

WEIGHTS_NAME = "paths.safetensors"
META_NAME = "paths.json"
FORMAT_VERSION = 1


@dataclass
class PathSet:
    """Trained paths with their metadata."""

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

    def check_fits(self, generator: Generator, source: str = "this path set") -> None:
        """Raise ``WeightsError`` unless these paths can move codes of ``generator``."""
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
            "settings": self.settings,
            "iterations": self.iterations,
            "metrics": self.metrics,
            "created": self.created,
        }

    def save(self, folder: str | Path) -> Path:
        """Write both files atomically (temp file + rename); the weights first, so a folder with a JSON is whole."""
        from safetensors.torch import save

        folder = Path(folder)
        state = {k: v.detach().cpu().float().contiguous() for k, v in self.lss.state_dict().items()}
        _atomic_write_bytes(folder / WEIGHTS_NAME, save(state))
        _atomic_write_bytes(folder / META_NAME, (json.dumps(self.metadata(), indent=1) + "\n").encode())
        return folder

    @classmethod
    def load(cls, folder: str | Path, generator: Generator | None = None, device: str | torch.device = "cpu") -> "PathSet":
        """Read a path folder; with ``generator``, also check that the paths fit it."""
        folder = Path(folder)
        meta_path, weights_path = folder / META_NAME, folder / WEIGHTS_NAME
        if not meta_path.is_file() or not weights_path.is_file():
            raise WeightsError(f"{folder} is not a path set: it needs {META_NAME} and {WEIGHTS_NAME}")
        try:
            meta = json.loads(meta_path.read_text())
            dipoles = [(str(a), str(b)) for a, b in meta["dipoles"]]
            num_paths, num_pairs = int(meta["num_paths"]), int(meta["num_pairs"])
            latent_shape = tuple(int(s) for s in meta["latent_shape"])
            space, layers = str(meta["space"]), int(meta["layers"])
            method = str(meta.get("method", "contraclip"))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
            raise WeightsError(f"{meta_path} is not a valid path-set description: {type(e).__name__}: {e}") from e
        if len(dipoles) != num_paths:
            raise WeightsError(f"{meta_path}: {len(dipoles)} dipoles but num_paths = {num_paths}")
        view = LatentView(space, latent_shape, layers)
        state = read_weights(weights_path)
        if method == "linear":
            lss: LatentSupportSets | LinearPaths = LinearPaths(num_paths, view.dim)
        elif method == "contraclip":
            lss = LatentSupportSets(num_paths, num_pairs, view.dim, torch.ones(num_paths))
        else:
            raise WeightsError(f"{meta_path}: unknown method {method!r} (expected 'contraclip' or 'linear')")
        expected = lss.state_dict()
        for key, tensor in expected.items():
            if key not in state or tuple(state[key].shape) != tuple(tensor.shape):
                got = tuple(state[key].shape) if key in state else "missing"
                raise WeightsError(f"{weights_path}: {key!r} is {got}, expected {tuple(tensor.shape)}")
        lss.load_state_dict({k: state[k] for k in expected})
        lss = lss.to(device).eval().requires_grad_(False)
        paths = cls(lss=lss, dipoles=dipoles, generator=str(meta["generator"]), space=space, layers=layers,
                    truncation=float(meta.get("truncation", 1.0)), latent_shape=latent_shape,
                    settings=dict(meta.get("settings", {})), iterations=int(meta.get("iterations", 0)),
                    metrics=dict(meta.get("metrics", {})), created=str(meta.get("created", "")),
                    name=str(meta.get("name", "")))
        if generator is not None:
            paths.check_fits(generator, str(folder))
        return paths
