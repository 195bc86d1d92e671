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

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count


@dataclass(frozen=True)
class GpuRate:
    name: str  # the GPU, as a card says it
    tflops: float  # sustained TFLOP/s of a training step
    measured: bool  # False: an assumption (see the module docstring)

    def seconds(self, flops: float) -> float:
        return flops / (self.tflops * 1e12)


GPU = GpuRate("ZeroGPU's H200", 989.0 * 0.20, measured=False)


def _nnpack_flops(x_shape, w_shape, *args: Any, out_shape=None, **kwargs: Any) -> int:
    """NNPACK's Winograd convolution (the CPU's fp32 path for wide 3×3 layers, generators/fast_ops.py) counted as the
    direct convolution it replaces: torch's counter has no formula for it, and a GPU runs the direct one."""
    return conv_flop_count(list(x_shape), list(w_shape), list(out_shape), transposed=False)


def count_flops(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and the FLOPs it ran (forward and backward convolutions and matrix products; Winograd
    convolutions as the direct ones they stand for)."""
    with FlopCounterMode(display=False, custom_mapping={
            torch.ops.aten._nnpack_spatial_convolution: _nnpack_flops}) as counter:
        result = fn()
    return result, float(counter.get_total_flops())


def gpu_seconds(flops_per_iteration: float | None, iterations: int, gpu: GpuRate = GPU) -> float | None:
    """Seconds ``iterations`` iterations of ``flops_per_iteration`` FLOPs each would take on ``gpu``; None if the
    FLOPs are unknown (the job has not run an iteration yet) or nothing is left."""
    if not flops_per_iteration or flops_per_iteration <= 0 or iterations <= 0:
        return None
    return gpu.seconds(flops_per_iteration * iterations)
