"""Plain helpers the tests share: opening a service, waiting for a condition or a job, building a random-weight
StyleGAN2. The pytest fixtures built on them live in conftest.py."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

FINISHED = ("done", "failed", "cancelled")  # a job that will not change any more


@contextmanager
def open_service(data_dir: str | Path, **options: Any) -> Iterator[Any]:
    """A ``Service`` on ``data_dir`` (on the CPU unless ``options`` say otherwise), closed when the block ends."""
    from contraclip_core.service import Service

    service = Service(data_dir, **({"device": "cpu"} | options))
    try:
        yield service
    finally:
        service.close()


def wait_for(predicate: Callable[[], T], timeout: float = 180.0, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s"
        time.sleep(interval)
    return value


def job_row(service: Any, job_id: str) -> dict:
    """The job's row in ``service.jobs()`` (what a job card shows)."""
    return next(r for r in service.jobs() if r["id"] == job_id)


def wait_for_job(service: Any, job_id: str, statuses: tuple[str, ...] = FINISHED, timeout: float = 300.0) -> dict:
    """The job's row once its status is one of ``statuses`` (by default: finished); fails after ``timeout`` s."""
    return wait_for(lambda: (row := job_row(service, job_id))["status"] in statuses and row, timeout, interval=0.2)


def random_stylegan2(config: dict | None = None, *, seed: int | None = 0) -> Any:
    """A StyleGAN2 with random weights: ``torch.manual_seed(seed)`` (unless ``seed`` is None), then built from
    ``config`` (default: the architecture of the tests/fixtures rosinality-tiny checkpoint: 32 px, 64-d z and w,
    8 style inputs, 32 channels). Returned as built (train mode, gradients on), the global RNG where the build left
    it: callers that change weights or statistics do so first, then ``.eval().requires_grad_(False)``."""
    import torch

    from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    from .conftest import fixture_config

    if seed is not None:
        torch.manual_seed(seed)
    config = fixture_config("stylegan2_rosinality_tiny") if config is None else config
    return StyleGAN2Generator(StyleGAN2Config(**config))
