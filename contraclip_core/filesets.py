"""The two-file layout every saved artefact shares — a path set, a mapper, an edit model, a generator folder: a JSON
description beside a safetensors file, written atomically and weights first (so a folder with a JSON is whole), and
read only when both files are there."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from .errors import WeightsError
from .generators.loading import _atomic_write_bytes


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
