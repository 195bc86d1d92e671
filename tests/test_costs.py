"""What an iteration costs (contraclip_core/costs.py): FLOPs counted where a job trains, and the GPU estimate a job
card shows on a CPU — counted, carried on the job record, and said as the estimate it is."""
from __future__ import annotations

import dataclasses
import time

import pytest
import torch

from contraclip_core import costs
from contraclip_ui import presentation as pr


def test_count_flops_counts_forward_and_backward_matmuls():
    a = torch.randn(64, 32, requires_grad=True)
    b = torch.randn(32, 16)

    def step():
        loss = (a @ b).sum()
        loss.backward()
        return loss.item()

    value, flops = costs.count_flops(step)
    assert isinstance(value, float)
    # forward 2·64·32·16, backward to a (grad (64,16) @ bᵀ (16,32)) the same again; b needs no gradient
    assert flops == 2 * (2 * 64 * 32 * 16)


def test_gpu_seconds_is_the_remaining_flops_at_the_rate_and_none_when_unknown():
    gpu = costs.GpuRate("test GPU", 100.0, measured=True)
    assert costs.gpu_seconds(2e12, 3000, gpu) == pytest.approx(60.0)
    assert costs.gpu_seconds(None, 3000, gpu) is None and costs.gpu_seconds(2e12, 0, gpu) is None
    assert not costs.GPU.measured and "H200" in costs.GPU.name  # an assumption until a GPU run records a rate


def test_a_cpu_job_counts_its_iteration_and_its_card_says_what_a_gpu_would_take(service):
    """A Shapes job on this CPU: its record carries the FLOPs of an iteration (counted on the first of the run,
    the same as a separately counted step), and while unfinished its row has the GPU estimate the card shows."""
    job = service.submit("paths", "shapes-128", "a red shape", "a cyan shape", iterations=3)
    for _ in range(600):
        record = service.queue.store.load(job["id"])
        if record.status not in ("queued", "running"):
            break
        time.sleep(0.2)
    assert record.status == "done" and record.flops and record.flops > 1e6
    assert service.job_row(record)["gpu_eta_s"] is None  # done: nothing left to estimate
    running = dataclasses.replace(record, status="running", iteration=1)
    row = service.job_row(running)
    assert row["gpu_eta_s"] == pytest.approx(costs.gpu_seconds(record.flops, 2), abs=0.1)
    card = pr.job_summary(row | {"eta_s": 3600.0, "gpu_eta_s": 240.0})
    assert card.startswith("iteration 1 of 3 · about 1 h left here (ZeroGPU's H200: about 4 min, estimated)")
    assert "here" not in pr.job_summary(row | {"eta_s": 3600.0, "gpu_eta_s": None})  # on a GPU: just the time left


def test_winograd_convolutions_count_as_the_direct_ones_they_replace():
    """On a CPU in fp32 StyleGAN2's wide 3×3 layers run through NNPACK, which torch's counter has no formula for: the
    GPU estimate would miss them. They count as the convolution they compute."""
    if not torch._nnpack_available():
        pytest.skip("NNPACK is not built into this torch")
    x, w, b = torch.randn(1, 8, 16, 16), torch.randn(4, 8, 3, 3), torch.zeros(4)
    _, direct = costs.count_flops(lambda: torch.nn.functional.conv2d(x, w, b, padding=1))
    _, winograd = costs.count_flops(lambda: torch._nnpack_spatial_convolution(x, w, b, [1, 1], [1, 1]))
    assert direct == winograd == 2 * 16 * 16 * 4 * 8 * 9
