"""The orientation check on the side-by-side's backwards runs (docs/PATHS.md): retrain the runs that went the wrong
way (and, as controls, the other seeds of the same cells), each as scripts/shapes_compare.py trains it (quick preset,
the dipole alone, one torch thread), and report per run the check's CLIP-space movement, whether it flipped the path,
and the ground truth (``evaluate_shapes``, anchors 0…31, 8 steps of η 0.25) of the path as trained and as shipped
after the check. Writes docs/levers/orientation_<date>.json and prints a Markdown table.

    python scripts/orientation_check.py            # the 4 backwards runs and 5 controls (~20 s each, one thread)
    python scripts/orientation_check.py --only-backwards
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contraclip_core.methods.contraclip import orientation, presets  # noqa: E402
from contraclip_core.methods.contraclip.evaluate import evaluate_shapes  # noqa: E402

CIRCLE_SQUARE, TRIANGLE_SQUARE = ("a circle", "a square"), ("a triangle", "a square")
PAE = {"objective": "pae-subspace"}
# (variant, method, overrides, dipole, training seed, went backwards in docs/measurements)
RUNS = [
    ("contraclip+pae", "contraclip", PAE, CIRCLE_SQUARE, 1, True),
    ("contraclip+pae", "contraclip", PAE, TRIANGLE_SQUARE, 1, True),
    ("linear+pae", "linear", PAE, TRIANGLE_SQUARE, 0, True),
    ("linear+pae", "linear", PAE, TRIANGLE_SQUARE, 1, True),
    ("contraclip+pae", "contraclip", PAE, CIRCLE_SQUARE, 0, False),
    ("contraclip+pae", "contraclip", PAE, CIRCLE_SQUARE, 2, False),
    ("contraclip+pae", "contraclip", PAE, TRIANGLE_SQUARE, 0, False),
    ("contraclip+pae", "contraclip", PAE, TRIANGLE_SQUARE, 2, False),
    ("linear+pae", "linear", PAE, TRIANGLE_SQUARE, 2, False),
]


def figures(generator, path_set) -> dict:
    r = evaluate_shapes(generator, path_set, seeds=range(32), step_size=0.25)[0]
    return {"rho": round(r.target_rho, 4), "delta": round(r.target_change, 3), "off": round(r.off_target_max, 3),
            "off_attr": r.off_target_worst}


def main() -> None:
    from contraclip_core.clip import load_clip
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip.train import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only-backwards", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    results = []
    for variant, method, overrides, dipole, seed, backwards_before in RUNS:
        if args.only_backwards and not backwards_before:
            continue
        config = presets.train_config("shapes-128", "quick", dipoles=[dipole], method=method, seed=seed)
        for k, v in overrides.items():
            setattr(config, k, v)
        trainer = Trainer(config, generator, clip)
        start = time.monotonic()
        path_set = trainer.train()  # ends with the orientation check (and the flip, if any)
        seconds = time.monotonic() - start
        record = path_set.metrics["orientation"][0]
        as_trained = copy.deepcopy(path_set)
        if record["flipped"]:
            orientation.flip(as_trained.lss, 0)  # undo the check's flip: the path as the training left it
        start = time.monotonic()
        again = orientation.movements(path_set.lss, trainer.view, generator, clip, trainer.css.support_sets[:, 0],
                                      trainer.css.support_sets[:, 1], trainer.config.truncation,
                                      record["step_size"])[0].mean()
        check_seconds = time.monotonic() - start
        row = {"variant": variant, "dipole": list(dipole), "train_seed": seed,
               "backwards_in_side_by_side": backwards_before, "movement": record["movement"],
               "flipped": record["flipped"], "forward_anchors": record["forward_anchors"],
               "movement_after": round(float(again), 6), "as_trained": figures(generator, as_trained),
               "after_check": figures(generator, path_set), "train_seconds": round(seconds, 1),
               "check_seconds": round(check_seconds, 3)}
        results.append(row)
        print(json.dumps(row), flush=True)
    out = ROOT / "docs" / "levers" / f"orientation_{datetime.date.today()}.json"
    out.write_text(json.dumps({"protocol": __doc__.splitlines()[0], "threads": 1, "results": results}, indent=1) + "\n")
    print("\n| run | seed | backwards before? | movement | flipped | anchors forward after | as trained: ρ · Δ "
          "| after the check: ρ · Δ |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        a, b = r["as_trained"], r["after_check"]
        print(f"| {r['variant']} {r['dipole'][0]} / {r['dipole'][1]} | {r['train_seed']} | "
              f"{'yes' if r['backwards_in_side_by_side'] else 'no'} | {r['movement']:+.4f} | "
              f"{'yes' if r['flipped'] else 'no'} | {r['forward_anchors']:.2f} | {a['rho']:.3f} · {a['delta']:.2f} | "
              f"{b['rho']:.3f} · {b['delta']:.2f} |")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
