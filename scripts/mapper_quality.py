"""Measure the CLIP → latent mappers (CLIP2GAN, CSLA) on the Shapes world and write docs/MAPPERS.md: text → image,
inversion, and edits beside the ContraCLIP path for the same attribute, both objectives side by side on the same
seeds and captions. Every figure in that file comes from this script.

    python scripts/mapper_quality.py                      # evaluate the shipped mappers
    python scripts/mapper_quality.py --train 1000 --ship  # train both afresh, ship them, evaluate
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contraclip_core import allocator  # noqa: E402
from contraclip_core.clip import load_clip  # noqa: E402
from contraclip_core.generators import from_pretrained  # noqa: E402
from contraclip_core.methods.mappers import evaluate as ev  # noqa: E402
from contraclip_core.artefact import SHIPPED_ROOT as SHIPPED  # noqa: E402
from contraclip_core.methods.mappers.artefact import MapperSet  # noqa: E402
from contraclip_core.methods.mappers.train import OBJECTIVES, MapperTrainConfig, MapperTrainer  # noqa: E402
from contraclip_core.methods.contraclip.artefact import PathSet  # noqa: E402

SHIP_DIR = SHIPPED / "shapes" / "mappers"
NOISES = (0.0, 1.0, 2.0)  # text-embedding noise at inference: accuracy vs diversity of what a caption leaves out


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/MAPPERS.md")
    parser.add_argument("--train", type=int, default=0, help="train both objectives with this many iterations")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ship", action="store_true", help="save the trained mappers (and metrics) as shipped")
    parser.add_argument("--n", type=int, default=64, help="held-out captions and renders")
    parser.add_argument("--seeds", type=int, default=32, help="anchors for the edit comparison")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=sorted(OBJECTIVES), help="train (and ship) only this objective; no report")
    args = parser.parse_args()
    allocator.tune()  # as the app and the CLI run: the training times these tables quote are the app's
    torch.set_num_threads(args.threads)
    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    path_set = PathSet.from_pretrained("shapes-128/shapes-corpus", g)
    results, mappers, folders = {}, {}, {}
    tmp = Path(tempfile.mkdtemp(prefix="mappers-"))
    for objective in [args.only] if args.only else OBJECTIVES:
        folder = (SHIP_DIR if args.ship else tmp) / f"shapes-{objective}"
        if args.train:
            start = time.monotonic()
            trainer = MapperTrainer(MapperTrainConfig(objective=objective, iterations=args.train, lr=args.lr), g, clip)
            ms = trainer.train(checkpoint=tmp / f"{objective}.ckpt", progress_bar=True)
            ms.name = f"shapes-{objective}"
            ms.metrics["train_seconds"] = round(time.monotonic() - start, 1)
            ms.save(folder)
        else:
            folder = SHIP_DIR / f"shapes-{objective}"
        ms = MapperSet.load(folder, g)
        mappers[objective], folders[objective] = ms, folder
        if args.only:
            continue
        t0 = time.monotonic()
        r = {"t2i": {f"{gap}-{noise}": ev.text_to_image(g, clip, ms, n=args.n, samples=8 if noise else 1, noise=noise,
                                                        gap_shift=gap)
                     for gap in (False, True) for noise in NOISES if not gap or noise == 0.0},
             "inversion": ev.inversion(g, clip, ms, n=args.n),
             "edits": ev.edits(g, clip, ms, path_set, seeds=range(args.seeds))}
        r["eval_seconds"] = round(time.monotonic() - t0, 1)
        r["targets"] = ev.passes_targets(r["t2i"]["False-0.0"], r["inversion"])
        results[objective] = r
        if args.ship:
            ms.metrics.update({"shapes_eval": {"text_to_image": r["t2i"]["False-0.0"], "inversion": r["inversion"],
                                               "targets": r["targets"]}})
            ms.save_metadata(folder)
    if args.only:
        return
    write(Path(args.out), results, mappers, args)
    print(json.dumps({k: {"targets": v["targets"], "t2i": v["t2i"]["False-0.0"]["accuracy"],
                          "inversion": v["inversion"]["per_factor"]} for k, v in results.items()}, indent=1))


def write(out: Path, results: dict, mappers: dict, args) -> None:
    names = list(results)
    lines = [
        "# CLIP → latent mappers on the Shapes world: CLIP2GAN and CSLA",
        "",
        f"Written by `scripts/mapper_quality.py` on {datetime.date.today()} — {platform.machine()}, CPU, "
        f"{args.threads} thread(s), load average {os.getloadavg()[0]:.1f} when written on a {os.cpu_count()}-core "
        "machine (timings count only where it is low). "
        f"{args.n} held-out captions and renders (seeds ≥ 10⁶, never used in training), {args.seeds} anchors "
        "for edits. Both mappers were trained data-free from the generator's own samples with the shipped "
        "settings below; they are `checkpoints/shapes/mappers/shapes-{clip2gan,csla}`.",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| network | " + " | ".join(f"{'residual' if m.mapper.config.residual else 'MLP'} "
                                    f"{m.mapper.config.depth}×{m.mapper.config.hidden}" for m in mappers.values()) + " |",
        "| losses | " + " | ".join(", ".join(f"{k} {v:g}" for k, v in m.settings["losses"].items())
                                   for m in mappers.values()) + " |",
        "| training | " + " | ".join(f"{m.iterations} it, batch {m.settings['batch_size']} "
                                     f"({m.settings['image_batch']} re-rendered), noise {m.settings['noise']:g}, "
                                     f"lr {m.settings['lr']:g}; {m.metrics.get('train_seconds', '—')} s"
                                     for m in mappers.values()) + " |",
        "",
        "## (a) Text → image",
        "",
        "Accuracy: the fraction of held-out captions (random subsets of the six factors, e.g. “a large red circle on "
        "the left”) whose image agrees with **every** attribute the caption names (target ≥ 80%). Diversity: for "
        "the factors a caption leaves unnamed, (distinct classes among 8 samples − 1) / (possible − 1), beside the "
        "same number for 8 independent prior samples. Samples differ by seeded noise on the text embedding "
        "(noise = its norm); gap shift = moving the text embedding by (mean image − mean text embedding) first.",
        "",
        "| mapper | gap shift | noise | accuracy | size | colour | shape | horiz. | vert. | backgr. | diversity (prior) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for key, t in r["t2i"].items():
            pf = t["per_factor"]
            div = "—" if t["noise"] == 0 else f"{ev.fmt(t['diversity'])} ({ev.fmt(t['prior_diversity'])})"
            lines.append(f"| {name} | {'yes' if t['gap_shift'] else 'no'} | {t['noise']:g} | **{pct(t['accuracy'])}** | "
                         + " | ".join(pct(pf[f]) if f in pf else "—" for f in
                                      ("size", "colour", "shape", "horizontal", "vertical", "background"))
                         + f" | {div} |")
    lines += [
        "",
        "## (b) Image → latent (inversion)",
        "",
        "Held-out renders → CLIP image embedding → mapper → re-render: per factor, the fraction whose class is "
        "recovered (target: every factor ≥ 90%); all six at once; PSNR of the re-render; CLIP cosine between render "
        "and re-render. No test-time optimisation.",
        "",
        "| mapper | size | colour | shape | horiz. | vert. | backgr. | all six | PSNR | CLIP cos |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        inv = r["inversion"]
        lines.append(f"| {name} | " + " | ".join(pct(v) for v in inv["per_factor"].values())
                     + f" | {pct(inv['all_factors'])} | {inv['psnr_db']:.1f} dB | {inv['clip_cosine']:.3f} |")
    lines += [
        "",
        "## (c) Edits: mapped text offsets vs the ContraCLIP path, same anchors",
        "",
        f"For each dipole of the shipped `shapes-corpus` path set, from the same {args.seeds} anchors: the ContraCLIP "
        "path (8 Euler steps of η = 0.25 each way); the mapper's **latent** edit (CLIP2GAN's: w + λ·unit(f(t₁) − "
        "f(t₂)), 17 strengths over the same latent distance the path covers); the mapper's **embedding** edit "
        "(w + f(unit(e_x + λΔt)) − f(e_x), λ ∈ [−1, 1]; its latent distance varies). Cells: ρ of the target "
        "measure · Δ target (population std, −end → +end) · largest off-target change (std, attribute).",
        "",
        "| dipole | ContraCLIP path | " + " | ".join(f"{n}: latent edit | {n}: embedding edit" for n in names) + " |",
        "|---|---|" + "---|---|" * len(names),
    ]
    cell = lambda m: f"ρ {m[0]:.2f} · Δ {m[1]:.2f} · off {m[2]:.2f} ({m[3]})"  # noqa: E731
    first = results[names[0]]["edits"]
    for i, row in enumerate(first):
        cells = [cell(row["contraclip"])]
        for n in names:
            e = results[n]["edits"][i]
            cells += [cell(e["mapper_latent"]), cell(e["mapper_embedding"]) + f" [dist {e['embedding_distance']:.1f}]"]
        lines.append(f"| {row['dipole'][0]} / {row['dipole'][1]} | " + " | ".join(cells) + " |")
    lines += ["", "## Targets", ""]
    for name, r in results.items():
        t = r["targets"]
        lines.append(f"- **{name}**: text → image ≥ 80%: {'met' if t['text_to_image_80'] else 'not met'} "
                     f"({pct(r['t2i']['False-0.0']['accuracy'])}); every factor recovered on ≥ 90% of renders: "
                     f"{'met' if t['inversion_90_each'] else 'not met'} (lowest "
                     f"{pct(min(r['inversion']['per_factor'].values()))}); evaluation took {r['eval_seconds']} s.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
