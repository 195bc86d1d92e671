"""What allocator.py's malloc tuning changes, each way in a fresh process: images/s, minor page faults per image and
resident memory after the renders — glibc's defaults, its steady-state thresholds (what the bench's naive rows run
under) and the tuned thresholds, for the naive and the fast path, interleaved round by round; speeds as ratios
against the naive path in a fresh process with glibc's defaults. The figures docs/PERFORMANCE.md and allocator.py
quote.

    python bench/malloc_check.py [--size 1024] [--batch 4] [--impl grouped fast] [--images 3] [--rounds 3]
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = r"""
import json, resource, sys, time
import torch
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/bench")
from contraclip_core import allocator
mode, size, batch, impl, images = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
if mode == "tuned":
    allocator.tune()
elif mode == "steady":
    allocator.set_thresholds(*allocator.GLIBC_STEADY)
from bench import stylegan2
g = stylegan2(size, "cpu")
g.set_impl(impl)
w = g.encode(torch.randn(batch, g.z_dim, generator=torch.Generator().manual_seed(1)), "w", 1.0)  # as the bench
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**30
faults, seconds = [], []
with torch.no_grad():
    for _ in range(images):
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        g.synthesis(w, "w")
        seconds.append(time.perf_counter() - t0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"faults": faults, "seconds": seconds, "rss_gb": rss(),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def probe(mode: str, impl: str, size: int, batch: int, images: int) -> dict:
    """One fresh process: ``images`` renders of one (malloc mode, path) of the bench's seeded StyleGAN2 and latents;
    its seconds and faults per render, and images/s after the first render. Also the bench's fresh-process row."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), mode, str(size), str(batch), impl, str(images)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    later = r["seconds"][1:] or r["seconds"]
    r["images_per_s"] = batch * len(later) / sum(later)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--impl", nargs="+", default=["grouped", "fast"], choices=["grouped", "activations", "fast"])
    parser.add_argument("--images", type=int, default=3, help="renders per process (the first warms up)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per (malloc, path), interleaved round by round so load hits all alike")
    args = parser.parse_args()
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"StyleGAN2 {args.size} px, batch {args.batch}, {args.images} renders per process, {args.rounds} rounds")
    keys = [(impl, mode) for impl in args.impl for mode in ("default", "steady", "tuned")]
    runs: dict[tuple[str, str], list[dict]] = {key: [] for key in keys}
    for _ in range(args.rounds):
        for impl, mode in keys:
            runs[impl, mode].append(probe(mode, impl, args.size, args.batch, args.images))
    speed = {key: statistics.median(r["images_per_s"] for r in rs) for key, rs in runs.items()}
    print("| path | malloc | images/s (median; each round) | minor faults per image (last round) | RSS after | peak RSS |")
    print("|---|---|---|---|---|---|")
    for (impl, mode), rs in runs.items():
        last, each = rs[-1], ", ".join(f"{r['images_per_s']:.2f}" for r in rs)
        print(f"| {impl} | {mode} | {speed[impl, mode]:.2f} ({each}) | "
              f"{', '.join(str(f) for f in last['faults'][1:])} | {last['rss_gb']:.2f} GB | {last['peak_gb']:.2f} GB |")
    if ("grouped", "default") in speed:
        base = speed["grouped", "default"]
        print(f"against the naive path in a fresh process with glibc's defaults ({base:.2f} img/s): " + ", ".join(
            f"{impl} {mode} {v / base:.2f}x" for (impl, mode), v in speed.items() if (impl, mode) != ("grouped", "default")))


if __name__ == "__main__":
    main()
