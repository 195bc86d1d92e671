"""ContraCLIP's command line: ``python -m contraclip_core train | traverse | evaluate | publish`` (path sets).

  python -m contraclip_core train --generator shapes-128 --corpus shapes --out runs/shapes-paths
  python -m contraclip_core train --dipole "a red shape" "a blue shape" --iterations 300 --out runs/red-blue
  python -m contraclip_core traverse runs/red-blue --seeds 0 1 2 --out runs/red-blue/media
  python -m contraclip_core evaluate runs/shapes-paths --linear runs/shapes-linear
  HF_TOKEN=hf_… python -m contraclip_core publish runs/shapes-paths --repo you/contraclip-paths
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ... import registry
from ...clip import add_clip_argument
from ...precision import add_precision_argument, run_precision
from .objectives import OBJECTIVES, describe


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The method's sub-commands (top-level ones: ContraCLIP paths are the project's own method)."""
    for add, run in ((_add_train, cmd_train), (_add_traverse, cmd_traverse), (_add_evaluate, cmd_evaluate),
                     (_add_publish, cmd_publish)):
        add(sub).set_defaults(run=run)


def _add_train(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train latent paths for dipoles (two contrasting sentences each)",
                       description="Train ContraCLIP paths. Give dipoles with --dipole (repeatable) or a corpus.")
    p.add_argument("--generator", default="shapes-128", help="registry name, hf://org/repo/file or a local path")
    p.add_argument("--dipole", nargs=2, action="append", metavar=("FIRST", "SECOND"), default=[],
                   help='two sentences; positive steps go toward FIRST, e.g. --dipole "a red shape" "a blue shape"')
    p.add_argument("--corpus", help="a pre-defined corpus (attributes, expressions, complex, dogs, cats, cars, shapes)")
    p.add_argument("--out", required=True, help="folder for the path set (paths.safetensors + paths.json)")
    p.add_argument("--preset", choices=["quick", "paper"], default="quick",
                   help="quick: the project's fast settings for the generator; paper: the ContraCLIP paper's")
    p.add_argument("--iterations", type=int, help="override the preset's number of iterations")
    p.add_argument("--batch-size", type=int, help="override the batch size")
    p.add_argument("--loss", choices=["contrastive", "cosine"], help="override the loss")
    p.add_argument("--method", choices=["contraclip", "linear"], default="contraclip",
                   help="contraclip: non-linear RBF paths; linear: the baseline of one fixed direction per path")
    p.add_argument("--lr", type=float, help="override Adam's learning rate")
    p.add_argument("--objective", choices=sorted(OBJECTIVES),
                   help="CLIP-space target: plain (ContraCLIP's), zero-shot, zero-shot-circle (zero-shot whose "
                        "second-sentence side turns a hue toward the first colour's opposite), a CLIP-PAE variant, or "
                        "by-family (each dipole the one its attribute family measured best with); default: the "
                        "preset's (docs/PATHS.md)")
    p.add_argument("--off-target-weight", type=float, help="weight of the penalty on Δe outside the dipole's subspace")
    p.add_argument("--whiten", action=argparse.BooleanOptionalAction, default=None,
                   help="train the paths in whitened W (default: the preset's; the Shapes quick preset does)")
    p.add_argument("--seed", type=int, default=0)
    add_clip_argument(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, …")
    add_precision_argument(p)
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/checkpoint.pt exists")
    return p


def _add_traverse(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("traverse", help="render a path from seeded anchors: strip PNG, GIF and MP4")
    p.add_argument("paths", help="a path-set folder")
    p.add_argument("--path-index", type=int, default=None, help="which path (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=8, help="steps each way from the anchor")
    p.add_argument("--step-size", type=float, help="η in latent units (default: the generator preset's)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu")
    add_precision_argument(p)
    return p


def _add_evaluate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="Shapes world: does each path move its attribute, monotonically and alone?")
    p.add_argument("paths", help="a path-set folder trained on shapes-128")
    p.add_argument("--linear", help="a linear-baseline path-set folder to compare side by side")
    p.add_argument("--seeds", type=int, default=32, help="number of anchors (seeds 0…N−1)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--step-size", type=float)
    p.add_argument("--out", help="write table.md, metrics.json and curves.png here")
    p.add_argument("--save-metrics", action="store_true",
                   help="also record the results in each path set's paths.json (publish puts them in the model card)")
    return p


def _add_publish(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("publish", help="upload trained path sets to a Hugging Face Hub repo, with a model card",
                       description="Upload path sets (one commit) to REPO as <generator>/<set>/, with example GIFs "
                       "and a generated model card. Needs a write token: HF_TOKEN (or `hf auth login`). The app "
                       "lists them when started with CONTRACLIP_PATHS_REPO=REPO.")
    p.add_argument("paths", nargs="+", help="path-set folders (each: paths.json + paths.safetensors)")
    p.add_argument("--repo", required=True, help="the Hub model repo to upload to, e.g. you/contraclip-paths "
                   "(created if it does not exist)")
    p.add_argument("--revision", help="branch to commit to (default: the repo's main branch)")
    p.add_argument("--private", action="store_true", help="create the repo private (if it does not exist yet)")
    p.add_argument("--message", help="commit message")
    p.add_argument("--no-examples", action="store_true",
                   help="skip the example GIFs (they need the generator's weights)")
    p.add_argument("--device", default="cpu", help="where to render the example GIFs")
    p.add_argument("--dry-run", metavar="DIR", help="build the upload folder in DIR and stop (no token, no network)")
    return p


def cmd_train(args: argparse.Namespace) -> None:
    from ...clip import load_clip
    from ...generators import from_pretrained
    from . import presets
    from .train import Trainer

    config = presets.train_config(args.generator, args.preset, dipoles=[tuple(d) for d in args.dipole],
                                  corpus=args.corpus, method=args.method, seed=args.seed)
    for key in ("iterations", "batch_size", "loss", "lr", "objective", "off_target_weight", "whiten", "clip"):
        if getattr(args, key) is not None:
            setattr(config, key, getattr(args, key))
    generator = from_pretrained(args.generator, device=args.device)
    if args.generator not in registry.GENERATORS and config.layers is None:  # a user's checkpoint: no preset
        config.layers = max(0, generator.num_ws - 7)  # W+ paths on the coarse and middle styles, as the presets
    clip = load_clip(config.resolved().clip, device=args.device)
    trainer = Trainer(config, generator, clip)
    mode = run_precision(generator, args)
    out = Path(args.out)
    checkpoint = out / "checkpoint.pt"
    if args.no_resume:
        checkpoint.unlink(missing_ok=True)
    start = time.monotonic()
    with mode.context(args.device):
        path_set = trainer.train(checkpoint=checkpoint, progress_bar=True)
    path_set.metrics["train_seconds"] = round(time.monotonic() - start, 1)
    path_set.name = out.name
    path_set.save(out)
    if trainer.iteration >= config.iterations:
        checkpoint.unlink(missing_ok=True)  # finished: the path set is the result; the checkpoint was for resuming
    print(f"saved {len(path_set.dipoles)} path(s) to {out} in {path_set.metrics['train_seconds']} s; objective: "
          f"{describe(path_set.settings)}")


def cmd_traverse(args: argparse.Namespace) -> None:
    from ...generators import from_pretrained
    from ...media import save_gif, save_mp4, strip
    from .artefact import PathSet
    from .traversal import traverse

    path_set = PathSet.load(args.paths)
    generator = from_pretrained(path_set.generator, device=args.device)
    path_set.check_fits(generator, args.paths)
    step_size = args.step_size or registry.step_size_for(path_set.generator)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    indices = [args.path_index] if args.path_index is not None else range(len(path_set.dipoles))
    mode = run_precision(generator, args)
    for k in indices:
        with mode.context(args.device):
            t = traverse(generator, path_set, k, args.seeds, steps=args.steps, step_size=step_size)
        stem = f"path{k}"
        strip(t).save(out / f"{stem}_strip.png")
        save_gif(t, out / f"{stem}.gif")
        save_mp4(t, out / f"{stem}.mp4")
        print(f"path {k} ({t.dipole[0]!r} ← → {t.dipole[1]!r}): {out / stem}_strip.png, .gif, .mp4")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from ...generators import from_pretrained
    from .artefact import PathSet
    from .evaluate import evaluate_shapes, format_table, plot_curves

    generator = from_pretrained("shapes-128")
    step_size = args.step_size or registry.GENERATORS["shapes-128"].step_size
    results = {}
    for label, folder in (("ContraCLIP", args.paths), ("linear", args.linear)):
        if folder is None:
            continue
        path_set = PathSet.load(folder, generator)
        reports = evaluate_shapes(generator, path_set, seeds=range(args.seeds), steps=args.steps, step_size=step_size)
        results[label] = reports
        if args.save_metrics:
            path_set.metrics["shapes_eval"] = {
                "seeds": args.seeds, "steps": args.steps, "step_size": step_size,
                "per_path": [r.record() for r in reports]}
            path_set.save_metadata(folder)
        print(format_table(reports, title=f"{label} ({folder})"))
        print()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "table.md").write_text("\n\n".join(format_table(r, title=l) for l, r in results.items()) + "\n")
        metrics = {l: [r.record() for r in reps] for l, reps in results.items()}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        plot_curves(results["ContraCLIP"]).save(out / "curves.png")
        print(f"wrote {out}/table.md, metrics.json, curves.png")


def cmd_publish(args: argparse.Namespace) -> None:
    from .publish import publish, stage

    if args.dry_run:
        staged = stage(args.paths, args.dry_run, repo_id=args.repo, examples=not args.no_examples, device=args.device)
        files = sorted(str(p.relative_to(args.dry_run)) for p in Path(args.dry_run).rglob("*") if p.is_file())
        print(f"staged {len(staged)} path set(s) for {args.repo} in {args.dry_run}:\n  " + "\n  ".join(files))
        return
    info = publish(args.paths, args.repo, revision=args.revision, private=args.private, message=args.message,
                   examples=not args.no_examples, device=args.device)
    print(f"published to https://huggingface.co/{args.repo} ({getattr(info, 'commit_url', info)})")
