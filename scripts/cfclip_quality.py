"""Measure CF-CLIP edits on the Shapes world and write docs/EDITS.md; trains (with --train) the shipped edit model
``checkpoints/shapes/edits/shapes-captions`` first. Every figure in that file comes from this script.

    python scripts/cfclip_quality.py [--train] [--seeds 64] [--out docs/EDITS.md]

For each held-out target sentence (never seen in training) and the same seeded anchors: the edited images, the
unedited ones (chance) and ContraCLIP's shipped paths for the named factors (the step CLIP ranks closest to the
sentence, factor by factor) — the fraction of named attributes reached (ground truth) and the mean change of the
attributes the sentence does not name (population std).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contraclip_core.cfclip.editset import EditSet  # noqa: E402
from contraclip_core.cfclip.evaluate import evaluate_edits, summary  # noqa: E402
from contraclip_core.cfclip.train import EditTrainer, edit_config  # noqa: E402
from contraclip_core.cfclip.vocab import HELD_OUT, training_sentences  # noqa: E402
from contraclip_core.clip import load_clip  # noqa: E402
from contraclip_core.generators import from_pretrained  # noqa: E402
from contraclip_core.pathset import PathSet, shipped_sets  # noqa: E402

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "shapes" / "edits" / "shapes-captions"


def cell(score) -> str:
    if score is None:
        return "—"
    return f"{score.reached:.0%} · all {score.all_reached:.0%} · {score.unnamed:.2f} ({score.unnamed_worst} " \
           f"{score.unnamed_max:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train the shipped model first (else load it)")
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--out", default="docs/EDITS.md")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a loaded machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    if args.train:
        config = edit_config("shapes-128", training_sentences())
        start = time.monotonic()
        edit_set = EditTrainer(config, generator, clip).train(progress_bar=True)
        edit_set.name = "shapes-captions"
        edit_set.metrics["train_seconds"] = round(time.monotonic() - start, 1)
        edit_set.metrics["held_out"] = list(HELD_OUT)
        edit_set.save(SHIPPED)
    edit_set = EditSet.load(SHIPPED, generator)
    path_sets = [PathSet.load(f) for f in shipped_sets("shapes-128")]
    start = time.monotonic()
    reports = evaluate_edits(generator, edit_set, clip, HELD_OUT, range(args.seeds), path_sets, log=print)
    eval_s = time.monotonic() - start
    result = summary(reports)
    edit_set.metrics.update({k: v for k, v in result.items() if k != "per_sentence"})
    edit_set.metrics["eval_seeds"] = args.seeds
    edit_set.save_metadata(SHIPPED)
    s = edit_set.settings
    lines = [
        "# CF-CLIP edits on the Shapes world",
        "",
        f"Written by `scripts/cfclip_quality.py` on {datetime.date.today()} — {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, torch {torch.__version__}. Timings were taken on a shared machine loaded by "
        "other jobs: they are pessimistic.",
        "",
        f"The shipped model `checkpoints/shapes/edits/shapes-captions` is one text-conditioned mapper trained on "
        f"{len(edit_set.targets)} Shapes captions (every caption naming one or two factors, except the "
        f"{len(HELD_OUT)} held-out sentences below) for {edit_set.iterations} iterations of batch "
        f"{s.get('batch_size')}: {edit_set.metrics.get('train_seconds', '?')} s of CPU training. Losses: CLIP-NCE "
        f"×{s.get('nce_lambda')} (τ {s.get('tau')}), latent L2 ×{s.get('l2_lambda')}, {s.get('clip_loss')} CLIP "
        f"loss ×{s.get('clip_lambda')}; λ = {s.get('residual_scale')}, the mapper reads the text "
        f"{s.get('text_input')}, Adam lr {s.get('lr')}, lr multiplier {s.get('lr_mul')}.",
        "",
        f"{args.seeds} seeds, the same for every column. Cell: named attributes reached (fraction of image × named "
        "factor pairs whose ground-truth label is the named class) · all (images with every named factor right) · "
        "mean change of the unnamed attributes in population std (the largest one in brackets). Targets: ≥ 85% "
        "reached, ≤ 0.5 std unnamed change.",
        "",
        "| held-out sentence | CF-CLIP edit (strength 1) | unedited (chance) | ContraCLIP paths |",
        "|---|---|---|---|",
    ]
    for r in reports:
        lines.append(f"| {r.sentence} | {cell(r.edited)} | {cell(r.unedited)} | {cell(r.path)} |")
    m = result
    lines += [
        f"| **mean** | **{m['edited_reached']:.0%} · all {m['edited_all_reached']:.0%} · {m['edited_unnamed']:.2f}** "
        f"| {m['unedited_reached']:.0%} · all {m['unedited_all_reached']:.0%} · 0.00 "
        f"| {m['path_reached']:.0%} · all {m['path_all_reached']:.0%} · {m['path_unnamed']:.2f} |",
        "",
        f"Evaluation took {eval_s:.0f} s (mostly the path column: every path step is rendered and ranked by CLIP).",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
