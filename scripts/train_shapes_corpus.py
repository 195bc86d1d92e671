"""Train the jointly trained Shapes corpus set (`shapes-corpus`) from several seeds and print each path's figures on
the reported anchors 0…31 and the held-out anchors 1000…1063 — how the shipped set was chosen.

Quick preset, whitened W, 3,600 iterations: six dipoles share each batch, so six times the single-dipole 600 gives
every path as many updates as training it alone. One thread per run, as the side-by-side's runs.

    python scripts/train_shapes_corpus.py --seeds 0 1 2 3 4 --out runs/corpus   # one folder per seed

Run of 2026-12-01 (AMX Xeon, 2 cores, one run at a time beside other jobs, ~400 s each; this code as a hand script
before it was committed): seeds 0 and 3 clean on all six paths on anchors 0…31, seeds 1, 2, 4 not; on the held-out
anchors red/blue had ρ 0.908–0.933 in every seed. Seed 0 shipped (checkpoints/shapes/paths/shapes-corpus).

Run of 2026-12-06 with the zero-shot preset (AMD EPYC, two runs at a time, 56–62 s each): seed 0 clean on all six
paths on anchors 0…31 (red/blue ρ 0.968), seeds 1–4 not (red/blue 0.855–0.953); on the held-out anchors red/blue
had ρ 0.578–0.927, every other path clean in every seed. Seed 0 ships.

Run of 2026-12-06 evening with the per-family preset whose colour objective is zero-shot-circle (AMD EPYC, two runs
at a time, 66–71 s each): seeds 0, 1, 3, 4 clean on all six paths on both anchor sets (red/blue ρ 0.986–0.999 on
anchors 0…31, 0.951–0.981 held out), seed 2 not (circle/square 0.51 ×). Seed 0 ships.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contraclip_core import allocator, registry
from contraclip_core.methods.contraclip import presets  # noqa: E402
from contraclip_core.clip import load_clip  # noqa: E402
from contraclip_core.methods.contraclip.evaluate import evaluate_shapes  # noqa: E402
from contraclip_core.generators import from_pretrained  # noqa: E402
from contraclip_core.methods.contraclip.train import Trainer  # noqa: E402

HELD_OUT = range(1000, 1064)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--iterations", type=int, default=3600)
    parser.add_argument("--out", default="runs/corpus")
    args = parser.parse_args()
    allocator.tune()
    torch.set_num_threads(1)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    dipoles = registry.corpus_sentences("shapes", "{}")
    for seed in args.seeds:
        config = presets.train_config("shapes-128", "quick", dipoles=dipoles)
        config.iterations, config.seed = args.iterations, seed
        start = time.monotonic()
        path_set = Trainer(config, generator, clip).train()
        path_set.name = "shapes-corpus"
        path_set.metrics["train_seconds"] = round(time.monotonic() - start, 1)
        path_set.save(Path(args.out) / f"seed{seed}")
        for anchors in (range(32), HELD_OUT):
            for r in evaluate_shapes(generator, path_set, seeds=anchors, step_size=0.25):
                print(f"seed {seed} anchors {anchors[0]}…{anchors[-1]} {r.dipole[0]}: ρ {r.target_rho:.3f} "
                      f"Δ {r.target_change:.2f} off {r.off_target_max:.2f} ({r.off_target_worst}) "
                      f"off/Δ {r.off_ratio:.2f} {'clean' if r.clean else 'not clean'}", flush=True)
        print(f"seed {seed}: {path_set.metrics['train_seconds']} s", flush=True)


if __name__ == "__main__":
    main()
