"""Measure ContraCLIP on the Shapes world and write docs/PATHS.md: the quality table, ContraCLIP vs the linear
baseline at the same budget, and, for a single new dipole (K = 1), contrastive loss with corpus negatives vs the
cosine loss. Every figure in that file comes from this script.

    python scripts/shapes_quality.py [--out docs/PATHS.md] [--seeds 32]
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

from contraclip_core import allocator
from contraclip_core.methods.contraclip import presets  # noqa: E402
from contraclip_core.clip import load_clip  # noqa: E402
from contraclip_core.methods.contraclip.evaluate import evaluate_shapes, format_table, plot_curves  # noqa: E402
from contraclip_core.generators import from_pretrained  # noqa: E402
from contraclip_core.registry import GENERATORS  # noqa: E402
from contraclip_core.methods.contraclip.train import Trainer  # noqa: E402

DIPOLES = [("a red shape", "a blue shape"), ("a large shape", "a small shape"), ("a circle", "a square"),
           ("a shape on the left", "a shape on the right")]


def train(generator, clip, dipoles, method="contraclip", **overrides):
    config = presets.train_config("shapes-128", "quick", dipoles=dipoles, method=method)
    for k, v in overrides.items():
        setattr(config, k, v)
    start = time.monotonic()
    path_set = Trainer(config, generator, clip).train()
    return path_set, time.monotonic() - start


def summary(reports) -> str:
    return ", ".join(f"ρ {r.target_rho:.2f} / Δ {r.target_change:.2f} / off {r.off_target_max:.2f}"
                     f"{' ✓' if r.passes else ' ✗'}" for r in reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/PATHS.md")
    parser.add_argument("--seeds", type=int, default=32)
    args = parser.parse_args()
    allocator.tune()  # as the app and the CLI run: the training times these tables quote are the app's
    torch.set_num_threads(os.cpu_count() or 1)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    step = GENERATORS["shapes-128"].step_size
    seeds = range(args.seeds)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# ContraCLIP on the Shapes world",
        "",
        f"Written by `scripts/shapes_quality.py` on {datetime.date.today()} — {platform.processor() or platform.machine()},"
        f" {os.cpu_count()} CPU cores, torch {torch.__version__}. Quick preset ({presets.QUICK['shapes']}),"
        f" traversal from seeds 0…{args.seeds - 1}, 8 steps of η = {step} each way. ρ: mean Spearman ρ(step, target);"
        " Δ: mean change over the traversal in population standard deviations (target signed; every other"
        " attribute |Δ|); pass = ρ ≥ 0.9, Δ target ≥ 1 and every off-target Δ smaller than the target's.",
        "",
    ]
    results = {}
    for method in ("contraclip", "linear"):
        path_set, seconds = train(generator, clip, DIPOLES, method=method)
        reports = evaluate_shapes(generator, path_set, seeds=seeds, step_size=step)
        results[method] = reports
        label = ("ContraCLIP (non-linear RBF paths)" if method == "contraclip"
                 else "Linear baseline (one learned direction per path; same loss, same budget)")
        lines += [format_table(reports, title=f"{label} — 4 paths trained jointly in {seconds:.1f} s"), ""]
        print(lines[-2], "\n")
        if method == "contraclip":
            plot_curves(reports).save(out.parent / "shapes_paths_curves.png")
    lines += ["![attribute vs step](shapes_paths_curves.png)", "",
              "## A single new dipole (K = 1): which loss?", "",
              "Each dipole trained alone, same budget (quick preset, its loss overridden). *contrastive + negatives*: the paper's loss with the other"
              " Shapes-corpus dipoles as extra negatives (their CLIP directions at the same image); *cosine*:"
              " mean(1 − cos(Δe, Δt)).", "",
              "| dipole | contrastive + negatives | cosine |", "|---|---|---|"]
    for dipole in DIPOLES:
        cells = []
        for loss in ("contrastive", "cosine"):
            extra = {"negatives": []} if loss == "cosine" else {
                "negatives": presets.default_negatives("shapes-128", [dipole])}
            path_set, seconds = train(generator, clip, [dipole], loss=loss, **extra)
            reports = evaluate_shapes(generator, path_set, seeds=seeds, step_size=step)
            cells.append(summary(reports) + f" ({seconds:.0f} s)")
        lines.append(f"| {dipole[0]} / {dipole[1]} | {cells[0]} | {cells[1]} |")
        print(lines[-1])
    write_block(out, "\n".join(lines[2:]))  # the title stays; the rest is this script's block
    print(f"wrote {out}")


BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"


def write_block(out: Path, block: str) -> None:
    """Replace this script's block of ``out`` (between its markers; after the title if there are none), leaving
    what other scripts and people wrote there as it is."""
    text = out.read_text() if out.exists() else "# ContraCLIP on the Shapes world\n"
    block = f"{BEGIN}\n{block.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        title, _, rest = text.partition("\n")
        old_start = rest.find("\n## CLIP-PAE")  # the first version of this script wrote everything above it
        text = f"{title}\n\n{block}\n" + (rest[old_start:] if old_start >= 0 else rest)
    out.write_text(text)


if __name__ == "__main__":
    main()
