"""The mappers' command line: ``python -m contraclip_core mappers train | publish``.

  python -m contraclip_core mappers train --objective csla --iterations 400 --out runs/csla
  python -m contraclip_core mappers publish runs/csla --repo you/mappers [--dry-run staged/]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ...clip import add_clip_argument
from ...publishing import add_publish_command
from . import publish


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``mappers train | publish``."""
    from .train import OBJECTIVES

    group = sub.add_parser("mappers", help="CLIP → latent mappers (CLIP2GAN, CSLA): train one data-free, publish",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = group.add_subparsers(dest="mappers_command", required=True)
    t = commands.add_parser("train", help="train a mapper from the generator's own samples (resumes from "
                                          "OUT/checkpoint.pt)")
    t.add_argument("--generator", default="shapes-128")
    t.add_argument("--objective", choices=sorted(OBJECTIVES), default="csla")
    t.add_argument("--iterations", type=int, default=400)
    t.add_argument("--seed", type=int, default=0)
    add_clip_argument(t)
    t.add_argument("--device", default="cpu")
    t.add_argument("--out", required=True, help="folder for the mapper (mapper.safetensors + mapper.json)")
    t.set_defaults(run=_train)
    add_publish_command(commands, "mappers", publish.stage, publish.publish)


def _train(args: argparse.Namespace) -> int:
    from ... import registry
    from ...clip import load_clip
    from ...generators import from_pretrained
    from .train import MapperTrainConfig, MapperTrainer

    config = MapperTrainConfig(objective=args.objective, generator=args.generator, iterations=args.iterations,
                               seed=args.seed, clip=args.clip)
    generator = from_pretrained(args.generator, device=args.device)
    preset = registry.GENERATORS.get(args.generator)
    clip = load_clip(config.clip or (preset.clip if preset else "ViT-B-32/openai"), device=args.device)
    trainer = MapperTrainer(config, generator, clip)
    out = Path(args.out)
    start = time.monotonic()
    result = trainer.train(checkpoint=out / "checkpoint.pt", progress_bar=True)
    result.name = out.name
    result.metrics["train_seconds"] = round(time.monotonic() - start, 1)
    print(result.save(out))
    (out / "checkpoint.pt").unlink(missing_ok=True)  # finished: the mapper is the result
    return 0
