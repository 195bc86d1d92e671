"""bench/bench.py runs end to end (a tiny CPU run) and its report means what it says: the baseline row is 1.00×,
the optimised fp32 synthesis reproduces the naive image, bf16 stays close. Real-size figures need a GPU."""
from __future__ import annotations

import importlib.util
import json
import math

from .app_server import ROOT


def test_bench_smoke_run_reports_ratios_and_psnr(tmp_path):
    spec = importlib.util.spec_from_file_location("bench", ROOT / "bench" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "PERF.md"
    results = bench.main(["--device", "cpu", "--size", "32", "--batch", "1", "--iters", "1", "--frames", "4",
                          "--clip", "shapes-clip", "--out", str(out)])
    synth = {(r["generator"], r["impl"], r["precision"]): r for r in results["synthesis"]}
    assert synth[("StyleGAN2 32", "grouped", "fp32")]["ratio"] == 1.0
    assert synth[("StyleGAN2 32", "activations", "fp32")]["psnr_db"] > 80  # same image, other arithmetic order
    assert 25 < synth[("StyleGAN2 32", "activations", "bf16")]["psnr_db"] < 80  # close, but really bf16
    assert synth[("PGGAN 32", "-", "fp32")]["ratio"] == 1.0
    for section in ("synthesis", "train_step", "traversal"):
        assert all(math.isfinite(r["ratio"]) and r["ratio"] > 0 for r in results[section]), section
    assert [r["frames"] for r in results["traversal"]] == [5, 5, 5]
    text = out.read_text()
    assert "**Training step**" in text and "× naive" in text and "CPU" in text
    assert json.loads(out.with_suffix(".json").read_text())["args"]["size"] == 32
