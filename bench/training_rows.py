"""bench.py's training and traversal rows: a ContraCLIP step on StyleGAN2, the Shapes quick preset end to end, and a
traversal (time to the first streamed image, and to the GIF). Each as the naive way beside the fast way, in one run."""
from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from contraclip_core import allocator
from contraclip_core.methods.contraclip import presets
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.methods.contraclip.model import LatentSupportSets, LatentView
from contraclip_core.media import save_gif
from contraclip_core.methods.contraclip.traversal import traverse_iter


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@contextmanager
def naive_training(generator, clip) -> Iterator[None]:
    """The training path before this project's speed-ups: full-resolution renders for CLIP, resized, and the image
    tower as open_clip builds it (NCHW, BatchNorm unfolded)."""
    from contraclip_core.clip import preprocess

    def synthesis_for(latent, space, size):
        return generator.synthesis(latent, space)

    def encode_images(images, normalize=False):
        param = next(clip.model.parameters())
        x = preprocess(images.to(device=param.device, dtype=param.dtype), clip.image_size, clip.mean, clip.std)
        return clip.model.encode_image(x, normalize=normalize)

    generator.synthesis_for, clip.encode_images = synthesis_for, encode_images
    try:
        with allocator.glibc_defaults():
            yield
    finally:
        del generator.synthesis_for, clip.encode_images


def train_step_rows(g, clip, clip_name: str, variants: list[tuple[str, str]], batch: int, iters: int, device: str,
                    precision_context) -> list[dict]:
    """ms per ContraCLIP step on StyleGAN2 (forward through G twice and CLIP, backward, Adam) and peak GPU memory,
    for each (impl, precision); the precision covers the whole step. Ratio: the first row's ms over this row's."""
    from contraclip_core.methods.contraclip.train import Trainer

    dipoles = presets.dipole_sentences("stylegan2-ffhq-1024", None, "attributes")[:batch]
    config = presets.train_config("stylegan2-ffhq-1024", "paper", dipoles=dipoles)
    config.batch_size, config.layers, config.negatives = batch, min(11, g.num_ws - 1), []
    rows = []
    for impl, mode in variants:
        g.set_impl(impl)
        trainer = Trainer(config, g, clip)
        if torch.device(device).type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with precision_context(mode, device), malloc_for(impl == "grouped"):
            trainer.step()
            times = []
            for _ in range(iters):
                sync(device)
                start = time.perf_counter()
                trainer.step()
                sync(device)
                times.append(time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.device(device).type == "cuda" else None
        rows.append({"impl": impl, "precision": mode, "batch": batch, "layers": config.layers, "clip": clip_name,
                     "ms_per_step": 1000 * sorted(times)[len(times) // 2], "peak_gb": peak})
    g.set_impl("fast")
    for r in rows:
        r["ratio"] = rows[0]["ms_per_step"] / r["ms_per_step"]
    return rows


# The Shapes quick preset as it was before this round: batch max(K, 8), a fresh anchor every draw, paths in W itself.
BEFORE = dict(batch_size=8, anchor_pool=0, whiten=False)


def shapes_training_rows(iterations: int | None, device: str, threads: list[int]) -> list[dict]:
    """The Shapes quick preset on one dipole, end to end (``Trainer.train``), then its path evaluated on the ground
    truth (32 seeds): the naive way with the preset as it was (``BEFORE``) beside today's preset the fast way, at
    each thread count in ``threads``. ``iterations`` None: the preset's own."""
    from contraclip_core.clip import load_clip
    from contraclip_core.methods.contraclip.evaluate import evaluate_shapes
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip.train import Trainer

    g, clip = from_pretrained("shapes-128", device=device), load_clip("shapes-clip", device=device)
    saved_threads = torch.get_num_threads()
    rows = []
    variants = [("naive, preset before", saved_threads)] + [("fast, preset now", n) for n in threads]
    for way, n in variants:
        config = presets.train_config("shapes-128", "quick", dipoles=[("a red shape", "a blue shape")])
        if way.startswith("naive"):
            for key, value in BEFORE.items():
                setattr(config, key, value)
        if iterations is not None:
            config.iterations = iterations
        torch.set_num_threads(n)
        try:
            with naive_training(g, clip) if way.startswith("naive") else _nothing():
                trainer = Trainer(config, g, clip)
                start = time.perf_counter()
                path_set = trainer.train()
                seconds = time.perf_counter() - start
        finally:
            torch.set_num_threads(saved_threads)
        r = evaluate_shapes(g, path_set, seeds=range(32), step_size=0.25)[0]
        rows.append({"way": way, "threads": n, "iterations": config.iterations, "batch": config.resolved().batch_size,
                     "anchor_pool": config.anchor_pool, "seconds": seconds, "rho": r.target_rho,
                     "delta": r.target_change, "off": r.off_target_max,
                     "final_loss": sum(trainer.losses[-50:]) / len(trainer.losses[-50:])})
    for r in rows:
        r["ratio"] = rows[0]["seconds"] / r["seconds"]
    return rows


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def malloc_for(naive: bool):
    """A naive way runs under glibc's own malloc thresholds, every other way under the app's (allocator.py)."""
    return allocator.glibc_defaults() if naive else _nothing()


def traversal_rows(g, variants: list[tuple[str, str, int, bool]], frames: int, iters: int, device: str,
                   precision_context) -> list[dict]:
    """``frames`` moves (frames // 2 each way) from one seed, rendered and written as a GIF: seconds to the first
    image the page can show and end to end, for each (impl, precision, frames per batch, streamed: anchor first)."""
    view = LatentView("w+", (g.num_ws, g.w_dim), min(11, g.num_ws - 1))
    lss = LatentSupportSets(1, 64, view.dim, torch.tensor([10.0])).to(device)
    path_set = PathSet(lss=lss, dipoles=[("a", "b")], generator="bench", space="w+", layers=view.layers,
                       truncation=0.7, latent_shape=(g.num_ws, g.w_dim))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for impl, mode, batch_size, streamed in variants:
            g.set_impl(impl)
            firsts, totals = [], []
            for _ in range(iters):
                sync(device)
                start, first = time.perf_counter(), None
                with precision_context(mode, device), malloc_for(impl == "grouped"):
                    for t in traverse_iter(g, path_set, 0, [0], steps=frames // 2, step_size=0.2,
                                           batch_size=batch_size, anchors_first=streamed):
                        first = first or time.perf_counter() - start
                save_gif(t, Path(tmp) / "t.gif", thumb=min(g.resolution, 256))
                totals.append(time.perf_counter() - start)
                firsts.append(first)
            rows.append({"impl": impl, "precision": mode, "render_batch": batch_size, "streamed": streamed,
                         "frames": frames + 1,
                         "first_image_s": min(firsts), "seconds": min(totals)})
    g.set_impl("fast")
    for r in rows:
        r["ratio"] = rows[0]["seconds"] / r["seconds"]
    return rows

