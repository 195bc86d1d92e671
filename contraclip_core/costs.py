"""What a training iteration costs, and how long the rest of a job would take on a GPU.

A job counts the floating-point operations of its first iteration where it runs (``count_flops``, torch's
``FlopCounterMode``: convolutions and matrix products of the forward and backward passes). Its card shows the time
left at the rate measured on the machine that trains it; on a CPU it adds how long a GPU would take: the remaining
iterations' FLOPs at ``GPU``'s sustained rate.

No GPU has been measured for this project yet (the device machine was not lent to the sessions that built it), so
``GPU``'s rate is an *assumption*, stated as one wherever it is shown: ZeroGPU's H200 at 20% of its dense bf16 peak
(989 TFLOP/s), below what StyleGAN2 training attains with fused kernels. ``bench/training_cost.py --device cuda``
measures the real rate; its figure replaces the assumption here when one is recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class GpuRate:
    name: str  # the GPU, as a card says it
    tflops: float  # sustained TFLOP/s of a training step
    measured: bool  # False: an assumption (see the module docstring)

    def seconds(self, flops: float) -> float:
        return flops / (self.tflops * 1e12)


GPU = GpuRate("ZeroGPU's H200", 989.0 * 0.20, measured=False)


def count_flops(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and the FLOPs it ran (forward and backward convolutions and matrix products)."""
    with FlopCounterMode(display=False) as counter:
        result = fn()
    return result, float(counter.get_total_flops())


def gpu_seconds(flops_per_iteration: float | None, iterations: int, gpu: GpuRate = GPU) -> float | None:
    """Seconds ``iterations`` iterations of ``flops_per_iteration`` FLOPs each would take on ``gpu``; None if the
    FLOPs are unknown (the job has not run an iteration yet) or nothing is left."""
    if not flops_per_iteration or flops_per_iteration <= 0 or iterations <= 0:
        return None
    return gpu.seconds(flops_per_iteration * iterations)
