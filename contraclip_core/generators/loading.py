"""``from_pretrained`` / ``save_pretrained`` for every generator.

Our format is a folder holding ``config.json`` (``{"arch": ..., "config": {...}}``, the architecture's config
dataclass as a dict) and ``model.safetensors``. Foreign checkpoints (rosinality StyleGAN2, NVIDIA StyleGAN2-ADA
pickles, genforce ProgGAN) are converted once into that format and cached under ``$CONTRACLIP_HOME/converted``
(default ``~/.cache/contraclip/converted``), keyed by the source file and what the caller said about it. Their
architecture, layout and config are read from the checkpoint itself (``inference``) unless the caller gives them.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from .. import hub, registry
from ..atomic import atomic_write_bytes
from ..errors import ContraCLIPError, UnknownNameError, WeightsError
from .base import Generator
from .formats import check_finite, check_state_dict, read_weights

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1
DEFAULT_LAYOUTS = {"stylegan2": "rosinality", "pggan": "genforce"}  # used when a layout can be neither given nor read


def arch_class(arch: str) -> type[Generator]:
    """The generator class registered for an architecture name."""
    from .pggan import PGGANGenerator
    from .stylegan2 import StyleGAN2Generator

    archs: dict[str, type[Generator]] = {"stylegan2": StyleGAN2Generator, "pggan": PGGANGenerator}
    try:
        from .shapes import ShapesGenerator

        archs["shapes"] = ShapesGenerator
    except ImportError:  # pragma: no cover - the Shapes world is optional until it lands
        pass
    if arch not in archs:
        raise ContraCLIPError(f"unknown generator architecture {arch!r}; known: {sorted(archs)}")
    return archs[arch]


def cache_home() -> Path:
    return Path(os.environ.get("CONTRACLIP_HOME", Path.home() / ".cache" / "contraclip")).expanduser()


def build_config(cls: type[Generator], config: dict[str, Any], source: str) -> Any:
    """The arch's config dataclass from a dict, refusing unknown fields by name."""
    config_class = cls.config_class  # type: ignore[attr-defined]
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise WeightsError(f"{source}: config.json has unknown {cls.arch} field(s) {unknown}; known: {sorted(known)}")
    try:
        return config_class(**config)
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{source}: invalid {cls.arch} config: {e}") from e



def save_pretrained(generator: Generator, folder: str | Path) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (fp32 unless the model is in another dtype) atomically."""
    from safetensors.torch import save

    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    meta = {"arch": generator.arch, "format_version": FORMAT_VERSION, "config": asdict(generator.config)}
    atomic_write_bytes(folder / WEIGHTS_NAME, save(state, metadata={"arch": generator.arch}))
    atomic_write_bytes(folder / CONFIG_NAME, (json.dumps(meta, indent=1) + "\n").encode())
    return folder


def _finish(model: Generator, device: str | torch.device, dtype: torch.dtype) -> Generator:
    model = model.to(device=device, dtype=dtype).eval()
    model.requires_grad_(False)
    return model


def load_folder(folder: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> Generator:
    """Load a generator saved by ``save_pretrained``."""
    from ..artefact import (
        require_pair,  # (filesets writes with this module's atomic write)
    )

    folder = Path(folder)
    config_path, weights_path = require_pair(folder, CONFIG_NAME, WEIGHTS_NAME, "a generator folder")
    try:
        meta = json.loads(config_path.read_text())
        arch, config = meta["arch"], meta["config"]
        if not isinstance(config, dict):
            raise TypeError("'config' is not an object")
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{config_path} is not a valid generator config ({e}); expected {{'arch', 'config'}}") from e
    cls = arch_class(arch)
    model = cls(build_config(cls, config, str(config_path)))
    state = read_weights(weights_path)
    check_state_dict(model.state_dict(), state, str(weights_path))
    check_finite(state, str(weights_path))
    model.load_state_dict(state, strict=True)
    return _finish(model, device, dtype)


def _conversion_key(path: Path, arch: str | None, layout: str | None, config: dict[str, Any] | None) -> str:
    stat = path.resolve().stat()
    text = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, arch, layout, config], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def convert_foreign(
    path: Path, *, arch: str, layout: str, config: dict[str, Any], out_dir: Path | None = None, obj: Any = None
) -> Path:
    """Convert a foreign checkpoint into our folder format (once; cached) and return the folder.

    ``obj`` is the file's content when the caller has already read it (``formats.read_weights``)."""
    source = str(path)
    cls = arch_class(arch)
    out_dir = out_dir or cache_home() / "converted" / f"{arch}-{_conversion_key(path, arch, layout, config)}"
    if (out_dir / CONFIG_NAME).is_file() and (out_dir / WEIGHTS_NAME).is_file():
        return out_dir
    model = cls(build_config(cls, config, source))
    obj = read_weights(path) if obj is None else obj
    state = cls.convert_state_dict(obj, layout=layout, source=source)  # type: ignore[attr-defined]
    check_state_dict(model.state_dict(), state, source)
    model.load_state_dict(state, strict=True)
    cls.after_conversion(model)  # type: ignore[attr-defined]  (e.g. a missing latent_avg, estimated)
    check_finite(model.state_dict(), source)
    return save_pretrained(model, out_dir)


def convert_any(
    path: Path,
    *,
    arch: str | None = None,
    layout: str | None = None,
    config: dict[str, Any] | None = None,
    out_dir: Path | None = None,
) -> Path:
    """Convert any supported checkpoint, reading from its tensors whatever the caller did not say; cached.

    What the caller gives wins over what is read (an explicit config is used as is). A file that matches no known
    layout is refused with a sentence naming what was found, unless arch, layout and config are all given."""
    if arch is not None and layout is not None and config is not None:
        return convert_foreign(path, arch=arch, layout=layout, config=config, out_dir=out_dir)
    tag = arch or "auto"
    out_dir = out_dir or cache_home() / "converted" / f"{tag}-{_conversion_key(path, tag, layout, config)}"
    if (out_dir / CONFIG_NAME).is_file() and (out_dir / WEIGHTS_NAME).is_file():
        return out_dir
    from .inference import infer

    obj = read_weights(path)
    try:
        found = infer(obj, path.name)
    except WeightsError:
        if arch is None or config is None:
            raise
        layout = layout or DEFAULT_LAYOUTS.get(arch, "ours")  # arch and config given: let the converter say why
        return convert_foreign(path, arch=arch, layout=layout, config=config, out_dir=out_dir, obj=obj)
    if arch is not None and arch != found.arch:
        raise WeightsError(f"{path.name} is a {found.arch} checkpoint ({found.layout} layout), not {arch}.")
    return convert_foreign(path, arch=found.arch, layout=layout or found.layout,
                           config=found.config if config is None else config, out_dir=out_dir, obj=obj)


def from_pretrained(
    source: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    arch: str | None = None,
    layout: str | None = None,
    config: dict[str, Any] | None = None,
) -> Generator:
    """Load a generator, ready in eval mode with frozen parameters.

    Args:
        source: a registry name (``"shapes"``, ``"stylegan2-ffhq-1024"``…), ``hf://org/repo/path/to/file``, a folder
            in our format, or a foreign checkpoint file: a rosinality StyleGAN2 ``.pt``, an NVIDIA StyleGAN2-ADA
            ``.pkl`` or a genforce ProgGAN state dict, whose architecture, layout and config are read from it.
        device, dtype: where the returned model lives.
        arch: ``"stylegan2"``, ``"pggan"`` or ``"shapes"``; optional, checked against the file.
        layout: ``"rosinality"`` or ``"nvidia"`` (StyleGAN2), ``"genforce"`` (ProgGAN); optional.
        config: the architecture's config fields; optional, and used as is when given.
    """
    what = f"generator {str(source)!r}"
    name = str(source)
    if name in registry.GENERATORS:
        preset = registry.GENERATORS[name]
        what = f"the generator {name!r}"
        source = preset.source
        arch = arch or preset.arch
        layout = layout or preset.layout
        config = config if config is not None else (dict(preset.config) if preset.config else None)
    elif not (name.startswith("hf://") or Path(name).expanduser().exists() or (hub.PROJECT_ROOT / name).exists()):
        if "/" not in name and "\\" not in name and not name.endswith(tuple(registry.WEIGHT_SUFFIXES)):
            raise UnknownNameError(
                f"unknown generator {name!r}; choose one of {sorted(registry.GENERATORS)}, "
                "or give hf://org/repo/path/to/file or a local path"
            )
    path = hub.resolve(source, what=what)
    if path.is_dir():
        return load_folder(path, device=device, dtype=dtype)
    if path.name == WEIGHTS_NAME and (path.parent / CONFIG_NAME).is_file():
        return load_folder(path.parent, device=device, dtype=dtype)
    folder = convert_any(path, arch=arch, layout=layout, config=config)
    return load_folder(folder, device=device, dtype=dtype)
