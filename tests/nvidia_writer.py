"""Test helper: write NVIDIA-style snapshot pickles (real or hostile) from ``NvidiaModule`` trees.

The pickles use exactly the globals NVIDIA's own snapshots use (``torch_utils.persistence._reconstruct_persistent_obj``
for each network, torch's tensor/parameter/storage reducers, ``collections.OrderedDict``), so a re-written fixture is
read like the original. Stand-in ``torch_utils.persistence`` / ``dnnlib.util`` modules exist in ``sys.modules`` only
while writing, so pickle can name them; the reader under test never imports them.
"""
from __future__ import annotations

import collections
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from contraclip_core.generators.nvidia_pickle import EasyDict, NvidiaModule


def _reconstruct_persistent_obj(meta):  # never called: only its name is written
    raise AssertionError("the writer's stand-in was called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


class NvEasyDict(dict):
    pass


NvEasyDict.__module__, NvEasyDict.__qualname__ = "dnnlib.util", "EasyDict"


@contextmanager
def _standin_modules():
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = NvEasyDict
    saved = {k: sys.modules.get(k) for k in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")}
    sys.modules.update({"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                        "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class Persistent:
    """Pickles as NVIDIA's persistent classes do: ``_reconstruct_persistent_obj(meta)``."""

    def __init__(self, meta: dict[str, Any]):
        self.meta = meta

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


def to_persistent(module: NvidiaModule, module_src: str = "# NVIDIA network source (never executed)\n",
                  extra_state: dict[str, Any] | None = None) -> Persistent:
    """An NvidiaModule as a persistent object, its state laid out like ``nn.Module.__dict__``."""
    state = {
        "training": False,
        "_parameters": collections.OrderedDict(
            (k, torch.nn.Parameter(v, requires_grad=v.is_floating_point())) for k, v in module.parameters.items()),
        "_buffers": collections.OrderedDict(module.buffers),
        "_modules": collections.OrderedDict((k, to_persistent(m, module_src)) for k, m in module.modules.items()),
        "_init_args": module.init_args,
        "_init_kwargs": NvEasyDict(_plain(module.init_kwargs)),
    } | (extra_state or {})
    return Persistent({"type": "class", "version": 6, "module_src": module_src, "class_name": module.class_name,
                       "state": state})


def _plain(value: Any) -> Any:
    if isinstance(value, EasyDict | dict):
        return NvEasyDict({k: _plain(v) for k, v in value.items()})
    return value


def write_snapshot(path: Path, snapshot: dict[str, Any]) -> Path:
    """``pickle.dump(snapshot)`` with NvidiaModules written as persistent objects (other values as given)."""
    with _standin_modules():
        data = {k: to_persistent(v) if isinstance(v, NvidiaModule) else _plain(v) for k, v in snapshot.items()}
        path.write_bytes(pickle.dumps(data, protocol=4))
    return path
