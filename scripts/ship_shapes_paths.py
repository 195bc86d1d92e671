"""Ship one clean path set per measured Shapes dipole, chosen from the side-by-side's training runs.

Clean means ``evaluate.CLEAN`` on the reported anchors 0…31 *and* on 64 held-out anchors, so that choosing among
runs is not fitted to the anchors the choice is reported on. A dipole whose shipped set is clean keeps it
(re-evaluated). For any other dipole of ``scripts/shapes_compare.py`` (whose runs are saved under runs/compare/),
ship its clean run with the lowest off/Δ ratio — of ContraCLIP as the quick preset trains it (``PREFERRED``: the
per-family objective since 2026-12-06, the zero-shot one before it) if one of its runs is clean, else of plain
ContraCLIP, else of any variant. The set goes to checkpoints/shapes/paths/<name>/ with its evaluation recorded in
paths.json (what the model card and the tests read), and its table and curves to docs/<name>-eval/. What was kept
or shipped is printed and written to docs/shapes-shipped.json, and the table of every shipped set (with its
held-out figures) into docs/PATHS.md.

    python scripts/ship_shapes_paths.py            # after shapes_compare.py --worker … has measured every run
    python scripts/ship_shapes_paths.py --fresh    # the same, replacing every set (the world or its CLIP changed)
    python scripts/ship_shapes_paths.py --refresh large-small  # choose these sets afresh (the preset changed)
    python scripts/ship_shapes_paths.py --dry-run  # print the choice only
    python scripts/ship_shapes_paths.py --tables   # only rewrite the table of what ships

With ``--fresh`` a dipole none of whose runs is clean on both anchor sets still ships its best run — the highest ρ
among runs within the off-target bar (else the lowest off/Δ), the preferred variants first on ties — recorded as not
clean, so the shipped table and the model card say so rather than keep a set trained for another CLIP.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import shapes_compare as compare  # noqa: E402
from contraclip_core.cli import main as cli_main  # noqa: E402
from contraclip_core.methods.contraclip.evaluate import evaluate_shapes, off_ratio  # noqa: E402

SHIPPED = ROOT / "checkpoints" / "shapes" / "paths"
RECORD = ROOT / "docs" / "shapes-shipped.json"  # what was kept or shipped from which training run
HELD_OUT = range(1000, 1064)  # anchors the choice is checked on, disjoint from the reported 0…31
# The quick preset's ContraCLIP (its per-family objective since 2026-12-06) ships without a suffix, as plain ContraCLIP
# did when it was the preset: one set per dipole, so the two never ship side by side.
SUFFIX = {"contraclip, per family": "", "contraclip": "", "contraclip+pae": "-pae", "linear": "-linear",
          "linear+pae": "-linear-pae", "contraclip+zero-shot": "-zero-shot"}
PREFERRED = ["contraclip, per family", "contraclip+zero-shot", "contraclip"]  # the preset's first, then the older ones
NAMES = {("a triangle", "a circle"): "triangle-circle", ("a red shape", "a blue shape"): "red-blue",
         ("a large shape", "a small shape"): "large-small", ("a circle", "a square"): "circle-square",
         ("a shape on the left", "a shape on the right"): "left-right",
         ("a shape at the top", "a shape at the bottom"): "top-bottom",
         ("a shape on a light background", "a shape on a dark background"): "light-dark",
         ("a yellow shape", "a cyan shape"): "yellow-cyan", ("a green shape", "a magenta shape"): "green-magenta",
         ("a triangle", "a square"): "triangle-square", ("a red shape", "a green shape"): "red-green",
         ("an orange shape", "a cyan shape"): "orange-cyan", ("a purple shape", "a yellow shape"): "purple-yellow",
         ("a pink shape", "a green shape"): "pink-green"}


def clean_everywhere(folder: Path, generator) -> bool:
    from contraclip_core.methods.contraclip.artefact import PathSet

    path_set = PathSet.load(folder, generator)
    return all(r.clean for anchors in (range(compare.SEEDS), HELD_OUT)
               for r in evaluate_shapes(generator, path_set, seeds=anchors, step_size=0.25))


def keep(dipole: tuple[str, str], generator) -> Path | None:
    """The set this dipole already ships as, if it is clean on the reported and on the held-out anchors."""
    for folder in (SHIPPED / (NAMES[dipole] + suffix) for suffix in SUFFIX.values()):
        if (folder / "paths.json").exists() and clean_everywhere(folder, generator):
            return folder
    return None


def evaluate_into(folder: Path) -> None:
    """Record the set's evaluation in its paths.json and write docs/<name>-eval/ (table, metrics, curves)."""
    cli_main(["evaluate", str(folder), "--seeds", str(compare.SEEDS), "--save-metrics",
              "--out", str(ROOT / "docs" / f"{folder.name}-eval")])


def held_out(generator, variant: str, dipole: tuple[str, str], seed: int):
    """A measured run's path evaluated on the held-out anchors, and the figures the shipped record keeps of it."""
    from contraclip_core.methods.contraclip.artefact import PathSet

    folder = compare.PATH_SETS / compare.key(variant, dipole, seed)
    report = evaluate_shapes(generator, PathSet.load(folder, generator), seeds=HELD_OUT, step_size=0.25)[0]
    return report, {"rho": report.target_rho, "delta": report.target_change, "off": report.off_target_max}


def best_unclean(dipole: tuple[str, str], data: dict[str, dict], generator) -> tuple[str, int, dict] | None:
    """(variant, training seed, measurement with its held-out figures) of the dipole's best run when none is clean:
    the highest ρ among runs with Δ ≥ the bar and off ≤ the bar's share of Δ, else the lowest off/Δ; None if the
    dipole has no run."""
    runs = [(v, seed, r) for v in compare.VARIANTS if v in SUFFIX for seed in compare.TRAIN_SEEDS
            if (r := data.get(compare.key(v, dipole, seed)))]
    if not runs:
        return None
    within = [x for x in runs if x[2]["delta"] >= compare.DELTA_BAR and compare.ratio(x[2]) <= compare.RATIO_BAR]
    variant, seed, r = (max(within, key=lambda x: (x[2]["rho"], x[0] in PREFERRED)) if within
                        else min(runs, key=lambda x: compare.ratio(x[2])))
    return variant, seed, r | {"held_out": held_out(generator, variant, dipole, seed)[1]}


def choose(dipole: tuple[str, str], data: dict[str, dict], generator) -> tuple[str, int, dict] | None:
    """(variant, training seed, measurement) of the run to ship, or None if no run of the dipole is clean."""
    others = [v for v in compare.VARIANTS if v not in PREFERRED and v in SUFFIX]
    for variants in [[v] for v in PREFERRED] + [others]:
        runs = [(compare.ratio(r), v, seed, r) for v in variants for seed in compare.TRAIN_SEEDS
                if (r := data.get(compare.key(v, dipole, seed))) and compare.passes(r)]
        for _, variant, seed, r in sorted(runs, key=lambda x: x[:3]):
            report, figures = held_out(generator, variant, dipole, seed)
            if report.clean:
                return variant, seed, r | {"held_out": figures}
            print(f"  {variant} seed {seed}: clean on anchors 0…31, not on the held-out ones "
                  f"(ρ {report.target_rho:.2f}, off/Δ {report.off_ratio:.2f}); next")
    return None


BEGIN, END = "<!-- shipped:begin -->", "<!-- shipped:end -->"
DOCS = (ROOT / "docs" / "PATHS.md",)  # the docs that show the table of what ships (its links are relative to docs/)


def table(generator) -> str:
    """Every shipped Shapes path with the evaluation its paths.json records, and the same on held-out anchors."""
    from contraclip_core.methods.contraclip.objectives import label_suffix
    from contraclip_core.methods.contraclip.artefact import PathSet

    lines = ["| set | path (first / second sentence) | target | ρ | Δ target | largest off-target | off/Δ | clean | "
             f"held-out anchors ({len(HELD_OUT)}): ρ · off/Δ |", "|---|---|---|---|---|---|---|---|---|"]
    for folder in PathSet.shipped("shapes-128"):
        meta = json.loads((folder / "paths.json").read_text())
        held_out = evaluate_shapes(generator, PathSet.load(folder, generator), seeds=HELD_OUT, step_size=0.25)
        settings, evaluation = meta["settings"], meta["metrics"]["shapes_eval"]
        objective = label_suffix(settings.get("objective", "plain")).strip(" ()") or "plain"
        how = ("linear" if settings.get("method") == "linear" else "ContraCLIP") + f", {objective}"
        eval_doc = ROOT / "docs" / f"{folder.name}-eval" / "table.md"
        name = f"[`{folder.name}`]({folder.name}-eval/table.md)" if eval_doc.exists() else f"`{folder.name}`"
        for k, row in enumerate(evaluation["per_path"]):
            ratio = off_ratio(row["off_target_max"], row["target_change"])
            lines.append(f"| {name if k == 0 else ''} | {row['dipole'][0]} / {row['dipole'][1]} ({how}) | "
                         f"{row['target']} | {row['target_rho']:.3f} | {row['target_change']:.2f} | "
                         f"{row['off_target_max']:.2f} ({row['off_target_worst']}) | {ratio:.2f} | "
                         f"{'✓' if row.get('clean') else '✗'} | {held_out[k].target_rho:.3f} · "
                         f"{held_out[k].off_ratio:.2f} {'✓' if held_out[k].clean else '✗'} |")
    return "\n".join(lines)


def write_tables(generator) -> None:
    block = f"{BEGIN}\n{table(generator)}\n{END}"
    for doc in DOCS:
        text = doc.read_text()
        if BEGIN not in text or END not in text:
            raise SystemExit(f"{doc} has no {BEGIN} … {END} block to write the shipped sets' table into")
        doc.write_text(text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):])
        print(f"wrote the shipped sets' table into {doc}")


def main() -> None:
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip.artefact import PathSet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the choice, ship nothing")
    parser.add_argument("--tables", action="store_true", help="only write the shipped sets' table (docs/PATHS.md)")
    parser.add_argument("--fresh", action="store_true",
                        help="replace every shipped set from the measured runs, the best one where none is clean")
    parser.add_argument("--refresh", nargs="+", default=[], metavar="NAME",
                        help="choose these dipoles' sets afresh (e.g. large-small) even if the shipped one is clean")
    args = parser.parse_args()
    if unknown := set(args.refresh) - set(NAMES.values()):
        raise SystemExit(f"unknown set names {sorted(unknown)}; choose from {sorted(NAMES.values())}")
    generator, data, record = from_pretrained("shapes-128"), compare.load_all(), {}
    before = json.loads(RECORD.read_text()) if RECORD.exists() else {}  # how each shipped set was chosen then
    if args.tables:
        return write_tables(generator)
    for dipole in compare.DIPOLES:
        kept = None if args.fresh or NAMES[dipole] in args.refresh else keep(dipole, generator)
        if kept is not None:
            print(f"{dipole[0]} / {dipole[1]}: the shipped {kept.name} is clean on both anchor sets; kept, re-evaluated")
            record[kept.name] = {**before.get(kept.name, {}), "dipole": list(dipole), "kept": True}
            if not args.dry_run:
                evaluate_into(kept)
            continue
        chosen, clean = choose(dipole, data, generator), True
        if chosen is None and args.fresh and (chosen := best_unclean(dipole, data, generator)) is not None:
            clean = False
            print(f"{dipole[0]} / {dipole[1]}: no clean run — shipping the best, not clean")
        if chosen is None:
            print(f"{dipole[0]} / {dipole[1]}: no clean run — nothing shipped")
            for old in (NAMES[dipole] + s for s in SUFFIX.values()):  # a set shipped before stays, and says so
                if (SHIPPED / old / "paths.json").exists():
                    record[old] = {**before.get(old, {}), "dipole": list(dipole), "kept": True, "clean": False}
            continue
        variant, seed, r = chosen
        name = NAMES[dipole] + SUFFIX[variant]
        print(f"{dipole[0]} / {dipole[1]}: {variant} seed {seed} → {name} (ρ {r['rho']:.3f}, Δ {r['delta']:.2f}, "
              f"off/Δ {compare.ratio(r):.2f}; held out: ρ {r['held_out']['rho']:.3f}, "
              f"off/Δ {r['held_out']['off'] / r['held_out']['delta']:.2f})")
        record[name] = {"dipole": list(dipole), "variant": variant, "train_seed": seed, "clean": clean,
                        "measurement": compare.key(variant, dipole, seed), "held_out": r["held_out"]}
        if args.dry_run:
            continue
        for old in (NAMES[dipole] + s for s in SUFFIX.values()):  # what this dipole shipped as before (any variant)
            for folder in (SHIPPED / old, ROOT / "docs" / f"{old}-eval"):
                if folder.exists():
                    shutil.rmtree(folder)
        target = SHIPPED / name
        shutil.copytree(compare.PATH_SETS / compare.key(variant, dipole, seed), target)
        path_set = PathSet.load(target, generator)
        path_set.name = name
        path_set.save_metadata(target)
        evaluate_into(target)
    if not args.dry_run:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        write_tables(generator)


if __name__ == "__main__":
    main()
