"""What training costs at real size, and the levers that cut it: one row per measurement, each in a process of its own.

Real size: StyleGAN2 config-f at 256 and 1024 px with CLIP ViT-B/32 (random weights: the timings equal those of real
weights), through the project's own trainers at the settings a user gets — ContraCLIP paths (the quick preset, one
dipole), a CF-CLIP edit model (the authors' settings, batch 16) and a CSLA mapper (batch 64, 16 re-rendered).

**Levers** (ContraCLIP paths, the quick preset, one dipole; ratio: today's step's ms over this row's, same run):
today's step is a fresh anchor per sample in fp32 (what the issue measured: a CPU the old precision rule kept in fp32);
then each lever alone and together. The anchor pool rows are its steady state (anchors already rendered and
embedded); the pool's one-off cost is its own row. **Cost**: every method at both sizes, the way the app trains now on
this machine (precision chosen as the app chooses it; paths from the anchor pool).

Each row runs in a fresh process (peak memory is that process's maximum resident set), after one untimed step
(warm-up), then ``--steps`` timed ones (median); a process that passes ``--max-gb`` of resident memory is stopped and
its row says so. FLOPs per iteration are counted on the warm-up step (``costs.count_flops``).

    python bench/training_cost.py --out docs/TRAINING_COST.md               # everything (≈ 30 min on 2 cores)
    python bench/training_cost.py --part levers --sizes 64 --steps 1       # a smoke run
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# Each lever: (label, anchors from a pool, precision, CLIP's bf16 copy, torch.compile). The first row is today's step.
LEVERS = [
    ("today's step: fresh anchors, fp32", False, "fp32", False, False),
    ("anchor pool (anchors rendered and embedded once)", True, "fp32", False, False),
    ("bf16 (autocast)", False, "bf16", False, False),
    ("anchor pool + bf16", True, "bf16", False, False),
    ("anchor pool + bf16, CLIP as a bf16 copy with batch-first attention", True, "bf16", True, False),
    ("anchor pool + bf16, CLIP copy + torch.compile", True, "bf16", True, True),
]
METHODS = ("paths", "cfclip", "csla")
GENERATOR_NAME = "stylegan2-ffhq-1024"  # whose presets (W+, ℓ, ψ, corpus) the real-size trainers take


# --- one row, in its own process ---------------------------------------------------------------------------------
def build(method: str, size: int, pool: bool, clip_name: str, device: str):
    """The method's trainer at real size (random weights), and its batch as a table says it."""
    from bench import clip_model, stylegan2

    g, clip = stylegan2(size, device), clip_model(clip_name, device)
    if method == "paths":
        from contraclip_core.methods.contraclip import presets
        from contraclip_core.methods.contraclip.train import Trainer

        config = presets.train_config(GENERATOR_NAME, "quick", dipoles=[("a face", "a smiling face")])
        config.layers = min(config.resolved().layers, g.num_ws - 1)
        config.anchor_pool = 32 if pool else 0  # steady state: one block, filled before timing (prepare)
        trainer = Trainer(config, g, clip)
        return trainer, trainer.config.batch_size
    if method == "cfclip":
        from contraclip_core.methods.cfclip.train import EditTrainer, edit_config

        trainer = EditTrainer(edit_config(GENERATOR_NAME, ["a smiling face", "a face with glasses"]), g, clip)
        return trainer, trainer.config.batch_size
    from contraclip_core.methods.mappers.train import MapperTrainConfig, MapperTrainer

    trainer = MapperTrainer(MapperTrainConfig(objective="csla", generator=GENERATOR_NAME), g, clip)
    return trainer, f"{trainer.config.batch_size} ({trainer.config.image_batch} re-rendered)"


def run_row(spec: dict[str, Any]) -> dict[str, Any]:
    from contraclip_core import costs
    from contraclip_core import precision as precision_mod

    torch.manual_seed(0)
    started = time.perf_counter()
    device = spec.get("device", "cpu")
    cuda = torch.device(device).type == "cuda"
    trainer, batch = build(spec["method"], spec["size"], spec["pool"], spec["clip"], device)
    trainer.clip.bf16_copy = spec.get("clip_copy", True)  # the app's way unless a lever row turns it off
    setup_s = time.perf_counter() - started
    mode = spec["precision"]
    if mode == "auto":  # as the app: measured on this generator here (precision.select)
        chosen = precision_mod.select(trainer.generator, device)
        mode, spec["precision_reason"] = chosen.mode, chosen.reason
    context = precision_mod.Precision(mode, cuda and mode != "fp32", "bench").context(device)
    row: dict[str, Any] = {**spec, "precision": mode, "batch": batch, "setup_s": setup_s}
    with context:
        pool = getattr(trainer, "pool", None)
        if pool is not None:  # the steady state: this block's anchors are rendered and embedded already
            start = time.perf_counter()
            pool.draw(torch.arange(len(pool)))
            row["pool_block_s"] = time.perf_counter() - start  # one block of 32 anchors
        step = trainer.step
        if spec.get("compile"):
            start = time.perf_counter()
            g, clip = trainer.generator, trainer.clip
            g.synthesis_for = torch.compile(g.synthesis_for)
            clip.encode_images = torch.compile(clip.encode_images)
            step()
            row["compile_s"] = time.perf_counter() - start
        start = time.perf_counter()
        _, row["flops"] = costs.count_flops(step)  # the warm-up step
        row["first_step_s"] = time.perf_counter() - start
        times = []
        for _ in range(spec["steps"]):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    row["ms_per_step"] = 1000 * sorted(times)[len(times) // 2]
    row["peak_gb"] = (torch.cuda.max_memory_allocated() / 2**30 if cuda  # the GPU's; on a CPU the process's, kB → GB
                      else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    row["tflop_s"] = row["flops"] / row["ms_per_step"] / 1e9  # what costs.GPU records once measured on a GPU
    row["gpu_estimate_s"] = costs.GPU.seconds(row["flops"])
    return row


# --- the parent: rows in fresh processes, with a memory watchdog ------------------------------------------------
def rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def measure(spec: dict[str, Any], max_gb: float, timeout_s: float) -> dict[str, Any]:
    child = subprocess.Popen([sys.executable, __file__, "--row", json.dumps(spec)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    start, peak, why = time.monotonic(), 0.0, ""
    while child.poll() is None:
        peak = max(peak, rss_gb(child.pid))
        if peak > max_gb:
            why = f"stopped: more than {max_gb:.0f} GB of memory"
        elif time.monotonic() - start > timeout_s:
            why = f"stopped: over {timeout_s:.0f} s"
        if why:
            child.kill()
            break
        time.sleep(0.2)
    out, err = child.communicate()
    if not why and child.returncode == 0 and out.strip():
        return json.loads(out.strip().splitlines()[-1])
    why = why or f"failed: {(err.strip().splitlines() or ['exit ' + str(child.returncode)])[-1][:200]}"
    return {**spec, "error": why, "peak_gb": peak, "seconds_until_stopped": time.monotonic() - start}


def lever_rows(size: int, args) -> list[dict[str, Any]]:
    rows = []
    for label, pool, mode, clip_copy, compiled in LEVERS:
        if compiled and args.no_compile:
            continue
        spec = dict(method="paths", size=size, pool=pool, precision=mode, compile=compiled, clip=args.clip,
                    clip_copy=clip_copy, steps=args.steps, lever=label, device=args.device)
        rows.append(measure(spec, args.max_gb, args.timeout))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    base = rows[0].get("ms_per_step")
    for r in rows:
        r["ratio"] = base / r["ms_per_step"] if base and r.get("ms_per_step") else None
    return rows


def cost_rows(sizes: list[int], methods: list[str], args) -> list[dict[str, Any]]:
    rows = []
    for method in methods:
        for size in sizes:
            spec = dict(method=method, size=size, pool=method == "paths", precision="auto", compile=False,
                        clip=args.clip, steps=args.steps if size <= 256 or args.device != "cpu" else 1,
                        device=args.device)
            rows.append(measure(spec, args.max_gb, args.timeout))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


# --- report ----------------------------------------------------------------------------------------------------
def hours(ms: float | None, iterations: int) -> str | None:
    if ms is None:
        return None
    s = ms / 1000 * iterations
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


NAMES = {"paths": "ContraCLIP paths", "cfclip": "CF-CLIP edit model", "csla": "CSLA mapper"}


def report(results: dict[str, Any]) -> str:
    from bench import table
    from contraclip_core.costs import GPU

    parts = [f"Run {results['date']} on {results['device']}, torch {results['torch']}; "
             f"`python bench/training_cost.py {' '.join(results['argv'])}`."]
    for u in results.get("updates", []):
        parts.append(f"Rows re-measured {u['date']} on {u['device']}: `python bench/training_cost.py {' '.join(u['argv'])}`.")
    iters = results["preset_iterations"]
    if results.get("levers"):
        lv = results["levers"]
        parts.append(f"**Levers** (measured {results.get('levers_date', results['date'])}; ContraCLIP paths, quick "
                     f"preset, one dipole, StyleGAN2 {lv[0]['size']} px, CLIP "
                     f"{lv[0]['clip']}; × today: today's ms over this row's, measured in this run; one dipole = the "
                     f"preset's {iters} iterations)")
        rows = [{**r, "dipole": hours(r.get("ms_per_step"), iters), "note": r.get("error") or "; ".join(x for x in (
            f"compiling took {r['compile_s']:.0f} s" if r.get("compile_s") else "",
            f"a block of 32 anchors: {r['pool_block_s']:.1f} s once" if r.get("pool_block_s") else "") if x)}
            for r in lv]
        parts.append(table(rows, [("lever", "lever", ""), ("batch", "batch", ""), ("ms_per_step", "ms/iteration", ".0f"),
                                  ("ratio", "× today", ".2f"), ("dipole", "one dipole", ""),
                                  ("peak_gb", "peak GB", ".1f"), ("note", "note", "")]))
    if results.get("cost"):
        parts.append(f"**Cost per iteration, each method at real size**, trained the way the app trains now on this "
                     f"machine (precision as the app chooses it here; paths from the anchor pool, its steady state). "
                     f"GPU: the counted FLOPs at {GPU.name}'s rate, {'measured' if GPU.measured else 'an assumed'} "
                     f"{GPU.tflops:.0f} TFLOP/s (contraclip_core/costs.py) — an estimate, not a measurement")
        rows = [{**r, "name": NAMES[r["method"]], "tflop": r.get("flops") and r["flops"] / 1e12,
                 "gpu_ms": r.get("gpu_estimate_s") and r["gpu_estimate_s"] * 1e3,
                 "note": (r.get("error") or "") + (" re-measured " + r["remeasured"] if r.get("remeasured") else "")}
                for r in results["cost"]]
        parts.append(table(rows, [("name", "method", ""), ("size", "size", ""), ("batch", "batch", ""),
                                  ("precision", "precision", ""), ("ms_per_step", "ms/iteration", ".0f"),
                                  ("tflop", "TFLOP/iteration", ".2f"), ("peak_gb", "peak GB", ".1f"),
                                  ("gpu_ms", "GPU estimate ms", ".0f"), ("note", "note", "")]))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: run one row in this process, print its JSON
    parser.add_argument("--part", choices=["levers", "cost", "all"], default="all")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU (its rows' TFLOP/s is the measured "
                        "rate contraclip_core/costs.py can record)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--lever-size", type=int, default=256)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row at ≤ 256 px (1 above)")
    parser.add_argument("--clip", default="ViT-B-32")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile lever (minutes to compile)")
    parser.add_argument("--max-gb", type=float, default=18.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per row before it is stopped")
    parser.add_argument("--out", help="write the report (Markdown, between bench markers if it has them) + JSON")
    parser.add_argument("--update", action="store_true", help="with --out: replace only the cost rows measured now "
                        "(same method and size) in the run recorded there, noting the date of the re-measured rows")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.row:
        print(json.dumps(run_row(json.loads(args.row))))
        return {}
    from bench import machine
    from contraclip_core.methods.contraclip import presets

    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": machine(args.device), "torch": torch.__version__, "argv": argv,
        "preset_iterations": presets.QUICK["default"]["iterations"]}
    if args.part in ("levers", "all"):
        results["levers"] = lever_rows(args.lever_size, args)
    if args.part in ("cost", "all"):
        results["cost"] = cost_rows(args.sizes, args.methods, args)
    if args.update and args.out and Path(args.out).with_suffix(".json").is_file():
        recorded = json.loads(Path(args.out).with_suffix(".json").read_text())
        new = {(r["method"], r["size"]): {**r, "remeasured": results["date"]} for r in results.get("cost", [])}
        recorded["cost"] = [new.pop((r["method"], r["size"]), r) for r in recorded.get("cost", [])] + list(new.values())
        if results.get("levers"):  # levers are compared within one run: all of them are replaced together
            recorded["levers"], recorded["levers_date"] = results["levers"], results["date"]
        recorded.setdefault("updates", []).append({"date": results["date"], "argv": argv, "device": results["device"]})
        results = recorded
    text = report(results)
    print(text)
    if args.out:
        from bench import write_report

        out = Path(args.out)
        write_report(out, text)  # between its bench markers when the file has them (docs/TRAINING_COST.md does)
        out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
