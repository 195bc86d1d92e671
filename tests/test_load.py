"""Load: 20 concurrent gradio_client clients traverse on the Shapes world against the app on 127.0.0.1 for a bounded
time. Zero failed requests; latency percentiles and throughput go to test-artifacts/load.json (quoted in the README)."""
from __future__ import annotations

import json
import statistics
import threading
import time

from gradio_client import Client

from .app_server import ROOT, running_app

CLIENTS = 20
DURATION_S = 20.0


def test_twenty_concurrent_clients(tmp_path):
    with running_app(tmp_path) as url:
        path_id = Client(url, verbose=False).predict("shapes-128", api_name="/select_generator")[0]["choices"][0][1]
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
                return
            start_gate.wait(timeout=60)
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
            t.join(timeout=DURATION_S + 120)
        elapsed = time.monotonic() - t_start
    assert not failures, failures[:5]
    assert len(latencies) >= CLIENTS
    q = statistics.quantiles(latencies, n=20)
    result = {"clients": CLIENTS, "duration_s": DURATION_S, "requests": len(latencies), "failures": len(failures),
              "p50_s": round(statistics.median(latencies), 3), "p95_s": round(q[18], 3),
              "throughput_per_s": round(len(latencies) / elapsed, 2), "request": "1 seed, 9 frames, strip+GIF+MP4",
              "date": time.strftime("%Y-%m-%d")}
    print(result)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "load.json").write_text(json.dumps(result, indent=1))
