"""Speed at real size: the naive baseline beside the optimised paths, in one run, as ratios.

What the Space's users wait on: generator images/s (fp32, TF32, bf16; PSNR of each against the fp32 baseline), a
ContraCLIP training step (ms and peak GPU memory), and a traversal rendered to a GIF file end to end. Weights are
random (seeded): the timings equal those of real weights. The naive baseline is the straightforward implementation:
grouped-convolution modulated convolutions (rosinality's), fp32, TF32 off, one frame at a time.

    python bench/bench.py --device cuda --out docs/PERFORMANCE.md                 # real size (StyleGAN2/PGGAN 1024)
    python bench/bench.py --device cpu --size 64 --batch 2 --iters 2 --clip shapes-clip   # a smoke run, any machine
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contraclip_core import presets  # noqa: E402
from contraclip_core.generators.pggan import PGGANConfig, PGGANGenerator  # noqa: E402
from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator  # noqa: E402
from contraclip_core.pathset import PathSet  # noqa: E402
from contraclip_core.paths import LatentSupportSets, LatentView  # noqa: E402
from contraclip_core.traversal import save_gif, traverse  # noqa: E402


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
    """fp32 (TF32 off), tf32 (TF32 matmul/conv on) or bf16 (autocast); restores the global flags after."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = mode == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        cast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16) if mode == "bf16" else nullcontext()
        with cast:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


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
    mse = float((a.float() - b.float()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


# --- measurements ----------------------------------------------------------------------------------------------------
def bench_synthesis(name: str, g, variants: list[tuple[str, str]], batch: int, iters: int, device: str) -> list[dict]:
    """Images/s of each (modulated-conv impl, precision) variant; ratio and PSNR against the first (the baseline)."""
    z = torch.randn(batch, g.z_dim, generator=torch.Generator().manual_seed(1)).to(device)
    space = "w" if "w" in g.spaces else "z"  # StyleGAN2 from W (mapping done once), PGGAN from Z
    with torch.no_grad():
        w = g.encode(z, space, 1.0)
    rows, reference = [], None
    for impl, mode in variants:
        if impl != "-":
            g.set_impl(impl)

        def run():
            with torch.no_grad(), precision(mode, device):
                return g.synthesis(w, space)
        seconds = timed(run, device, iters)
        image = run().float()
        reference = image if reference is None else reference
        rows.append({"generator": name, "impl": impl, "precision": mode, "batch": batch,
                     "images_per_s": batch / seconds, "psnr_db": psnr(image, reference)})
    for r in rows:
        r["ratio"] = r["images_per_s"] / rows[0]["images_per_s"]
    return rows


def bench_train_step(g, clip, variants: list[tuple[str, str]], batch: int, iters: int, device: str) -> list[dict]:
    """ms per ContraCLIP training step (forward through G twice and CLIP, backward, Adam) and peak GPU memory; the
    precision context covers the whole step (autocast bf16 includes CLIP and the path gradients)."""
    dipoles = presets.dipole_sentences("stylegan2-ffhq-1024", None, "attributes")[:batch]
    config = presets.train_config("stylegan2-ffhq-1024", "paper", dipoles=dipoles)
    config.batch_size, config.layers = batch, min(11, g.num_ws - 1)
    config.negatives = []
    from contraclip_core.trainer import Trainer

    rows = []
    for impl, mode in variants:
        g.set_impl(impl)
        trainer = Trainer(config, g, clip)
        if torch.device(device).type == "cuda":
            torch.cuda.reset_peak_memory_stats()

        def run():
            with precision(mode, device):
                trainer.step()
        seconds = timed(run, device, iters)
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.device(device).type == "cuda" else None
        rows.append({"impl": impl, "precision": mode, "batch": batch, "layers": config.layers,
                     "ms_per_step": 1000 * seconds, "peak_gb": peak})
    base = rows[0]["ms_per_step"]
    for r in rows:
        r["ratio"] = base / r["ms_per_step"]
    return rows


def bench_traversal(g, variants: list[tuple[str, str, int]], frames: int, iters: int, device: str) -> list[dict]:
    """``frames`` moves (frames // 2 each way) from one seed, rendered and written as a GIF; seconds end to end."""
    view = LatentView("w+", (g.num_ws, g.w_dim), min(11, g.num_ws - 1))
    lss = LatentSupportSets(1, 64, view.dim, torch.tensor([10.0])).to(device)
    path_set = PathSet(lss=lss, dipoles=[("a", "b")], generator="bench", space="w+", layers=view.layers,
                       truncation=0.7, latent_shape=(g.num_ws, g.w_dim))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for impl, mode, batch_size in variants:
            g.set_impl(impl)

            def run():
                with precision(mode, device):
                    t = traverse(g, path_set, 0, [0], steps=frames // 2, step_size=0.2, batch_size=batch_size)
                save_gif(t, Path(tmp) / "t.gif", thumb=min(g.resolution, 256))
            seconds = timed(run, device, iters)
            rows.append({"impl": impl, "precision": mode, "render_batch": batch_size, "frames": frames + 1,
                         "seconds": seconds})
    base = rows[0]["seconds"]
    for r in rows:
        r["ratio"] = base / r["seconds"]
    return rows


# --- report ----------------------------------------------------------------------------------------------------------
def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[1] for c in columns) + " |\n|" + "---|" * len(columns) + "\n"
    def cell(v, fmt):
        return "—" if v is None else (f"{v:{fmt}}" if fmt else str(v))
    return head + "\n".join("| " + " | ".join(cell(r.get(k), f) for k, _, f in columns) + " |" for r in rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=1024, help="generator resolution (StyleGAN2 and PGGAN)")
    parser.add_argument("--batch", type=int, default=8, help="images per synthesis call and training batch")
    parser.add_argument("--iters", type=int, default=10, help="timed calls per measurement (median)")
    parser.add_argument("--frames", type=int, default=32, help="traversal moves (frames − 1)")
    parser.add_argument("--clip", default="ViT-B-32", help="open_clip architecture (random weights) or shapes-clip")
    parser.add_argument("--out", help="write the report (Markdown) here; JSON beside it")
    args = parser.parse_args(argv)
    device = args.device
    cuda = torch.device(device).type == "cuda"
    modes = ["fp32", "tf32", "bf16"] if cuda else ["fp32", "bf16"]
    sg2 = stylegan2(args.size, device)
    results: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or platform.machine()}, "
                  f"{torch.get_num_threads()} threads)",
        "torch": torch.__version__, "args": vars(args),
    }
    synth = bench_synthesis(f"StyleGAN2 {args.size}", sg2, [("grouped", "fp32")] + [("activations", m) for m in modes],
                            args.batch, args.iters, device)
    pg = pggan(args.size, device)
    synth += bench_synthesis(f"PGGAN {args.size}", pg, [("-", m) for m in modes], args.batch, args.iters, device)
    del pg
    results["synthesis"] = synth
    clip = clip_model(args.clip, device)
    results["train_step"] = bench_train_step(sg2, clip, [("grouped", "fp32")] + [("activations", m) for m in modes],
                                             args.batch, args.iters, device)
    results["traversal"] = bench_traversal(sg2, [("grouped", "fp32", 1), ("activations", "fp32", 32),
                                                 ("activations", modes[1], 32)], args.frames, max(2, args.iters // 3),
                                           device)
    report = "\n\n".join([
        f"Run {results['date']} on {results['device']}, torch {results['torch']}; "
        f"`python bench/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`.",
        "**Synthesis** (ratio: images/s over the naive baseline, the first row of each generator; PSNR against "
        "the naive fp32 image)",
        table(synth, [("generator", "generator", ""), ("impl", "modulated conv", ""), ("precision", "precision", ""),
                      ("batch", "batch", ""), ("images_per_s", "images/s", ".1f"), ("ratio", "× naive", ".2f"),
                      ("psnr_db", "PSNR dB", ".1f")]),
        f"**Training step** (StyleGAN2 {args.size}, W+ ℓ = {results['train_step'][0]['layers']}, CLIP {args.clip}, "
        "contrastive loss; ratio: naive ms over this row's)",
        table(results["train_step"], [("impl", "modulated conv", ""), ("precision", "precision", ""),
                                      ("batch", "batch", ""), ("ms_per_step", "ms/step", ".1f"),
                                      ("ratio", "× naive", ".2f"), ("peak_gb", "peak GB", ".2f")]),
        f"**Traversal to a GIF file**, end to end (StyleGAN2 {args.size}, one seed)",
        table(results["traversal"], [("impl", "modulated conv", ""), ("precision", "precision", ""),
                                     ("render_batch", "frames per batch", ""), ("frames", "frames", ""),
                                     ("seconds", "seconds", ".3f"), ("ratio", "× naive", ".2f")]),
    ])
    print(report)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report + "\n")
        out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
