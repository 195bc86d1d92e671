"""bench/bench.py runs end to end (a tiny CPU run) and its report means what it says: the baseline row is 1.00×,
the optimised fp32 synthesis reproduces the naive image, bf16 stays close, the precision choice is stated, GFLOP/s
are read against a matmul peak of the same run. Real-size figures are in docs/PERFORMANCE.md."""
from __future__ import annotations

import importlib.util
import json
import math
import re

from .app_server import ROOT


def test_bench_smoke_run_reports_ratios_and_psnr(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRACLIP_MALLOC", "default")  # malloc tuning is process-wide: not in the test process
    spec = importlib.util.spec_from_file_location("bench", ROOT / "bench" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "PERF.md"
    results = bench.main(["--device", "cpu", "--size", "32", "--batch", "1", "--iters", "1", "--frames", "4",
                          "--clip", "shapes-clip", "--shapes-iterations", "2", "--matmul-n", "256", "--out", str(out)])
    synth = {(r["generator"], r["impl"], r["precision"]): r for r in results["synthesis"]}
    first = results["synthesis"][0]  # on a CPU the baseline is the naive path in a process of its own
    assert (first["impl"], first["ratio"], first["psnr_db"]) == (bench.FRESH, 1.0, None)
    in_process = synth[("StyleGAN2 32", "naive (grouped, NCHW)", "fp32")]
    assert in_process["ratio"] == in_process["images_per_s"] / first["images_per_s"] != 1.0
    for way in ("naive, malloc tuned", "activations (NCHW)", "fast, direct convs", "fast + Winograd (NNPACK)"):
        assert synth[("StyleGAN2 32", way, "fp32")]["psnr_db"] > 80, way  # same image, other arithmetic order
    assert 25 < synth[("StyleGAN2 32", "fast + Winograd (NNPACK)", "bf16")]["psnr_db"] < 80  # close, but bf16
    assert synth[("PGGAN 32", "-", "fp32")]["ratio"] == 1.0
    assert results["matmul_peak_gflop_s"] > 1 and results["gflop_per_image"][32] > 0
    row = synth[("StyleGAN2 32", "fast + Winograd (NNPACK)", "fp32")]
    assert math.isclose(row["gflop_s"], row["images_per_s"] * results["gflop_per_image"][32])
    for section in ("synthesis", "train_step", "shapes_training", "traversal"):
        assert all(math.isfinite(r["ratio"]) and r["ratio"] > 0 for r in results[section]), section
    assert [r["frames"] for r in results["traversal"]] == [5, 5, 5]
    assert all(0 < r["first_image_s"] <= r["seconds"] for r in results["traversal"])
    assert [r["streamed"] for r in results["traversal"]] == [False, False, True]
    shapes = results["shapes_training"]
    assert [r["way"] for r in shapes][:2] == ["naive, preset before", "fast, preset now"]
    assert [(r["batch"], r["anchor_pool"]) for r in shapes][:2] == [(8, 0), (16, 256)]
    assert all(math.isfinite(r["rho"]) and math.isfinite(r["off"]) for r in shapes)  # quality from the same run
    text = out.read_text()
    assert "**Training step**" in text and "× naive" in text and "CPU" in text and "matmul peak" in text
    assert "**Memory allocator**" in text
    assert "**Precision chosen here**" in text
    from contraclip_core.precision import DeviceProps

    if DeviceProps.of("cpu").native_bf16:  # bf16 is measured against fp32 and taken only if ≥ 1.1× at ≥ 35 dB
        assert re.search(r"StyleGAN2 32 → (fp32|bf16): bf16 (measured|renders)", text), text
    else:  # without native bf16 it is emulated: fp32 by rule
        assert "StyleGAN2 32 → fp32" in text
    assert json.loads(out.with_suffix(".json").read_text())["args"]["size"] == [32]


def test_the_report_goes_between_the_markers_of_a_curated_file(tmp_path):
    """docs/PERFORMANCE.md has prose and findings around the run: a new run replaces only the run."""
    spec = importlib.util.spec_from_file_location("bench", ROOT / "bench" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    doc = tmp_path / "PERF.md"
    doc.write_text(f"# Title\n\nprose\n\n{bench.BEGIN}\nold run\n{bench.END}\n\nafter\n")
    bench.write_report(doc, "new run\n| table |")
    assert doc.read_text() == f"# Title\n\nprose\n\n{bench.BEGIN}\nnew run\n| table |\n{bench.END}\n\nafter\n"
    plain = tmp_path / "plain.md"
    bench.write_report(plain, "a run")
    assert plain.read_text() == "a run\n"


def test_training_cost_rows_time_count_and_report(tmp_path, monkeypatch):
    """bench/training_cost.py: a lever row and a cost row at 32 px (in this process: the script runs each in its own),
    the ratio against today's step, a stopped row reported as stopped, and --update replacing only the rows measured
    again. docs/TRAINING_COST.md holds the real-size run."""
    spec = importlib.util.spec_from_file_location("training_cost", ROOT / "bench" / "training_cost.py")
    tc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tc)
    base = dict(method="paths", size=32, compile=False, clip="shapes-clip", steps=1, device="cpu")
    today = tc.run_row({**base, "pool": False, "precision": "fp32", "lever": tc.LEVERS[0][0]})
    pooled = tc.run_row({**base, "pool": True, "precision": "fp32", "lever": tc.LEVERS[1][0]})
    assert today["batch"] == pooled["batch"] == 8 and today["ms_per_step"] > 0 and today["peak_gb"] > 0.1
    # the pool's steady state renders and embeds only the shifted images: fewer FLOPs than fresh anchors
    assert 0 < pooled["flops"] < today["flops"] and pooled["pool_block_s"] > 0
    monkeypatch.setattr(tc, "measure", lambda spec, max_gb, timeout: dict(
        {**today, **spec} if spec["lever"] == tc.LEVERS[0][0] else {**spec, "error": "stopped: more than 18 GB"}))
    args = type("A", (), {"no_compile": True, "clip": "shapes-clip", "steps": 1, "device": "cpu", "max_gb": 18.0,
                          "timeout": 60.0})()
    rows = tc.lever_rows(32, args)
    assert rows[0]["ratio"] == 1.0 and rows[1]["ratio"] is None and len(rows) == len(tc.LEVERS) - 1
    assert [r["clip_copy"] for r in rows][-1] is True and rows[0]["clip_copy"] is False
    text = tc.report({"date": "d", "device": "cpu", "torch": "t", "argv": [], "preset_iterations": 3000,
                      "levers": rows, "cost": [pooled]})
    assert "| today's step: fresh anchors, fp32 | 8 |" in text and "stopped: more than 18 GB" in text
    assert "an assumed" in text and "ContraCLIP paths | 32 |" in text
