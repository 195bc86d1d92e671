"""CF-CLIP's command line: ``python -m contraclip_core cfclip train | edit | publish``.

  python -m contraclip_core cfclip train --sentence "a green shape" [--sentence …] --out runs/green
  python -m contraclip_core cfclip train --vocabulary shapes-captions --out runs/shapes-edits
  python -m contraclip_core cfclip edit runs/green --sentence "a green shape" --seeds 0 1 2 --out runs/green/media
  python -m contraclip_core cfclip publish runs/green --repo you/edits [--dry-run staged/]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ...clip import add_clip_argument
from ...errors import ContraCLIPError
from ...publishing import add_publish_command
from . import publish


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``cfclip train | edit | publish``."""
    group = sub.add_parser("cfclip", help="CF-CLIP edit models: train one, edit seeds toward a sentence, publish",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = group.add_subparsers(dest="cfclip_command", required=True)
    t = commands.add_parser("train", help="train an edit model (resumes from OUT/checkpoint.pt)")
    t.add_argument("--generator", default="shapes-128")
    t.add_argument("--sentence", action="append", default=[], help="a target sentence (repeat for several)")
    t.add_argument("--vocabulary", choices=["shapes-captions"], help="train on the Shapes caption vocabulary")
    t.add_argument("--iterations", type=int)
    add_clip_argument(t)
    t.add_argument("--device", default="cpu")
    t.add_argument("--out", required=True)
    t.set_defaults(run=_train)
    e = commands.add_parser("edit", help="edit seeds toward a sentence: before/after strip and a strength GIF")
    e.add_argument("source", help="edit-model folder, hf://… or <generator>/<name>")
    e.add_argument("--sentence", required=True)
    e.add_argument("--seeds", type=int, nargs="+", default=[0])
    e.add_argument("--frames", type=int, default=8)
    add_clip_argument(e)
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", required=True)
    e.set_defaults(run=_edit)
    add_publish_command(commands, "edit models", publish.stage, publish.publish)


def _train(args: argparse.Namespace) -> int:
    from ...clip import load_clip
    from ...generators import from_pretrained
    from .train import EditTrainer, edit_config
    from .vocab import training_sentences

    targets = training_sentences() if args.vocabulary else [s for s in args.sentence if s.strip()]
    if not targets:
        raise ContraCLIPError("give a target sentence (--sentence \"a green shape\") or --vocabulary")
    config = edit_config(args.generator, targets)
    if args.iterations:
        config.iterations = args.iterations
    if args.clip:
        config.clip = args.clip
    generator = from_pretrained(args.generator, device=args.device)
    trainer = EditTrainer(config, generator, load_clip(config.resolved().clip, device=args.device))
    out = Path(args.out)
    edit_set = trainer.train(checkpoint=out / "checkpoint.pt", progress_bar=True)
    edit_set.name = out.name
    print(edit_set.save(out))
    return 0


def _edit(args: argparse.Namespace) -> int:
    import torch

    from ...clip import load_clip
    from ...generators import from_pretrained
    from ...media import Traversal, save_gif, strip, to_uint8
    from .artefact import EditSet

    edit_set = EditSet.from_pretrained(args.source, device=args.device)
    generator = from_pretrained(edit_set.generator, device=args.device)
    edit_set.check_fits(generator, args.source)
    text = edit_set.text_embedding(load_clip(args.clip or edit_set.clip, device=args.device), args.sentence)
    with torch.no_grad():
        anchor = generator.encode(generator.sample_z(args.seeds), edit_set.space, edit_set.truncation)
        levels = torch.linspace(0, 1, args.frames + 1).tolist()
        latents = torch.stack([edit_set.edit(anchor, text, s) for s in levels], 1)
        images = to_uint8(generator.synthesis(latents.flatten(0, 1), edit_set.space))
    t = Traversal(args.seeds, list(range(len(levels))), latents.cpu(),
                  images.reshape(len(args.seeds), len(levels), *images.shape[1:]), 0, (args.sentence, "unedited"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    strip(t, thumb=min(generator.resolution, 128)).save(out / "strip.png")
    print(save_gif(t, out / "edit.gif", thumb=min(generator.resolution, 256)))
    return 0
