"""Side-by-side on the Shapes world: ContraCLIP vs the linear baseline, each with the plain and the PAE objective
(and further levers), every dipole trained alone as the app does, same seeds, same quick preset, each variant from
three training seeds (one training run is one draw: the same seed lands 0.27x or 1.07x off-target depending on
float round-off, e.g. one thread or two). Each measurement is stored as one JSON file under docs/measurements/ (so a
run can be split over processes and resumed); ``--render`` writes the tables between the compare markers of
docs/PATHS.md from whatever has been measured.

    python scripts/shapes_compare.py --worker 0/2      # measure every 2nd missing entry (run 1/2 alongside)
    python scripts/shapes_compare.py --render          # write the tables into docs/PATHS.md
    python scripts/shapes_compare.py --reevaluate      # re-score from the saved path sets (runs/compare/)
    python scripts/shapes_compare.py --ceiling         # the ground truth's ρ at several step sizes (issue 14's bar)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contraclip_core import allocator
from contraclip_core.methods.contraclip import presets  # noqa: E402
from contraclip_core.methods.contraclip.evaluate import CLEAN, evaluate_shapes, is_clean, off_ratio  # noqa: E402

MEASUREMENTS = ROOT / "docs" / "measurements"
PATH_SETS = ROOT / "runs" / "compare"  # every measured path set (not committed; the passing ones can be shipped)
DOC = ROOT / "docs" / "PATHS.md"
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
SEEDS = 32  # evaluation anchors
TRAIN_SEEDS = (0, 1, 2)  # training runs per variant and dipole (levers: the first only)

SHIPPED = [("a red shape", "a blue shape"), ("a large shape", "a small shape"), ("a circle", "a square"),
           ("a shape on the left", "a shape on the right"), ("a shape at the top", "a shape at the bottom"),
           ("a shape on a light background", "a shape on a dark background")]
NEW = [("a yellow shape", "a cyan shape"), ("a green shape", "a magenta shape"), ("a triangle", "a square"),
       ("a red shape", "a green shape")]
# The colour words the tiny CLIP learned in issue 29 (orange, purple, pink), each as a first sentence; none of these
# dipoles is on the held-out list (docs/HELDOUT.md), which has other pairs of the same words.
COLOURS = [("an orange shape", "a cyan shape"), ("a purple shape", "a yellow shape"), ("a pink shape", "a green shape")]
DIPOLES = [("a triangle", "a circle")] + SHIPPED + NEW + COLOURS
# Worst first, so a partial run already answers the question where it matters.
ORDER = [SHIPPED[0], SHIPPED[2], ("a triangle", "a circle")] + NEW + [SHIPPED[1], SHIPPED[3], SHIPPED[4], SHIPPED[5]] + COLOURS

# Every variant starts from the quick preset as it was when the side-by-side began (plain objective, initial RBF
# width β 0.5); the quick preset itself has since become the per-family objective with the same width
# ("contraclip, per family"), chosen by this table.
BASE = {"objective": "plain", "beta_lss": 0.5}
# variant name → (method, TrainConfig overrides)
VARIANTS = {
    "contraclip": ("contraclip", {}),
    "contraclip+pae": ("contraclip", {"objective": "pae-subspace"}),
    "linear": ("linear", {}),
    "linear+pae": ("linear", {"objective": "pae-subspace"}),
    # twice the quick preset's iterations: a single-seed lever before (0.09×/0.12× on two shape dipoles), now every
    # dipole and seed, for both objectives (issue 29 item 3)
    "contraclip 1200 it": ("contraclip", {"iterations": 1200}),
    "contraclip+pae 1200 it": ("contraclip", {"objective": "pae-subspace", "iterations": 1200}),
    # half plain, half PAE (objectives.MixedObjective): plain keeps shape paths clean, PAE size and position paths
    "contraclip+half pae": ("contraclip", {"objective": "pae-mixed"}),
    "contraclip+half pae 1200 it": ("contraclip", {"objective": "pae-mixed", "iterations": 1200}),
    # toward the first sentence by the CLIP's zero-shot classifier (objectives.ZeroShotObjective), with the paths'
    # initial RBF width as the preset's (β 0.5) and wide (β 0.9: the value at twice the radius)
    "contraclip+zero-shot": ("contraclip", {"objective": "zero-shot", "beta_lss": 0.5}),
    "contraclip+zero-shot, wide": ("contraclip", {"objective": "zero-shot", "beta_lss": 0.9}),
    "contraclip+zero-shot 1200 it": ("contraclip", {"objective": "zero-shot", "beta_lss": 0.5, "iterations": 1200}),
    # zero-shot, with a negative side that turns a hue toward the first colour's opposite
    # (objectives.ZeroShotCircleObjective; on families that are no circle it is zero-shot exactly)
    "contraclip+zero-shot circle": ("contraclip", {"objective": "zero-shot-circle", "beta_lss": 0.5}),
    # per dipole the objective its attribute family measured best with in the columns above
    # (objectives.FAMILY_RULES: shape plain, size PAE, colour zero-shot circle, every other family zero-shot)
    "contraclip, per family": ("contraclip", {"objective": "by-family", "beta_lss": 0.5}),
}
LEVERS = {
    "contraclip (W not whitened)": ("contraclip", {"whiten": False}),
    "contraclip+pae (W not whitened)": ("contraclip", {"objective": "pae-subspace", "whiten": False}),
    "linear (W not whitened)": ("linear", {"whiten": False}),
    "linear+pae (W not whitened)": ("linear", {"objective": "pae-subspace", "whiten": False}),
    "contraclip+penalty 1": ("contraclip", {"off_target_weight": 1.0}),
}
LEVER_DIPOLES = [("a triangle", "a circle"), SHIPPED[2], SHIPPED[0], NEW[0]]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def key(variant: str, dipole: tuple[str, str], seed: int = 0) -> str:
    return f"{slug(variant)}__{slug(dipole[0])}__{slug(dipole[1])}" + (f"__seed{seed}" if seed else "")


def jobs() -> list[tuple[str, tuple[str, str], int, str, dict]]:
    """Every measurement: each training seed over all variants and dipoles before the next seed, levers last."""
    out = [(v, d, seed, *VARIANTS[v]) for seed in TRAIN_SEEDS for d in ORDER for v in VARIANTS]
    out += [(v, d, TRAIN_SEEDS[0], *LEVERS[v]) for d in LEVER_DIPOLES for v in LEVERS]
    return out


def measure(variant: str, dipole: tuple[str, str], seed: int, method: str, overrides: dict, generator, clip) -> dict:
    from contraclip_core.methods.contraclip.train import Trainer

    config = presets.train_config("shapes-128", "quick", dipoles=[dipole], method=method)
    config.seed = seed
    for k, v in {**BASE, **overrides}.items():
        setattr(config, k, v)
    start = time.monotonic()
    trainer = Trainer(config, generator, clip)
    path_set = trainer.train()
    seconds = time.monotonic() - start
    path_set.name = f"{dipole[0]} / {dipole[1]} ({variant}, seed {seed})"
    path_set.metrics["train_seconds"] = round(seconds, 1)
    path_set.save(PATH_SETS / key(variant, dipole, seed))
    return {"variant": variant, "dipole": list(dipole), "train_seed": seed, "method": method, "overrides": overrides,
            "objective_family": trainer.objective.record().get("family_of_dipole", [""])[0],
            **scores(generator, path_set), "seconds": round(seconds, 1),
            "load": os.getloadavg()[0], "threads": torch.get_num_threads()}


def scores(generator, path_set) -> dict:
    """A measurement's figures: the path's target, ρ, Δ and off-target changes on the ground truth."""
    r = evaluate_shapes(generator, path_set, seeds=range(SEEDS), step_size=0.25)[0]
    return {"target": r.target, "rho": r.target_rho, "delta": r.target_change, "off": r.off_target_max,
            "off_attr": r.off_target_worst, "change": r.change}


def run_worker(index: int, count: int, only: str = "") -> None:
    from contraclip_core.clip import load_clip
    from contraclip_core.generators import from_pretrained

    torch.set_num_threads(1)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    MEASUREMENTS.mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs() if not (MEASUREMENTS / f"{key(*j[:3])}.json").exists() and only in j[0]]
    for variant, dipole, seed, method, overrides in todo[index::count]:
        path = MEASUREMENTS / f"{key(variant, dipole, seed)}.json"
        if path.exists():
            continue
        result = measure(variant, dipole, seed, method, overrides, generator, clip)
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{variant:28s} {dipole[0]} / {dipole[1]} seed {seed}: ρ {result['rho']:.3f} Δ {result['delta']:.2f} "
              f"off {result['off']:.2f} ({result['off_attr']}) ratio {result['off'] / result['delta']:.2f} "
              f"{result['seconds']:.0f} s", flush=True)


def reevaluate() -> None:
    """Re-score every stored measurement from its saved path set (after a change to the evaluation, e.g. a target
    measure): same training, new figures. A measurement without a saved path set is dropped if its figures would
    change (a hue target), so the next worker run trains it again."""
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip.artefact import PathSet

    generator = from_pretrained("shapes-128")
    for path in sorted(MEASUREMENTS.glob("*.json")):
        result = json.loads(path.read_text())
        saved = PATH_SETS / path.stem
        if not (saved / "paths.json").exists():
            if result["target"].startswith("hue"):
                path.unlink()
                print(f"{path.stem}: no saved path set; dropped, to be measured again")
            continue
        old = result["rho"], result["delta"], result["off"]
        result.update(scores(generator, PathSet.load(saved, generator=generator)))
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{path.stem}: ρ {old[0]:.3f} → {result['rho']:.3f}, Δ {old[1]:.2f} → {result['delta']:.2f}, "
              f"off {old[2]:.2f} → {result['off']:.2f}", flush=True)


def hue_split(threshold: float = 0.9, steps: int = 8, step_size: float = 0.25) -> None:
    """Print where the stored hue runs miss their first-colour target, per traversal (anchors 0…31, as evaluated):
    how many traversals have ρ < ``threshold`` on the whole, and of those whether only the positive half (steps 0…+T:
    past the first colour or the long way round), only the negative half (−T…0: at or past the second colour) or both
    are out of order. Needs the saved path sets (``runs/compare``), which are local, not committed."""
    import torch

    from contraclip_core.generators import from_pretrained
    from contraclip_core.groundtruth import ROUND_OFF_ULPS, shapes_target, spearman
    from contraclip_core.methods.contraclip.artefact import PathSet
    from contraclip_core.methods.contraclip.evaluate import traversal_attributes

    generator = from_pretrained("shapes-128")
    counts = {"runs": 0, "traversals": 0, "failing": 0, "positive half only": 0, "negative half only": 0, "both": 0,
              "neither half alone": 0}
    for path in sorted(MEASUREMENTS.glob("*.json")):
        result = json.loads(path.read_text())
        saved = PATH_SETS / path.stem
        if not result["target"].startswith("hue") or not (saved / "paths.json").exists():
            continue
        path_set = PathSet.load(saved, generator=generator)
        view, target = path_set.view, shapes_target(tuple(result["dipole"]))
        anchor = generator.encode(generator.sample_z(list(range(32))), view.space, path_set.truncation)
        attrs = traversal_attributes(generator, path_set, 0, anchor, steps, step_size)
        ranked = target.ranked(attrs)  # (S, 2T+1)
        index = torch.arange(ranked.shape[1], dtype=torch.float32)
        whole = spearman(index, ranked, ROUND_OFF_ULPS)
        positive = spearman(index[steps:], ranked[:, steps:], ROUND_OFF_ULPS)
        negative = spearman(index[: steps + 1], ranked[:, : steps + 1], ROUND_OFF_ULPS)
        failing = whole < threshold
        counts["runs"] += 1
        counts["traversals"] += len(whole)
        counts["failing"] += int(failing.sum())
        bad_pos, bad_neg = positive < threshold, negative < threshold
        counts["positive half only"] += int((failing & bad_pos & ~bad_neg).sum())
        counts["negative half only"] += int((failing & bad_neg & ~bad_pos).sum())
        counts["both"] += int((failing & bad_pos & bad_neg).sum())
        counts["neither half alone"] += int((failing & ~bad_pos & ~bad_neg).sum())
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


def ceiling(step_sizes=(0.15, 0.2, 0.25, 0.3, 0.35, 0.4)) -> None:
    """Print what a perfectly disentangled path (the ground-truth direction) scores on every dipole at several
    traversal step sizes, and the seeds that pull its ρ down most: the ceiling issue 14's ρ bar is read against."""
    import datetime
    import platform

    from contraclip_core.methods.contraclip.evaluate import ground_truth_paths
    from contraclip_core.generators import from_pretrained

    generator = from_pretrained("shapes-128")
    print(f"# ground-truth ceiling, {datetime.date.today()}, {platform.machine()}, seeds 0…{SEEDS - 1}, 8 steps each way")
    print("| dipole | " + " | ".join(f"η {eta}: ρ · Δ" for eta in step_sizes) + " | lowest seeds' ρ (η 0.25) |")
    print("|---|" + "---|" * (len(step_sizes) + 1))
    for d in DIPOLES:
        paths = ground_truth_paths(generator, d)
        cells = []
        for eta in step_sizes:
            r = evaluate_shapes(generator, paths, seeds=range(SEEDS), step_size=eta)[0]
            cells.append(f"{r.target_rho:.3f} · {r.target_change:.2f}")
        per_seed = sorted((evaluate_shapes(generator, paths, seeds=[s], step_size=0.25)[0].target_rho, s)
                          for s in range(SEEDS))[:2]
        print(f"| {d[0]} / {d[1]} | " + " | ".join(cells) + " | "
              + ", ".join(f"seed {s}: {rho:.2f}" for rho, s in per_seed) + " |", flush=True)


def load_all() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(MEASUREMENTS.glob("*.json"))}


(RHO_BAR, DELTA_BAR, RATIO_BAR), STRETCH_BAR = CLEAN, 0.3  # issue 14's bar (evaluate.CLEAN) and its stretch


def ratio(r: dict) -> float:
    return off_ratio(r["off"], r["delta"])


def passes(r: dict, bar: float = RATIO_BAR) -> bool:
    return is_clean(r["rho"], r["delta"], r["off"], bar)


def runs_of(data: dict[str, dict], variant: str, dipole: tuple[str, str], seeds=TRAIN_SEEDS) -> list[dict]:
    """The measured training runs of one variant on one dipole, in training-seed order."""
    return [data[key(variant, dipole, s)] for s in seeds if key(variant, dipole, s) in data]


def median_run(runs: list[dict]) -> dict:
    """The run with the median off/Δ ratio (of two, the worse): the figure a user training once should expect."""
    return sorted(runs, key=ratio)[len(runs) // 2]


def cell(runs: list[dict]) -> str:
    if not runs:
        return "—"
    m = median_run(runs)
    mark = "✓✓" if passes(m, STRETCH_BAR) else ("✓" if passes(m) else "✗")
    text = f"ρ {m['rho']:.2f} · Δ {m['delta']:.2f} · off {m['off']:.2f} {m['off_attr']} · **{ratio(m):.2f}×** {mark}"
    if len(runs) > 1:
        each = ", ".join("back" if r["delta"] <= 0 else f"{ratio(r):.2f}" for r in runs)
        text += f" · {sum(passes(r) for r in runs)}/{len(runs)} pass ({each})"
    return text


def ground_truth() -> dict[tuple[str, str], dict]:
    """Each dipole's reference: the ground-truth direction (only its target's heads move), evaluated the same way."""
    from contraclip_core.methods.contraclip.evaluate import ground_truth_paths
    from contraclip_core.generators import from_pretrained

    generator, out = from_pretrained("shapes-128"), {}
    for d in DIPOLES:
        r = evaluate_shapes(generator, ground_truth_paths(generator, d), seeds=range(SEEDS), step_size=0.25)[0]
        out[d] = {"rho": r.target_rho, "delta": r.target_change, "off": r.off_target_max, "off_attr": r.off_target_worst}
    return out


def render() -> str:
    data = load_all()
    reference = ground_truth()
    seeds = ", ".join(map(str, TRAIN_SEEDS))
    lines = [
        "## Side by side: plain vs PAE objective, non-linear vs linear (each dipole trained alone)", "",
        f"Written by `scripts/shapes_compare.py --render` from docs/measurements/*.json. Each dipole trained alone as "
        f"the app does (quick preset {presets.QUICK['shapes']}), from training seeds {seeds}, each run evaluated from "
        f"anchors 0…{SEEDS - 1}, 8 steps of η = 0.25 each way. One training run is one draw — the same seed lands "
        "0.27× or 1.07× off-target on triangle/square depending on float round-off alone (one thread or two, a kernel "
        "version) — so each cell is the **median run** (by off/Δ ratio: what a user training once should expect): ρ · "
        "Δ target (std) · largest off-target change (std, which attribute) · **off/Δ ratio**; ✓ = the issue's bar "
        f"(ρ ≥ {RHO_BAR}, Δ ≥ {DELTA_BAR}, off ≤ {RATIO_BAR} × Δ), ✓✓ = the stretch bar (off ≤ {STRETCH_BAR} × Δ), "
        "✗ = misses; then how many of the runs meet the bar, and each run's ratio in seed order (*back*: the path "
        "went the wrong way). *+PAE* is the `pae-subspace` objective: the target shift is normalise(P_S(t) − "
        "P_S(e)), the image's component in the dipole's attribute subspace S replaced by the sentence's (PCA of the "
        "family's prompt corpus, k ≤ 10); see the levers table for the authors' augmentation formula. Every column "
        f"starts from that preset with the objective and initial RBF width the side-by-side began with ({BASE}) and "
        "changes only what its name says (its overrides are in each measurement's JSON); *per family* is the preset "
        "itself. Runs used one "
        "thread each, two at a time on the 2-core machine: their times are not the preset's speed.", "",
        "The last column is no method: the ground-truth direction (the linear W direction that moves only the heads "
        "the target is made of, `evaluate.ground_truth_paths`), evaluated the same way — what a perfectly "
        "disentangled path scores at this step size. It scores ρ 1.000 on every dipole: hue targets are measured as "
        "the closeness to the first colour, cos(h − first), ranked on the angle to it (`groundtruth.hue_closeness`: "
        "largest at the first colour, so a path that turns the hue past it is not monotone), and shape targets are ranked on the log-odds of the two blend weights (`Target.order`; the "
        "weights themselves round to exactly 0 and 1 on half a traversal, which held the ground truth to ρ "
        "0.93–0.97), their Δ still measured on the drawn weights.", "",
        "| dipole | " + " | ".join(VARIANTS) + " | ground truth (reference) |",
        "|---|" + "---|" * (len(VARIANTS) + 1)]
    wins: dict[str, int] = {v: 0 for v in VARIANTS}
    for d in DIPOLES:
        row = [runs_of(data, v, d) for v in VARIANTS]
        done = [(ratio(median_run(r)), v) for r, v in zip(row, VARIANTS) if r and median_run(r)["rho"] >= RHO_BAR
                and median_run(r)["delta"] >= DELTA_BAR]
        if done:
            wins[min(done)[1]] += 1
        lines.append(f"| {d[0]} / {d[1]} | " + " | ".join(cell(r) for r in row) + f" | {cell([reference[d]])} |")
    def clean_medians(v: str, dipoles: list[tuple[str, str]]) -> str:
        measured = [runs_of(data, v, d) for d in dipoles if runs_of(data, v, d)]
        return f"{sum(passes(median_run(r)) for r in measured)}/{len(measured)}"

    runs = {v: [r for d in DIPOLES for r in runs_of(data, v, d)] for v in VARIANTS}
    lines += ["", "Dipoles whose median run meets the bar (of the 11 above the colour words; then of the "
              f"{len(COLOURS)} with orange, purple and pink): " + "; ".join(
                  f"{v} {clean_medians(v, [d for d in DIPOLES if d not in COLOURS])} + {clean_medians(v, COLOURS)}"
                  for v in VARIANTS) + ". Training runs meeting it: " + "; ".join(
                  f"{v} {sum(map(passes, runs[v]))}/{len(runs[v])}" for v in VARIANTS) + ". Dipoles on which a "
              f"variant's median run has the lowest off/Δ ratio of those that reach ρ ≥ {RHO_BAR} and Δ ≥ {DELTA_BAR}: "
              + "; ".join(f"{v} {wins[v]}" for v in VARIANTS) + ".", ""]
    lines += ["### Other levers (same protocol, training seed 0 only)", "",
              "Every row run with the same code, CLIP and targets as the table above (the dates are in each "
              "measurement's JSON). The measurements made with the tiny CLIP before issue 29 and the hue target "
              "before 2026-12-05 are kept in docs/measurements/stage3-clip/.", "",
              "| dipole | " + " | ".join(LEVERS) + " |", "|---|" + "---|" * len(LEVERS)]
    for d in LEVER_DIPOLES:
        lines.append(f"| {d[0]} / {d[1]} | " + " | ".join(cell(runs_of(data, v, d, TRAIN_SEEDS[:1])) for v in LEVERS)
                     + " |")
    seconds = [r["seconds"] for r in data.values() if not r["overrides"].get("iterations")]
    if seconds:
        lines += ["", f"Training time per run, one thread, two runs at a time: median "
                  f"{sorted(seconds)[len(seconds) // 2]:.0f} s (min {min(seconds):.0f}, max {max(seconds):.0f})."]
    return "\n".join(lines)


def write_doc() -> None:
    text = DOC.read_text() if DOC.exists() else ""
    block = f"{BEGIN}\n{render()}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", default="", help="i/n: measure every n-th missing entry, starting at i")
    parser.add_argument("--only", default="", help="measure only variants whose name contains this")
    parser.add_argument("--render", action="store_true", help="write the tables into docs/PATHS.md")
    parser.add_argument("--ceiling", action="store_true",
                        help="print the ground-truth direction's ρ and Δ at several step sizes (the ρ bar's ceiling)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="re-score the stored measurements from their saved path sets (before --worker/--render)")
    parser.add_argument("--hue-split", action="store_true",
                        help="print where the stored hue runs miss their target, per traversal (needs runs/compare)")
    args = parser.parse_args()
    allocator.tune()  # as the app and the CLI run: the training times these tables quote are the app's
    if args.ceiling:
        ceiling()
    if args.hue_split:
        hue_split()
    if args.reevaluate:
        reevaluate()
    if args.worker:
        i, n = (int(x) for x in args.worker.split("/"))
        run_worker(i, n, args.only)
    if args.render:
        write_doc()


if __name__ == "__main__":
    main()
