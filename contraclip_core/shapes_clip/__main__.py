"""``python -m contraclip_core.shapes_clip {generator,train,evaluate,examples}``: build, train, measure, illustrate."""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from ..clip import SHAPES_CLIP_DIR
from ..hub import PROJECT_ROOT

GENERATOR_DIR = PROJECT_ROOT / "checkpoints" / "shapes" / "generator"
EXAMPLES_PNG = PROJECT_ROOT / "docs" / "shapes_examples.png"


def _cmd_generator(args: argparse.Namespace) -> None:
    from ..generators.loading import save_pretrained
    from ..generators.shapes import ShapesConfig, ShapesGenerator

    folder = save_pretrained(ShapesGenerator.build(ShapesConfig(seed=args.seed)), args.out)
    print(f"wrote the Shapes generator (seed {args.seed}) to {folder}")


def _cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, train

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    log = train(config, Path(args.out))
    print(f"trained {config.steps} steps in {log['train_seconds']} s ({log['seconds_per_step']} s/step); "
          f"wrote {args.out}")
    if not args.no_eval:
        _cmd_evaluate(argparse.Namespace(clip=args.out, generator=config.generator, images=1000, device="cpu",
                                         seed_start=None))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from ..clip import load_shapes_clip
    from ..generators.loading import from_pretrained
    from .evaluate import EVAL_SEED_START, zero_shot

    clip = load_shapes_clip(device=args.device, folder=args.clip)
    generator = from_pretrained(args.generator, device=args.device)
    start = EVAL_SEED_START if args.seed_start is None else args.seed_start
    result = zero_shot(clip, generator, num_images=args.images, seed_start=start)
    print(f"zero-shot accuracy on {result.num_images} held-out renders (seeds {start}…{start + args.images - 1}):")
    print(result.table())


def _cmd_examples(args: argparse.Namespace) -> None:
    from .examples import make_examples

    path = make_examples(Path(args.out), seeds=args.seeds, clip_folder=Path(args.clip), generator_name=args.generator)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    from .train import TrainConfig, option_help

    parser = argparse.ArgumentParser(prog="python -m contraclip_core.shapes_clip", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generator", help="build the Shapes generator weights from a seed")
    p.add_argument("--seed", type=int, default=0, help="seed of the mapping MLP, heads and normalisation")
    p.add_argument("--out", default=str(GENERATOR_DIR), help="output folder (config.json + model.safetensors)")
    p.set_defaults(func=_cmd_generator)

    p = sub.add_parser("train", help="train the tiny Shapes CLIP contrastively")
    defaults, helps = TrainConfig(), option_help()
    for f in fields(TrainConfig):
        default = getattr(defaults, f.name)
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(default), default=default,
                       help=f"{helps.get(f.name, '')} (default: {default!r})".strip())
    p.add_argument("--out", default=str(SHAPES_CLIP_DIR), help="output folder for the fp16 weights + config")
    p.add_argument("--no-eval", action="store_true", help="skip the zero-shot evaluation after training")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="print the zero-shot accuracy table on held-out renders")
    p.add_argument("--clip", default=str(SHAPES_CLIP_DIR), help="folder of the Shapes CLIP weights")
    p.add_argument("--generator", default="shapes-128", help="Shapes generator (registry name or folder)")
    p.add_argument("--images", type=int, default=2000, help="number of held-out renders")
    p.add_argument("--seed-start", type=int, default=None,
                   help="first render seed (default 1000000, where the held-out seeds start: training draws seeds "
                        "below it; another held-out set, e.g. 1100000)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("examples", help="render example images captioned by the Shapes CLIP")
    p.add_argument("--out", default=str(EXAMPLES_PNG), help="output PNG")
    p.add_argument("--seeds", type=int, nargs="+", default=[1_000_000, 1_000_001, 1_000_002], help="held-out seeds")
    p.add_argument("--clip", default=str(SHAPES_CLIP_DIR), help="folder of the Shapes CLIP weights")
    p.add_argument("--generator", default="shapes-128", help="Shapes generator (registry name or folder)")
    p.set_defaults(func=_cmd_examples)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
