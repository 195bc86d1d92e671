"""Tolerances taken from the float32 round-off of the computation under test, not picked by hand.

A float32 result differs from the exact one by round-off that depends on the order of its operations, and that order
changes with the batch size (GEMM blocking), the thread count, the CPU's kernels and the library version — so two
float32 evaluations of one function agree only to within that round-off, never bit for bit in general. The same
computation in float64 is exact to ~1e-16 relative, so ``|float32 − float64|`` *is* this computation's float32
round-off on this machine and version. Two float32 evaluations in different orders each carry such an error, so
they differ by at most about twice its largest value; ``MARGIN`` covers the worst element landing elsewhere in the
other evaluation. A real defect (a code that depends on the batch, a wrong weight) is orders of magnitude larger.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch

MARGIN = 4.0  # ≥ 2 (two evaluations, each off by up to the round-off), doubled for where the worst element lands


def float32_roundoff(module: torch.nn.Module, run: Callable[[torch.nn.Module], torch.Tensor]) -> float:
    """Largest |float32 − float64| of ``run(module)`` (``run`` must build its inputs in the module's dtype)."""
    exact = run(copy.deepcopy(module).double())
    return (run(module).double() - exact).abs().max().item()


def tolerance(roundoff: float, magnitude: float) -> float:
    """What two float32 evaluations may differ by: MARGIN × the measured round-off, never below one float32 ulp of
    the largest value involved (a round-off measured as 0 on one machine can be an ulp on another)."""
    return MARGIN * roundoff + torch.finfo(torch.float32).eps * magnitude
