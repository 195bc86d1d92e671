"""Command line: ``python -m contraclip_core <command>``, one command (or group) per method from the method
registry, and ``convert`` for generators.

Examples (the Shapes world works offline):

  python -m contraclip_core train --dipole "a red shape" "a blue shape" --iterations 300 --out runs/red-blue
  python -m contraclip_core traverse runs/red-blue --seeds 0 1 2 --out runs/red-blue/media
  python -m contraclip_core evaluate runs/red-blue
  python -m contraclip_core cfclip train --sentence "a green shape" --out runs/green
  python -m contraclip_core mappers train --objective csla --iterations 400 --out runs/csla
  python -m contraclip_core project --generator shapes-128 --image photo.png --out code.pt
  python -m contraclip_core convert stylegan2-ffhq-1024 --out converted/ffhq
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _add_convert(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("convert", help="convert a generator checkpoint (rosinality .pt, NVIDIA .pkl, genforce) "
                                       "to our safetensors format")
    p.add_argument("source", help="registry name, hf://org/repo/file, or a local file")
    p.add_argument("--out", required=True, help="output folder (config.json + model.safetensors)")
    p.add_argument("--arch", choices=["stylegan2", "pggan"],
                   help="optional: the architecture (read from the file otherwise)")
    p.add_argument("--config", help="optional: the config as JSON (read from the file otherwise), "
                                    "e.g. '{\"size\": 256}'")
    return p


def build_parser() -> argparse.ArgumentParser:
    from .methods.registry import GUESSES, METHODS, TOOLS

    parser = argparse.ArgumentParser(prog="python -m contraclip_core", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for method in METHODS.values():
        method.add_cli(sub)
    for tool in TOOLS.values():  # method packages without a job kind (the projection)
        tool.add_cli(sub, GUESSES)
    _add_convert(sub).set_defaults(run=cmd_convert)
    return parser


def cmd_convert(args: argparse.Namespace) -> None:
    from . import hub, registry
    from .generators.loading import convert_any

    if args.source in registry.GENERATORS:
        preset = registry.GENERATORS[args.source]
        path = hub.resolve(preset.source, what=f"the generator {args.source!r}")
        arch, layout, config = preset.arch, preset.layout, (dict(preset.config) or None)
    else:  # architecture, layout and config are read from the file unless given
        path = hub.resolve(args.source)
        arch, layout, config = args.arch, None, (json.loads(args.config) if args.config else None)
    folder = convert_any(path, arch=arch, layout=layout, config=config, out_dir=Path(args.out))
    print(f"converted {args.source} → {folder}")


def main(argv: list[str] | None = None) -> int:
    from .errors import ContraCLIPError

    args = build_parser().parse_args(argv)
    if argv is None:  # a process of its own (not a caller's): tune malloc for large activations
        from . import allocator

        allocator.tune()
    try:
        return int(args.run(args) or 0)
    except (ContraCLIPError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
