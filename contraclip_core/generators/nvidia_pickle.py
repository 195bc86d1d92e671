"""Read NVIDIA StyleGAN2-ADA snapshot pickles (``network-snapshot-*.pkl``) without running anything they contain.

NVIDIA's networks are "persistent" classes: each pickled network carries its Python source (``module_src``) and is
rebuilt by ``torch_utils.persistence._reconstruct_persistent_obj``, which executes that source. We never do: a
restricted unpickler maps the handful of globals such a snapshot uses onto harmless stand-ins, and every other global
— ``os.system``, ``builtins.eval``, ``subprocess.*``, any class's ``__reduce__`` — stops unpickling with a
``WeightsError``. ``torch_utils`` and ``dnnlib`` are never imported, ``module_src`` is never executed (it is kept only
as text), and tensor storages are rebuilt by ``torch.load(weights_only=True)``.

A persistent network becomes an ``NvidiaModule`` (class name, constructor arguments, parameters, buffers and child
modules), and only classes of NVIDIA's StyleGAN2-ADA / StyleGAN3 networks are accepted.
"""
from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightsError

# Classes of NVIDIA's training/networks.py (StyleGAN2-ADA), training/networks_stylegan3.py and training/augment.py.
# A StyleGAN3 or discriminator-only pickle is read and then refused with a sentence by the converter.
KNOWN_CLASSES = frozenset({
    "Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer",
    "FullyConnectedLayer", "Conv2dLayer", "Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue",
    "MinibatchStdLayer", "SynthesisInput", "AugmentPipe",
})
MAGIC_MARKERS = (b"torch_utils.persistence", b"_reconstruct_persistent_obj")


@dataclass
class NvidiaModule:
    """A pickled NVIDIA network, as data: nothing of its class was imported or executed."""

    class_name: str
    init_args: tuple = ()
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, torch.Tensor] = field(default_factory=dict)
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)
    modules: dict[str, "NvidiaModule"] = field(default_factory=dict)

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and buffers of this module and its children, named as ``nn.Module.state_dict`` names them."""
        out = {prefix + k: v for k, v in {**self.parameters, **self.buffers}.items() if v is not None}
        for name, child in self.modules.items():
            if child is not None:
                out.update(child.state_dict(f"{prefix}{name}."))
        return out

    def walk(self):
        yield self
        for child in self.modules.values():
            if child is not None:
                yield from child.walk()


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a dict with attribute access); only its items are kept."""

    def __setstate__(self, state: Any) -> None:  # BUILD: an EasyDict pickles an (empty) instance __dict__
        pass


def _refuse(what: str) -> WeightsError:
    return WeightsError(f"{what}; nothing in the file was run.")


def _tensor_dict(value: Any, what: str) -> dict[str, torch.Tensor]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) or v is None for v in value.values()):
        raise _refuse(f"refused this NVIDIA pickle: {what} is not a dict of tensors")
    return dict(value)


def _persistent_object(meta: Any) -> NvidiaModule:
    """Replaces ``_reconstruct_persistent_obj``: keep the network's state, never its source code."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise _refuse("refused this NVIDIA pickle: a persistent object is not a pickled class instance")
    class_name = meta.get("class_name")
    if class_name not in KNOWN_CLASSES:
        raise _refuse(
            f"refused this NVIDIA pickle: it holds a persistent object of class {class_name!r}, which is not one of "
            f"NVIDIA's StyleGAN networks ({', '.join(sorted(KNOWN_CLASSES))})"
        )
    state = meta["state"]
    modules = state.get("_modules") or {}
    if not isinstance(modules, dict) or not all(isinstance(m, NvidiaModule) or m is None for m in modules.values()):
        raise _refuse(f"refused this NVIDIA pickle: {class_name} has a child module that is not an NVIDIA network")
    init_args, init_kwargs = state.get("_init_args", ()), state.get("_init_kwargs", {})
    if not isinstance(init_args, (tuple, list)) or not isinstance(init_kwargs, dict):
        raise _refuse(f"refused this NVIDIA pickle: {class_name} has malformed constructor arguments")
    return NvidiaModule(
        class_name=class_name,
        init_args=tuple(init_args),
        init_kwargs=dict(init_kwargs),
        parameters=_tensor_dict(state.get("_parameters"), f"{class_name}._parameters"),
        buffers=_tensor_dict(state.get("_buffers"), f"{class_name}._buffers"),
        modules=dict(modules),
    )


def _storage_from_bytes(data: Any) -> Any:
    """Replaces ``torch.storage._load_from_bytes``: the bytes are a ``torch.save``d storage, read with weights_only."""
    if not isinstance(data, (bytes, bytearray)):
        raise _refuse("refused this NVIDIA pickle: a tensor storage is not stored as bytes")
    try:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise _refuse(f"refused this NVIDIA pickle: a tensor storage holds more than tensor data ({e})") from e
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise _refuse(f"refused this NVIDIA pickle: a tensor storage decoded to {type(storage).__name__}")
    return storage


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *_ignored: Any) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` without requires_grad, backward hooks or metadata."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise _refuse("refused this NVIDIA pickle: a tensor is built from something that is not a storage")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, collections.OrderedDict())


def _rebuild_parameter(data: Any, *_ignored: Any) -> torch.Tensor:
    """``torch._utils._rebuild_parameter``, keeping the tensor only (no hooks are attached)."""
    if not isinstance(data, torch.Tensor):
        raise _refuse("refused this NVIDIA pickle: a parameter wraps something that is not a tensor")
    return data


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar`` for plain (non-object) dtypes: the value decoded from its bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise _refuse("refused this NVIDIA pickle: a numpy scalar is not plain numeric data")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str):
        raise _refuse("refused this NVIDIA pickle: a numpy dtype is not named by a string")
    dtype = np.dtype(spec)
    if dtype.hasobject:
        raise _refuse("refused this NVIDIA pickle: it asks for a numpy object dtype")
    return dtype


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _refuse(
                f"refused this NVIDIA pickle: it asks for {module}.{name}, which is not one of the globals a "
                "StyleGAN2-ADA snapshot uses (unpickling it could run code)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise _refuse("refused this NVIDIA pickle: it refers to persistent ids, which NVIDIA snapshots never use")


def looks_like_nvidia_pickle(path: str | Path) -> bool:
    """Whether the file starts like an NVIDIA snapshot (a raw pickle naming ``torch_utils.persistence``)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    return head[:1] == b"\x80" and any(marker in head for marker in MAGIC_MARKERS)


def load_nvidia_pickle(path: str | Path) -> Any:
    """Unpickle an NVIDIA snapshot with the restricted unpickler; raise ``WeightsError`` with a sentence if refused."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f).load()
    except WeightsError as e:
        raise WeightsError(f"{path.name}: {e}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, OSError, MemoryError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WeightsError(
            f"{path.name} could not be read as an NVIDIA pickle (truncated or corrupted?): {detail}. Download it again."
        ) from None
