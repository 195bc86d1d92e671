"""Speed at real size: the naive baseline beside the optimised paths, in one run, as ratios.

What the Space's users wait on: generator images/s in each precision (PSNR of each against the naive fp32 image;
GFLOP/s against the fp32 matmul peak measured in the same run), the precision ``precision.py`` picks here and why, a
ContraCLIP training step, the Shapes quick preset end to end, and a traversal (time to the first streamed image and
to the GIF). Weights are random (seeded): the timings equal those of real weights. The naive baseline is the
straightforward implementation: grouped-convolution modulated convolutions (rosinality's), fp32, TF32 off, NCHW,
full-resolution renders for CLIP, one frame at a time.

    python bench/bench.py --device cpu --size 256 1024 --batch 1 4 --out docs/PERFORMANCE.md   # the free CPU tier
    python bench/bench.py --device cuda --out docs/PERFORMANCE-cuda.md                           # a GPU Space
    python bench/bench.py --device cpu --size 32 --batch 1 --iters 1 --clip shapes-clip        # a smoke run
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from contraclip_core import allocator  # noqa: E402
from contraclip_core import precision as precision_mod  # noqa: E402
from contraclip_core.generators import fast_ops  # noqa: E402
from contraclip_core.generators.pggan import PGGANConfig, PGGANGenerator  # noqa: E402
from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator  # noqa: E402
from contraclip_core.inputs import LIMITS  # noqa: E402
from malloc_check import probe  # noqa: E402
from training_rows import malloc_for, shapes_training_rows, train_step_rows, traversal_rows  # noqa: E402

# (label, impl, NNPACK on, malloc tuned): the ways StyleGAN2 synthesis can run in this process; the first is the
# naive path, whose image the others are compared with. Untuned ways run under glibc's own thresholds at their steady
# state (allocator.GLIBC_STEADY); "naive, malloc tuned" shows what the allocator alone is worth.
WAYS = {"naive (grouped, NCHW)": ("grouped", False, False), "naive, malloc tuned": ("grouped", False, True),
        "activations (NCHW)": ("activations", False, False), "fast, direct convs": ("fast", False, True),
        "fast + Winograd (NNPACK)": ("fast", True, True)}
# On a CPU the baseline every ratio is read against: the naive path in a process of its own, started each round with
# glibc's real malloc defaults (what a script without this project's tuning gets), timed on its second render.
FRESH = "naive, fresh process"


# --- set-up ----------------------------------------------------------------------------------------------------------
def stylegan2(size: int, device: str) -> StyleGAN2Generator:
    torch.manual_seed(0)
    g = StyleGAN2Generator(StyleGAN2Config(size=size, style_dim=512, n_mlp=8, channel_multiplier=2))
    StyleGAN2Generator.after_conversion(g)  # latent_avg from 10k seeded z, as for a checkpoint without one
    return g.to(device).eval().requires_grad_(False)


def pggan(size: int, device: str) -> PGGANGenerator:
    torch.manual_seed(0)
    g = PGGANGenerator(PGGANConfig(resolution=size))
    return g.to(device).eval().requires_grad_(False)


def clip_model(name: str, device: str):
    """ViT-B/32 with random weights (the real architecture, QuickGELU), or the shipped Shapes CLIP."""
    from contraclip_core.clip import _wrap, load_shapes_clip

    if name == "shapes-clip":
        return load_shapes_clip(device=device)
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None, force_quick_gelu=True)
    return _wrap(model, name, device, torch.float32)


@contextmanager
def precision(mode: str, device: str) -> Iterator[None]:
    """fp32 (TF32 off), tf32, bf16 or fp16 (autocast; TF32 on for the rest on GPUs); flags restored after."""
    tf32 = mode != "fp32" and torch.device(device).type == "cuda"
    with precision_mod.Precision(mode, tf32, "bench").context(device):
        yield


@contextmanager
def way(g: StyleGAN2Generator, impl: str, nnpack: bool, malloc_tuned: bool = True) -> Iterator[None]:
    saved = fast_ops.USE_NNPACK
    g.set_impl(impl)
    fast_ops.USE_NNPACK = nnpack
    try:
        with malloc_for(naive=not malloc_tuned):
            yield
    finally:
        fast_ops.USE_NNPACK = saved
        g.set_impl("fast")


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str, iters: int, warmup: int = 1) -> float:
    """Median seconds per call after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [−1, 1] (peak-to-peak 2)."""
    return precision_mod.psnr(a, b)


def matmul_peak(device: str, n: int = 2048, iters: int = 5) -> float:
    """fp32 GFLOP/s of an n×n matmul here (TF32 off): the roofline the synthesis GFLOP/s are read against."""
    a = torch.randn(n, n, device=device)
    with precision("fp32", device):
        seconds = timed(lambda: a @ a, device, iters)
    return 2 * n**3 / seconds / 1e9


def gflop_per_image(g: StyleGAN2Generator, device: str) -> float:
    """FLOPs of one image through the naive path (FlopCounterMode counts convolutions and matmuls), in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    w = g.encode(g.sample_z([0]), "w", 1.0)
    with torch.no_grad(), way(g, "grouped", False), FlopCounterMode(display=False) as counter:
        g.synthesis(w, "w")
    return counter.get_total_flops() / 1e9


# --- measurements ----------------------------------------------------------------------------------------------------
def bench_stylegan2(g: StyleGAN2Generator, variants: list[tuple[str, str]], batch: int, iters: int, device: str,
                    gflop: float, peak: float, fresh: bool = False) -> list[dict]:
    """Images/s of each (way, precision) variant, interleaved round by round (so machine load hits all alike), and
    with ``fresh`` the naive path in a new process each round (``FRESH``): ratios against that row when it is there,
    else against the first variant; PSNR against the first variant's image (the naive path); effective GFLOP/s and its
    share of the matmul peak."""
    z = torch.randn(batch, g.z_dim, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        w = g.encode(z, "w", 1.0)
    runs = {}
    for label, mode in variants:
        impl, nnpack, tuned = WAYS[label]

        def run(impl=impl, nnpack=nnpack, tuned=tuned, mode=mode) -> torch.Tensor:
            with torch.no_grad(), way(g, impl, nnpack, tuned), precision(mode, device):
                return g.synthesis(w, "w")
        runs[label, mode] = run
    images = {key: run().float() for key, run in runs.items()}  # also the warm-up
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    fresh_times: list[float] = []
    for _ in range(iters):
        for key, run in runs.items():
            times[key].append(timed(run, device, 1, warmup=0))
        if fresh:
            fresh_times.append(probe("default", "grouped", g.resolution, batch, 2)["seconds"][1])
    reference = images[variants[0]]

    def row(label: str, mode: str, seconds: list[float], psnr_db: float | None) -> dict:
        ips = batch / statistics.median(seconds)
        return {"generator": f"StyleGAN2 {g.resolution}", "impl": label, "precision": mode, "batch": batch,
                "images_per_s": ips, "psnr_db": psnr_db, "gflop_s": gflop * ips, "peak_share": gflop * ips / peak}
    rows = [row(FRESH, "fp32", fresh_times, None)] if fresh else []
    rows += [row(label, mode, t, psnr(images[label, mode], reference)) for (label, mode), t in times.items()]
    for r in rows:
        r["ratio"] = r["images_per_s"] / rows[0]["images_per_s"]
    return rows


def bench_pggan(g, modes: list[str], batch: int, iters: int, device: str) -> list[dict]:
    z = torch.randn(batch, g.z_dim, generator=torch.Generator().manual_seed(1)).to(device)
    rows, reference = [], None
    for mode in modes:
        def run() -> torch.Tensor:
            with torch.no_grad(), precision(mode, device):
                return g.synthesis(z, "z")
        seconds = timed(run, device, iters)
        image = run().float()
        reference = image if reference is None else reference
        rows.append({"generator": f"PGGAN {g.resolution}", "impl": "-", "precision": mode, "batch": batch,
                     "images_per_s": batch / seconds, "psnr_db": psnr(image, reference)})
    for r in rows:
        r["ratio"] = r["images_per_s"] / rows[0]["images_per_s"]
    return rows


# --- report ----------------------------------------------------------------------------------------------------------
def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[1] for c in columns) + " |\n|" + "---|" * len(columns) + "\n"

    def cell(v, fmt):
        return "—" if v is None else (f"{v:{fmt}}" if fmt else str(v))
    return head + "\n".join("| " + " | ".join(cell(r.get(k), f) for k, _, f in columns) + " |" for r in rows)


def machine(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(device)
    props = precision_mod.DeviceProps.of("cpu")
    load = f", load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    return f"CPU {props.name} ({platform.machine()}, {torch.get_num_threads()} threads{load})"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, nargs="+", default=None,
                        help="generator resolutions (default: 256 1024 on a CPU, 1024 on a GPU)")
    parser.add_argument("--batch", type=int, nargs="+", default=None,
                        help="images per synthesis call (default: 1 4 on a CPU, 8 on a GPU); the first also sizes "
                             "the training step")
    parser.add_argument("--iters", type=int, default=3, help="timed rounds per measurement (median)")
    parser.add_argument("--frames", type=int, default=16, help="traversal moves (frames − 1)")
    parser.add_argument("--clip", default="ViT-B-32", help="open_clip architecture (random weights) or shapes-clip")
    parser.add_argument("--train-size", type=int, default=None, help="StyleGAN2 size for the training-step rows "
                        "(default: the first --size)")
    parser.add_argument("--shapes-iterations", type=int, default=None,
                        help="iterations for the Shapes quick-preset row (default: the preset's)")
    parser.add_argument("--no-pggan", action="store_true", help="skip the PGGAN rows")
    parser.add_argument("--matmul-n", type=int, default=2048, help="size of the square matmul that measures the peak")
    parser.add_argument("--out", help="write the report (Markdown) here; JSON beside it")
    args = parser.parse_args(argv)
    device = args.device
    malloc = allocator.tune()  # the app's setting; the naive ways switch back to glibc's own (way())
    cuda = torch.device(device).type == "cuda"
    sizes = args.size or ([1024] if cuda else [256, 1024])
    batches = args.batch or ([8] if cuda else [1, 4])
    modes = ["fp32", "tf32", "bf16", "fp16"] if cuda else ["fp32", "bf16"]
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": machine(device), "torch": torch.__version__, "args": vars(args),
        "nnpack": fast_ops.nnpack_ok(), "allocator": malloc, "matmul_peak_gflop_s": matmul_peak(device, args.matmul_n),
    }
    peak = results["matmul_peak_gflop_s"]
    synth, flops = [], {}
    first = None
    for size in sizes:
        g = stylegan2(size, device)
        first = first or g
        flops[size] = gflop_per_image(g, device)
        chosen = precision_mod.select(g, device)
        results.setdefault("precision", {})[f"StyleGAN2 {size}"] = chosen.describe()
        results.setdefault("precision_mode", {})[size] = chosen.mode
        fastest = "fast, direct convs" if cuda else "fast + Winograd (NNPACK)"  # NNPACK is CPU-only
        variants = [(label, "fp32") for label in WAYS if not (cuda and "NNPACK" in label)]
        variants += [(fastest, m) for m in modes[1:]]
        for batch in batches:
            synth += bench_stylegan2(g, variants, batch, args.iters, device, flops[size], peak, fresh=not cuda)
        if not args.no_pggan:
            synth += bench_pggan(pggan(size, device), modes, batches[0], args.iters, device)
        if size != sizes[0]:
            del g
    results["gflop_per_image"] = flops
    results["synthesis"] = synth
    train_g = first if args.train_size in (None, sizes[0]) else stylegan2(args.train_size, device)
    clip = clip_model(args.clip, device)
    results["train_size"] = train_g.resolution
    results["train_step"] = train_step_rows(train_g, clip, args.clip,
                                            [("grouped", "fp32"), ("fast", "fp32")] + [("fast", m) for m in modes[1:]],
                                            batches[0], args.iters, device, precision)
    results["shapes_training"] = shapes_training_rows(args.shapes_iterations, device,
                                                      [torch.get_num_threads()] + ([1] if not cuda else []))
    top = stylegan2(sizes[-1], device) if sizes[-1] != sizes[0] else first
    best = results["precision_mode"][sizes[-1]]  # what the service would use for this generator here
    chunk = max(1, min(32, LIMITS["stream_chunk_pixels"] // top.resolution**2))  # as the service streams
    results["traversal"] = traversal_rows(top, [("grouped", "fp32", 1, False), ("fast", "fp32", chunk, False),
                                                ("fast", best, chunk, True)], args.frames, max(1, args.iters - 1),
                                          device, precision)
    print(report(results, argv))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_report(out, report(results, argv))
        out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    return results


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_report(out: Path, text: str) -> None:
    """Write the run into ``out``: between its bench markers when the file has them (docs/PERFORMANCE.md keeps its
    prose and findings around the run), else the whole file."""
    old = out.read_text() if out.exists() else ""
    if BEGIN in old and END in old:
        text = old[: old.index(BEGIN) + len(BEGIN)] + "\n" + text.rstrip() + "\n" + old[old.index(END):]
    out.write_text(text.rstrip("\n") + "\n")


def report(results: dict[str, Any], argv: list[str] | None) -> str:
    args = results["args"]
    ts = results["train_step"]
    shapes = results["shapes_training"]
    flops = ", ".join(f"{s} px: {f:.1f}" for s, f in results["gflop_per_image"].items())
    return "\n\n".join([
        f"Run {results['date']} on {results['device']}, torch {results['torch']}, NNPACK "
        f"{'available' if results['nnpack'] else 'not available'}; "
        f"`python bench/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`.",
        f"fp32 matmul peak measured in this run: **{results['matmul_peak_gflop_s']:.0f} GFLOP/s** "
        f"({args['matmul_n']}² `a @ a`). "
        f"StyleGAN2 config-f GFLOP per image (FlopCounterMode, naive path): {flops}.",
        f"**Memory allocator** (`contraclip_core/allocator.py`): {results.get('allocator', '—')}; the untuned "
        f"rows run under glibc's own thresholds, and on a CPU the baseline row (\"{FRESH}\") in a new process each "
        "round with glibc's real defaults.",
        "**Precision chosen here** (`contraclip_core/precision.py`): " + "; ".join(
            f"{k} → {v}" for k, v in results["precision"].items()),
        "**Synthesis** (variants interleaved round by round; × naive: images/s over the first row of each "
        "generator and batch — on a CPU the naive path in a fresh process, timed on its second render; PSNR against "
        "the naive fp32 image rendered in this process; GFLOP/s = GFLOP per image × images/s, "
        "% peak against the matmul peak above — Winograd does fewer multiplications than it is credited with, so it "
        "can exceed 100%)",
        table(results["synthesis"], [("generator", "generator", ""), ("impl", "way", ""),
                                     ("precision", "precision", ""), ("batch", "batch", ""),
                                     ("images_per_s", "images/s", ".2f"), ("ratio", "× naive", ".2f"),
                                     ("psnr_db", "PSNR dB", ".1f"), ("gflop_s", "GFLOP/s", ".0f"),
                                     ("peak_share", "of peak", ".0%")]),
        f"**Training step** (StyleGAN2 {results['train_size']}, "
        f"W+ ℓ = {ts[0]['layers']}, CLIP {ts[0]['clip']}, contrastive loss; × naive: naive ms over this row's)",
        table(ts, [("impl", "way", ""), ("precision", "precision", ""), ("batch", "batch", ""),
                   ("ms_per_step", "ms/step", ".1f"), ("ratio", "× naive", ".2f"), ("peak_gb", "peak GB", ".2f")]),
        "**Shapes quick preset, one dipole (a red shape / a blue shape), end to end**, then its path on the ground "
        "truth (32 seeds, 8 steps of 0.25 each way; the quality bars: ρ ≥ 0.9, Δ ≥ 1, off-target < Δ). Naive: the "
        "preset before (batch 8, a fresh anchor each draw, W not whitened), full-resolution renders resized for "
        "CLIP, the tower as open_clip builds it; fast: today's preset (batch 16 from a pool of 256 anchors each rendered and embedded "
        "once), the rasteriser drawing at CLIP's 64 px, BatchNorm folded and channels_last",
        table(shapes, [("way", "way", ""), ("threads", "threads", ""), ("iterations", "iterations", ""),
                       ("batch", "batch", ""), ("anchor_pool", "anchor pool", ""),
                       ("seconds", "seconds", ".1f"), ("ratio", "× naive", ".2f"), ("rho", "ρ", ".3f"),
                       ("delta", "Δ target", ".2f"), ("off", "largest off-target", ".2f"),
                       ("final_loss", "loss (last 50)", ".4f")]),
        "**Traversal to a GIF file**, end to end (StyleGAN2, one seed; first image: when the anchor is ready to show)",
        table(results["traversal"], [("impl", "way", ""), ("precision", "precision", ""),
                                     ("render_batch", "frames per batch", ""), ("streamed", "anchor first", ""),
                                     ("frames", "frames", ""),
                                     ("first_image_s", "first image s", ".2f"), ("seconds", "all frames + GIF s", ".2f"),
                                     ("ratio", "× naive", ".2f")]),
    ])


if __name__ == "__main__":
    main()
