"""Load: 40 concurrent gradio_client clients traverse on the Shapes world against the app on 127.0.0.1 for a bounded
time while a training job runs. Zero failed requests; the app's resident memory (sampled) and the disk used by the
data folder and Gradio's file cache stay bounded; the job is still alive afterwards. Latency percentiles,
throughput, peak RSS and disk go to test-artifacts/load.json (quoted in the README)."""
from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client

from .app_server import ROOT, start_app, stop_app

CLIENTS = 40
DURATION_S = 20.0
MAX_RSS_MB = 4096  # the app process, sampled every 0.25 s
MAX_DISK_MB = 500  # data folder + Gradio's cache after the run


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def job_record(data: Path, job_id: str) -> dict:
    return json.loads((data / "jobs" / job_id / "job.json").read_text())


@pytest.mark.slow
def test_forty_concurrent_clients_while_a_job_trains(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "gradio-cache"
    data.mkdir()
    proc, url = start_app(data, timeout=120, env={"GRADIO_TEMP_DIR": str(cache)})
    peak = {"rss_mb": rss_mb(proc.pid)}
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.25):
            peak["rss_mb"] = max(peak["rss_mb"], rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        first = Client(url, verbose=False)
        message, _ = first.predict("shapes-128", "a red shape", "a blue shape", "", "quick", "400", "", "",
                                   api_name="/train")
        job_id = message.split("`")[1]
        deadline = time.monotonic() + 120
        while job_record(data, job_id)["iteration"] < 1:  # training is under way before the clients start
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        iteration_before = job_record(data, job_id)["iteration"]
        path_id = first.predict("shapes-128", api_name="/select_generator")[0]["choices"][0][1]
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        start_gate = threading.Barrier(CLIENTS)

        def worker(i: int) -> None:
            try:
                client = Client(url, verbose=False)
            except Exception as e:  # noqa: BLE001 - every failure is collected and reported
                with lock:
                    failures.append(f"client {i}: connect: {e!r}")
                start_gate.abort()
                return
            start_gate.wait(timeout=180)
            deadline = time.monotonic() + DURATION_S
            n = 0
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    *_, note = client.predict("shapes-128", path_id, str(i * 1000 + n), 1.0, 4, 0.25,
                                              api_name="/traverse")
                    ok = "rendered in" in note
                except Exception as e:  # noqa: BLE001
                    ok, note = False, repr(e)
                with lock:
                    if ok:
                        latencies.append(time.monotonic() - t0)
                    else:
                        failures.append(f"client {i}: {note}")
                n += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=DURATION_S + 300)
        elapsed = time.monotonic() - t_start
        job = job_record(data, job_id)
        assert proc.poll() is None  # the app is still serving
    finally:
        sampling.set()
        stop_app(proc)
    assert not failures, failures[:5]
    assert len(latencies) >= CLIENTS
    assert job["status"] in ("running", "queued", "done"), job  # the job was paused for clients, not lost
    used = disk_mb(data) + disk_mb(cache)
    q = statistics.quantiles(latencies, n=20)
    result = {"clients": CLIENTS, "duration_s": DURATION_S, "requests": len(latencies), "failures": len(failures),
              "p50_s": round(statistics.median(latencies), 3), "p95_s": round(q[18], 3),
              "throughput_per_s": round(len(latencies) / elapsed, 2), "request": "1 seed, 9 frames, strip+GIF+MP4",
              "training_iterations_during_run": job["iteration"] - iteration_before,
              "peak_rss_mb": round(peak["rss_mb"]), "disk_mb": round(used, 1), "date": time.strftime("%Y-%m-%d")}
    print(result)
    assert peak["rss_mb"] < MAX_RSS_MB and used < MAX_DISK_MB, result
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "load.json").write_text(json.dumps(result, indent=1))
