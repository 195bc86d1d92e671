"""Contrastive training of the tiny Shapes CLIP on renders paired with templated captions.

Reproducible from a seed: the generator weights, the training renders (seeds ``0 … pool_size-1``), the caption
subsets, the model init and the batch order all derive from ``TrainConfig.seed``. Held-out evaluation uses seeds from
``EVAL_SEED_START`` on, disjoint from training.

The loss is CLIP's symmetric cross-entropy with *multi-positive* targets: since the world's ground truth is known, a
caption that is true of several images in the batch ("a red shape") has all of them as positives, instead of being
pushed away from every image but its own (in-batch false negatives).

*Shape triplets* (``shape_triplets``): part of each batch is made of the same render drawn three times with its shape
blend weights cyclically permuted (circle → square → triangle), everything else equal, each captioned with its shape
named. Within such a triplet only the shape tells the captions apart, so the image tower cannot solve those pairs
from colour, size or position alone.

*Rotation pairs* (``rotation_pairs``): likewise, the same square or triangle drawn twice, the second turned by half
its symmetry period (45° for a square, 60° for a triangle), so that one is upright and the other tilted, each
captioned with its rotation named (issue 29: without them rotation stayed at 57% zero-shot while every other new
factor passed 90%). *Hue pairs* (``hue_pairs``): the same coloured render with its hue turned by 30° (clockwise for
even seeds, counter-clockwise for odd), each captioned with its colour named — hard negatives for the narrow colour
ranges (orange, pink: 30° wide).
"""
from __future__ import annotations

import json
import math
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..clip import (
    SHAPES_CLIP_CONFIG,
    SHAPES_CLIP_DIR,
    SHAPES_CLIP_NAME,
    SHAPES_CLIP_WEIGHTS,
    preprocess,
)
from ..generators.loading import from_pretrained
from ..generators.shapes import ShapesGenerator
from .captions import (
    FACTOR_NAMES,
    FACTORS,
    attribute_labels,
    caption_matches,
    random_captions,
    swapped_shape_captions,
    symmetry_period,
)
from .evaluate import EVAL_SEED_START  # noqa: F401  (documented above: held-out seeds start there)

MODEL_CONFIG = Path(__file__).with_name(SHAPES_CLIP_CONFIG)  # the architecture, copied next to the weights
LOG_NAME = "training_log.json"


@dataclass
class TrainConfig:
    seed: int = 0  # seeds the model init, caption subsets and batch order
    steps: int = 1300  # optimiser steps
    batch_size: int = 256  # image–caption pairs per step
    lr: float = 2e-3  # peak AdamW learning rate
    min_lr_ratio: float = 0.05  # the cosine decays to lr × this
    warmup_steps: int = 80  # linear warm-up from 0
    weight_decay: float = 0.05  # AdamW decay on matrices (not on biases, norms, embeddings, logit scale)
    pool_size: int = 40000  # pre-rendered training seeds 0 … pool_size-1 (× 3 shape variants with shape_triplets)
    generator: str = "shapes-128"  # the Shapes generator to render with
    device: str = "auto"  # "auto" = CUDA when available, else CPU
    threads: int = 0  # torch CPU threads; 0 = torch's default
    init_from: str = ""  # folder of Shapes CLIP weights to start from ("" = fresh init from ``seed``)
    emphasis: str = ""  # per-factor mention probabilities, "shape=0.8,vertical=0.6,…" ("" = uniform subsets)
    model_config: str = ""  # open_clip model config JSON ("" = the package's shapes-clip.json)
    init_towers: str = "image,text"  # which towers --init-from loads: "image,text", "text" or "image"
    shape_triplets: float = 0.0  # fraction of each batch made of shape triplets (same render, 3 shapes)
    shape_negatives: int = 0  # 1 = add each shape-naming caption with its shape swapped as extra negative captions
    rotation_pairs: float = 0.0  # fraction of each batch made of rotation pairs (same shape, upright and tilted)
    hue_pairs: float = 0.0  # fraction of each batch made of hue pairs (same render, hue turned by 30°)
    eval_every: int = 0  # print the zero-shot accuracy every this many steps (0 = never)
    eval_images: int = 500  # held-out renders of that in-training evaluation


def option_help() -> dict[str, str]:
    """``TrainConfig`` field → its description (the comment on its line), for the command line's ``--help``."""
    import inspect
    import re

    source = inspect.getsource(TrainConfig)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+): [^#\n]*#(.*)$", source, re.M)}


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` then cosine decay to ``lr × min_lr_ratio`` at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def multi_positive_clip_loss(logits: torch.Tensor, matches: torch.Tensor) -> torch.Tensor:
    """Symmetric contrastive cross-entropy; targets spread uniformly over every true (image, caption) pair.

    logits (B, T) image × caption similarities (already scaled); matches (B, T) bool, T ≥ B, with a true diagonal
    (caption i is image i's own). Captions beyond the B-th are extra negatives: they join the image → caption
    softmax, and the caption → image side for those true of some image in the batch.
    """
    target = matches.to(logits.dtype)
    image_to_text = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    true_of_some = matches.any(0)  # (T,)
    t_target, t_logits = target.T[true_of_some], logits.T[true_of_some]  # (T', B)
    text_to_image = -(t_target / t_target.sum(1, keepdim=True) * t_logits.log_softmax(1)).sum(1).mean()
    return 0.5 * (image_to_text + text_to_image)


def parse_emphasis(text: str) -> dict[str, float] | None:
    """"shape=0.8,vertical=0.6" → {"shape": 0.8, "vertical": 0.6}; "" → None (uniform caption subsets)."""
    if not text:
        return None
    pairs = (item.split("=") for item in text.split(","))
    emphasis = {name.strip(): float(value) for name, value in pairs}
    unknown = set(emphasis) - set(FACTOR_NAMES)
    if unknown:
        raise ValueError(f"unknown factor(s) {sorted(unknown)} in emphasis; known: {list(FACTOR_NAMES)}")
    return emphasis


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


SHAPE_KEYS = ("shape_circle", "shape_square", "shape_triangle")


def shape_variant(attrs: dict[str, torch.Tensor], shift: int) -> dict[str, torch.Tensor]:
    """The same attributes with the shape blend weights cyclically shifted by ``shift`` (circle → square → …)."""
    weights = torch.stack([attrs[k] for k in SHAPE_KEYS], dim=1).roll(shift, dims=1)  # (B, 3)
    return {**attrs, **{k: weights[:, i] for i, k in enumerate(SHAPE_KEYS)}}


def turned_variant(attrs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same attributes turned by half the symmetry period of the drawn shape (45° for a square, 60° for a
    triangle, nothing for a circle): upright becomes tilted and tilted upright."""
    shape = torch.stack([attrs[k] for k in SHAPE_KEYS], dim=1).argmax(1)  # (B,)
    half = symmetry_period(shape, attrs["rotation"]).nan_to_num(0.0) / 2  # circles: no turn
    return {**attrs, "rotation": attrs["rotation"] + half}


def hue_variant(attrs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same attributes with the hue turned by 30°, clockwise on even rows and counter-clockwise on odd ones."""
    sign = 1.0 - 2.0 * (torch.arange(len(attrs["hue"]), device=attrs["hue"].device) % 2)
    return {**attrs, "hue": torch.remainder(attrs["hue"] + sign * math.pi / 6, 2 * math.pi)}


# counterfactual pairs: factor named → (the variant, which renders can be paired: label column ≠ that class)
PAIRS = {"rotation": (turned_variant, ("shape", "circle")), "colour": (hue_variant, ("colour", "grey"))}


@torch.no_grad()
def render_pool(
    generator: ShapesGenerator, seeds: range, image_size: int, mean: tuple, std: tuple, chunk: int = 256,
    variants: int = 1, dtype: torch.dtype = torch.float32, extra: tuple = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP inputs (N, V, 3, S, S) and labels (N, V, 9) of the renders of ``seeds``, via the app's preprocessing.

    Variant 0 is the render of the seed itself; variant v > 0 is the same render with its shape weights shifted by v
    (:func:`shape_variant`), so the first ``variants`` ≤ 3 variants of a seed differ only in shape; then one variant
    per function of ``extra`` (attributes → attributes, e.g. :func:`turned_variant`), applied to variant 0.
    """
    images, labels = [], []
    for start in range(0, len(seeds), chunk):
        z = generator.sample_z(list(seeds[start : start + chunk]))  # (b, z_dim)
        attrs = generator.attributes(generator.mapping(z), "w")
        chunk_images, chunk_labels = [], []
        for v, make in enumerate([None] * variants + list(extra)):
            a = shape_variant(attrs, v) if v < variants else make(attrs)
            chunk_images.append(preprocess(generator.render(a), image_size, mean, std).to("cpu", dtype))
            chunk_labels.append(attribute_labels(a, generator.config).cpu())
        images.append(torch.stack(chunk_images, dim=1))  # (b, V, 3, S, S)
        labels.append(torch.stack(chunk_labels, dim=1))  # (b, V, 9)
    return torch.cat(images), torch.cat(labels)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        matrix = p.ndim >= 2 and "embedding" not in name
        (decay if matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def register_config(model_config: str | Path = "") -> Path:
    """Register ``model_config`` (default: the package's) with open_clip under the name ``shapes-clip``.

    open_clip names a config after its file stem, so a config of another name is copied to a temporary
    ``shapes-clip.json`` first. Returns the registered file.
    """
    import tempfile

    import open_clip

    path = Path(model_config) if model_config else MODEL_CONFIG
    if path.name != SHAPES_CLIP_CONFIG:
        copy = Path(tempfile.mkdtemp(prefix="shapes-clip-config-")) / SHAPES_CLIP_CONFIG
        shutil.copyfile(path, copy)
        path = copy
    open_clip.add_model_config(path)  # re-registering the name replaces the previous config
    return path


def build_model(seed: int, model_config: str | Path = "") -> torch.nn.Module:
    """A freshly initialised Shapes CLIP (open_clip ``CLIP``) from our model config, seeded."""
    import open_clip

    register_config(model_config)
    torch.manual_seed(seed)
    return open_clip.create_model(SHAPES_CLIP_NAME)


def load_towers(model: torch.nn.Module, folder: str | Path, towers: str) -> list[str]:
    """Copy the ``towers`` ("image", "text" or both, comma-separated) of the Shapes CLIP in ``folder`` into ``model``.

    The text tower is every tensor outside ``visual.`` (token and positional embeddings, transformer, final norm,
    projection, logit scale). Shapes must match. Returns the names of the loaded tensors.
    """
    from safetensors.torch import load_file

    wanted = {t.strip() for t in towers.split(",") if t.strip()}
    if not wanted or wanted - {"image", "text"}:
        raise ValueError(f"init_towers must name 'image' and/or 'text', got {towers!r}")
    source = load_file(str(Path(folder) / SHAPES_CLIP_WEIGHTS))
    own = model.state_dict()
    chosen = {k: v for k, v in source.items() if ("image" if k.startswith("visual.") else "text") in wanted}
    bad = [k for k, v in chosen.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise ValueError(f"{folder} does not fit this architecture for {sorted(wanted)}: {bad[:5]}")
    model.load_state_dict(chosen, strict=False)
    return sorted(chosen)


def save_weights(model: torch.nn.Module, out: Path, log: dict, model_config: str | Path = "") -> None:
    """fp16 safetensors + the model config JSON + a training log, in ``out``."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / SHAPES_CLIP_WEIGHTS), metadata={"model": SHAPES_CLIP_NAME})
    (out / SHAPES_CLIP_WEIGHTS).chmod(0o644)  # safetensors writes 0600; the shipped file is world-readable
    shutil.copyfile(Path(model_config) if model_config else MODEL_CONFIG, out / SHAPES_CLIP_CONFIG)
    (out / LOG_NAME).write_text(json.dumps(log, indent=1) + "\n")


def _input_size(model: torch.nn.Module) -> int:
    """The square input size of the image tower (ViT and timm towers store (H, W), open_clip's ResNet an int)."""
    size = model.visual.image_size
    return int(size if isinstance(size, int) else size[0])


def _evaluate_during_training(
    model: torch.nn.Module, tokenizer, generator: ShapesGenerator, config: TrainConfig, step: int
) -> dict:
    """Zero-shot accuracy of the model being trained on ``config.eval_images`` held-out renders (eval mode)."""
    from ..clip import ClipModel
    from .evaluate import zero_shot

    cfg = model.visual.preprocess_cfg
    clip = ClipModel(model.eval(), tokenizer, _input_size(model), tuple(cfg["mean"]), tuple(cfg["std"]))
    try:
        result = zero_shot(clip, generator, num_images=config.eval_images)
    finally:
        model.train()
    return {"step": step, **{k: round(v, 4) for k, v in result.accuracy.items()}}


def train(config: TrainConfig, out: Path = SHAPES_CLIP_DIR) -> dict:
    """Train the Shapes CLIP and write it to ``out``; returns the training log (also saved as JSON)."""
    import open_clip

    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    generator = from_pretrained(config.generator, device=device)
    model = build_model(config.seed, config.model_config)
    if config.init_from:
        loaded = load_towers(model, config.init_from, config.init_towers)
        print(f"initialised {len(loaded)} tensors ({config.init_towers}) from {config.init_from}")
    model = model.to(device).train().requires_grad_(True)
    emphasis = parse_emphasis(config.emphasis)
    tokenizer = open_clip.get_tokenizer(SHAPES_CLIP_NAME)
    image_size = _input_size(model)
    mean, std = tuple(model.visual.preprocess_cfg["mean"]), tuple(model.visual.preprocess_cfg["std"])

    if not 0.0 <= config.shape_triplets <= 1.0:
        raise ValueError(f"shape_triplets is a fraction of the batch, got {config.shape_triplets}")
    fractions = {"rotation": config.rotation_pairs, "colour": config.hue_pairs}
    if not (min(fractions.values()) >= 0.0 and config.shape_triplets + sum(fractions.values()) <= 1.0):
        raise ValueError(f"shape_triplets, rotation_pairs and hue_pairs are fractions of the batch: {fractions}")
    kinds = [k for k, f in fractions.items() if f > 0]  # the pair kinds in use, each one more variant of the pool
    variants = 3 if config.shape_triplets > 0 else 1
    t0 = time.perf_counter()
    images, labels = render_pool(
        generator, range(config.pool_size), image_size, mean, std, variants=variants,
        dtype=torch.float16 if variants > 1 or kinds else torch.float32,  # (N, V > 1, …) pools: half precision
        extra=tuple(PAIRS[k][0] for k in kinds),
    )
    render_s = time.perf_counter() - t0
    print(f"rendered {images.shape[0] * images.shape[1]} training images in {render_s:.1f} s")
    triplets = int(round(config.shape_triplets * config.batch_size / 3))  # per batch
    pairs = {k: int(round(fractions[k] * config.batch_size / 2)) for k in kinds}
    singles = config.batch_size - 3 * triplets - 2 * sum(pairs.values())
    eligible = {}  # pair kind → the pool's seeds it can pair (a square or triangle to turn, a colour to change)
    for k in kinds:
        factor, excluded = PAIRS[k][1]
        column = labels[:, 0, FACTOR_NAMES.index(factor)]
        eligible[k] = (column != FACTORS[factor].index(excluded)).nonzero().squeeze(1)

    def named(name: str, rows: int) -> torch.Tensor:
        mask = torch.zeros(rows, len(FACTOR_NAMES), dtype=torch.bool)
        mask[:, FACTOR_NAMES.index(name)] = True
        return mask

    # the captions of a triplet (pair) name the same factors (those drawn for its first image), shape (its kind) always
    mask_from, always, row = [torch.arange(triplets).repeat_interleave(3) * 3], [named("shape", 3 * triplets)], 3 * triplets
    for k in kinds:
        mask_from.append(row + torch.arange(pairs[k]).repeat_interleave(2) * 2)
        always.append(named(k, 2 * pairs[k]))
        row += 2 * pairs[k]
    mask_from = torch.cat(mask_from + [torch.arange(row, config.batch_size)])
    always = torch.cat(always + [torch.zeros(singles, len(FACTOR_NAMES), dtype=torch.bool)])
    counterfactuals = triplets + sum(pairs.values()) > 0
    evaluations: list[dict] = []

    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
    rng = torch.Generator(device="cpu").manual_seed(config.seed)
    token_cache: dict[str, torch.Tensor] = {}
    order, cursor = torch.randperm(len(images), generator=rng), 0
    losses: list[float] = []
    t0 = time.perf_counter()
    bar = tqdm(range(config.steps), desc="shapes-clip", dynamic_ncols=True)
    for step in bar:
        seeds_per_batch = triplets + singles
        if cursor + seeds_per_batch > len(order):
            order, cursor = torch.randperm(len(images), generator=rng), 0
        index = order[cursor : cursor + seeds_per_batch]
        cursor += seeds_per_batch
        if variants == 1 and not kinds:
            batch_images, batch_labels = images[index, 0], labels[index, 0]  # (B, 3, S, S), (B, 9)
        else:  # the triplets' three shape variants, each kind's pairs, then singles in a random shape variant
            paired = [eligible[k][torch.randint(0, len(eligible[k]), (pairs[k],), generator=rng)] for k in kinds]
            seed_index = torch.cat([index[:triplets].repeat_interleave(3)] + [p.repeat_interleave(2) for p in paired]
                                   + [index[triplets:]])  # (B,)
            variant = torch.cat([torch.arange(3).repeat(triplets)]
                                + [torch.tensor([0, variants + j]).repeat(pairs[k]) for j, k in enumerate(kinds)]
                                + [torch.randint(0, variants, (singles,), generator=rng)])
            batch_images, batch_labels = images[seed_index, variant].float(), labels[seed_index, variant]
        texts, mentioned = random_captions(batch_labels, rng, emphasis, always if counterfactuals else None,
                                           mask_from if counterfactuals else None)
        caption_labels = batch_labels
        if config.shape_negatives:
            extra_texts, extra_labels, extra_mentioned = swapped_shape_captions(batch_labels, mentioned)
            texts, caption_labels = texts + extra_texts, torch.cat([batch_labels, extra_labels])
            mentioned = torch.cat([mentioned, extra_mentioned])
        missing = [t for t in set(texts) if t not in token_cache]
        if missing:
            token_cache.update(zip(missing, tokenizer(missing)))
        tokens = torch.stack([token_cache[t] for t in texts]).to(device)  # (B, context_length)
        matches = caption_matches(batch_labels, caption_labels, mentioned).to(device)  # (B, T)

        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        image_features, text_features, logit_scale = model(batch_images.to(device), tokens)  # (B, D), (B, D), ()
        logits = logit_scale * image_features @ text_features.T  # (B, T)
        loss = multi_positive_clip_loss(logits, matches)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, math.log(100.0))
        losses.append(loss.item())
        if step % 10 == 0 or step == config.steps - 1:
            recent = losses[-10:]
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.3f}", lr=f"{learning_rate(step, config):.1e}")
        if config.eval_every and ((step + 1) % config.eval_every == 0 or step == config.steps - 1):
            evaluations.append(_evaluate_during_training(model, tokenizer, generator, config, step + 1))
            bar.write(f"step {step + 1}: " + ", ".join(f"{k} {v:.1%}" for k, v in evaluations[-1].items() if k != "step"))
    train_s = time.perf_counter() - t0

    log = {
        "config": asdict(config),
        "device": str(device),
        "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads"
        if device.type == "cpu"
        else torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "render_seconds": round(render_s, 1),
        "train_seconds": round(train_s, 1),
        "seconds_per_step": round(train_s / config.steps, 3),
        "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "loss_every_50": [round(x, 4) for x in losses[::50]],
    }
    if evaluations:
        log["zero_shot_during_training"] = evaluations
    save_weights(model.eval(), Path(out), log, config.model_config)
    return log
