"""The two-file layout every saved artefact shares — a path set, a mapper, an edit model, a generator folder: a JSON
description beside a safetensors file, written atomically and weights first (so a folder with a JSON is whole), and
read only when both files are there."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch

from . import hub
from .errors import WeightsError
from .generators.loading import _atomic_write_bytes


class SavedPair:
    """What every two-file artefact (path set, mapper, edit model) saves the same way: the class names its two files
    and says what goes in them (``tensors()``, ``metadata()``); ``save`` and ``save_metadata`` write them."""

    weights_name: ClassVar[str]
    meta_name: ClassVar[str]

    def tensors(self) -> Mapping[str, torch.Tensor]:
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, folder: str | Path) -> Path:
        """Write both files atomically (temp file + rename); the weights first, so a folder with a JSON is whole."""
        return save_pair(folder, self.weights_name, self.meta_name, self.tensors(), self.metadata())

    def save_metadata(self, folder: str | Path) -> Path:
        """Rewrite only the JSON (e.g. after adding metrics); the weights file is left as it is."""
        return save_json(folder, self.meta_name, self.metadata())


def save_pair(folder: str | Path, weights_name: str, meta_name: str, state: Mapping[str, torch.Tensor],
              metadata: dict[str, Any]) -> Path:
    """Write ``state`` (as fp32 CPU tensors) to ``weights_name``, then ``metadata`` to ``meta_name``."""
    from safetensors.torch import save

    folder = Path(folder)
    _atomic_write_bytes(folder / weights_name, save({k: v.detach().cpu().float().contiguous()
                                                     for k, v in state.items()}))
    return save_json(folder, meta_name, metadata)


def save_json(folder: str | Path, meta_name: str, metadata: dict[str, Any]) -> Path:
    """Rewrite only the JSON (e.g. after adding metrics); the weights file is left as it is."""
    folder = Path(folder)
    _atomic_write_bytes(folder / meta_name, (json.dumps(metadata, indent=1) + "\n").encode())
    return folder


def require_pair(folder: str | Path, meta_name: str, weights_name: str, what: str) -> tuple[Path, Path]:
    """The two files' paths; ``WeightsError`` saying which are needed when either is missing."""
    folder = Path(folder)
    meta_path, weights_path = folder / meta_name, folder / weights_name
    if not meta_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"{folder} is not {what}: it needs {meta_name} and {weights_name}")
    return meta_path, weights_path


def from_hub(url: str, meta_name: str, weights_name: str, what: str) -> Path:
    """``hf://owner/repo/<folder>`` (or the URL of either file in it) → the local folder holding both files, from the
    Hub or its local cache; ``WeightsError`` when the repository has no such JSON. ``what``: e.g. "path set"."""
    where = hub.parse_hf_url(url)
    folder = where.filename.rstrip("/")
    if folder.endswith((f"/{meta_name}", f"/{weights_name}")):
        folder = folder.rsplit("/", 1)[0]
    root = hub.snapshot(where.repo_id, where.revision, [f"{folder}/{meta_name}", f"{folder}/{weights_name}"],
                        what=f"the {what} {url}")
    if not (root / folder / meta_name).is_file():
        article = "an" if what[0] in "aeiou" else "a"
        raise WeightsError(f"{url} is not {article} {what}: {where.repo_id} has no {folder}/{meta_name}"
                           " (or it is not in the local cache)")
    return root / folder
