"""The loop every trainer here shares (ContraCLIP paths, CF-CLIP edit models, CLIP → latent mappers): resume from a
checkpoint, step until the configured number of iterations, report progress, checkpoint atomically every so often,
stop when the callback says so (a cancelled job)."""
from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .atomic import atomic_write_bytes
from .costs import count_flops
from .errors import WeightsError
from .generators.formats import read_weights


@dataclass
class Progress:
    iteration: int  # iterations done
    total: int
    loss: float  # this iteration's loss
    loss_avg: float  # running mean over the last ~50 iterations
    elapsed_s: float
    eta_s: float
    flops: float | None = None  # FLOPs of one iteration, counted on this run's first (costs.count_flops)


def to_cpu(obj: Any) -> Any:
    """Every tensor in a (nested) state — model and optimiser state dicts, RNG state — detached and on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def save_checkpoint_file(state: dict[str, Any], path: str | Path) -> None:
    """``state`` with its tensors on the CPU, written atomically: a crash mid-write leaves the previous checkpoint
    intact."""
    buffer = io.BytesIO()
    torch.save(to_cpu(state), buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def read_checkpoint(path: str | Path, total: int, restore: Callable[[dict[str, Any]], None]) -> tuple[int, list[float]]:
    """Read a checkpoint (``torch.load(weights_only=True)``, a clear error for a damaged file), check its iteration
    count against ``total``, hand it to ``restore`` (which loads models, optimiser, RNG) and return (iteration,
    losses); ``WeightsError`` (one sentence) if it is damaged or is not this run's."""
    path = Path(path)
    state = read_weights(path)
    try:
        iteration = state["iteration"]
        if isinstance(iteration, bool) or not isinstance(iteration, int) or not 0 <= iteration <= total:
            raise ValueError(f"'iteration' is {iteration!r}, not a count in [0, {total}]")
        restore(state)
        return iteration, [float(x) for x in state["losses"]]
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        raise WeightsError(f"{path.name} cannot be resumed from ({type(e).__name__}: {str(e).splitlines()[0]}); "
                           "delete it to start this training over") from e


def run(trainer: Any, total: int, checkpoint_every: int, checkpoint: str | Path | None,
        callback: Callable[[Progress], bool | None] | None, progress_bar: bool, desc: str,
        postfix: Callable[[Progress], dict[str, str]] | None = None) -> None:
    """Drive ``trainer`` (``step()``, ``iteration``, ``losses``, ``save_checkpoint``, ``load_checkpoint``,
    ``resumed_from``) to ``total`` iterations: resume from ``checkpoint`` if it exists, save to it every
    ``checkpoint_every`` iterations, at the end and when stopped early; ``callback(progress)`` returning False stops
    early."""
    if checkpoint is not None and Path(checkpoint).is_file():
        trainer.load_checkpoint(checkpoint)
        trainer.resumed_from = trainer.iteration
    bar = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=trainer.iteration, desc=desc, unit="it")
    start, start_iter, flops = time.monotonic(), trainer.iteration, None
    try:
        while trainer.iteration < total:
            if flops is None:  # the first iteration of this run is counted (what a GPU would take: costs.py)
                loss, flops = count_flops(trainer.step)
            else:
                loss = trainer.step()
            elapsed = time.monotonic() - start
            eta = elapsed / (trainer.iteration - start_iter) * (total - trainer.iteration)
            recent = trainer.losses[-50:]
            progress = Progress(trainer.iteration, total, loss, sum(recent) / len(recent), elapsed, eta, flops)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(postfix(progress) if postfix else {"loss": f"{progress.loss_avg:.4f}"})
            saved = checkpoint is not None and (trainer.iteration % checkpoint_every == 0 or trainer.iteration == total)
            if saved:
                trainer.save_checkpoint(checkpoint)
            if callback is not None and callback(progress) is False:
                if checkpoint is not None and not saved:  # stopped early (cancelled, a GPU chunk's time is up):
                    trainer.save_checkpoint(checkpoint)  # the next run resumes from this very iteration
                break
    finally:
        if bar is not None:
            bar.close()


def cosine_lr(start: float, end: float, t: float) -> float:
    """From ``start`` (t = 0) to ``end`` (t = 1) on a half cosine; t is clamped to [0, 1]."""
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


def step_decay_lr(base_lr: float, iteration: int, total: int, at: float = 0.9, factor: float = 0.1) -> float:
    """Adam's learning rate: ``base_lr`` until ``at``·total iterations, then ×``factor``."""
    return base_lr * (factor if iteration >= int(at * total) else 1.0)
