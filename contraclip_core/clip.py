"""open_clip wrapper: the differentiable image preprocessing every CLIP call goes through, and model loaders.

Generators output images in ≈[-1, 1]. CLIP sees them as: map to [0, 1] → antialiased resize to the model's input size
→ normalise with the model's mean/std — all torch ops, so gradients flow back to the latent code (DESIGN.md §2,
"CLIP input"). Training, evaluation and the app all use :func:`preprocess`, so CLIP never sees anything else.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import WeightsError
from .hub import PROJECT_ROOT

SHAPES_CLIP_NAME = "shapes-clip"  # open_clip model name = stem of our model config JSON
SHAPES_CLIP_DIR = PROJECT_ROOT / "checkpoints" / "shapes" / "clip"
SHAPES_CLIP_CONFIG = f"{SHAPES_CLIP_NAME}.json"
SHAPES_CLIP_WEIGHTS = "open_clip_model.safetensors"
OPEN_CLIP_CONFIG = "open_clip_config.json"  # open_clip's own save layout: this file beside the weights


def preprocess(
    images: torch.Tensor, image_size: int, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """Generator images (B, 3, H, W) in [-1, 1] → CLIP input (B, 3, image_size, image_size). Differentiable.

    [-1, 1] → [0, 1] (clamped), bilinear resize with antialiasing (skipped when the size already matches), then
    per-channel ``(x - mean) / std``.
    """
    x = ((images + 1.0) * 0.5).clamp(0.0, 1.0)  # (B, 3, H, W) in [0, 1]
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    mean_t = torch.as_tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean_t) / std_t  # (B, 3, S, S)


@dataclass
class ClipModel:
    """An open_clip model with what it takes to feed it: tokenizer, input size, normalisation."""

    model: Any  # open_clip.CLIP, in eval mode with frozen parameters
    tokenizer: Any  # open_clip tokenizer: list[str] → (N, context_length) token ids
    image_size: int  # square input size in pixels
    mean: tuple[float, ...]  # per-channel normalisation mean
    std: tuple[float, ...]  # per-channel normalisation std
    text_cache: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # sentence → embedding (CPU)
    image_tower: Any = field(default=None, repr=False)  # what encode_images runs; None → model.visual as it is
    bf16_tower: Any = field(default=None, repr=False)  # a bf16 copy of that tower, made on first use (below)
    bf16_copy: bool = True  # under CPU bf16 autocast run that copy (False: autocast as it is; bench's lever row)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Generator images (B, 3, H, W) in [-1, 1] → this model's input. Differentiable."""
        return preprocess(images, self.image_size, self.mean, self.std)

    def encode_images(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Generator images (B, 3, H, W) in [-1, 1] → embeddings (B, D). Differentiable w.r.t. the images."""
        param = next(self.model.parameters())
        x = self.preprocess(images.to(device=param.device, dtype=param.dtype))
        if self._bf16_on_cpu(x):
            return self._encode_bf16(x, normalize)
        if self.image_tower is None:
            return self.model.encode_image(x, normalize=normalize)
        features = self.image_tower(x.contiguous(memory_format=torch.channels_last))
        return F.normalize(features, dim=-1) if normalize else features

    def _bf16_on_cpu(self, x: torch.Tensor) -> bool:
        return (self.bf16_copy and x.device.type == "cpu" and x.dtype == torch.float32 and torch.is_autocast_enabled("cpu")
                and torch.get_autocast_dtype("cpu") == torch.bfloat16)

    def _encode_bf16(self, x: torch.Tensor, normalize: bool) -> torch.Tensor:
        """Under CPU bf16 autocast, the image tower runs as a bf16 copy of itself with autocast off: autocast on the
        CPU re-casts every weight on every call, and ViT-B/32 took 1.27 s for 8 images that way — 5× its fp32 time
        (0.25 s) — where the bf16 copy takes 0.08 s (an AMX Xeon, issue 28). The copy costs half the fp32 weights'
        memory once; the embeddings stay within ~1e-3 cosine of fp32 (tests). Differentiable w.r.t. ``x``."""
        if self.bf16_tower is None:
            tower = self.image_tower if self.image_tower is not None else self.model.visual
            self.bf16_tower = batched_attention(copy.deepcopy(tower).to(torch.bfloat16).eval().requires_grad_(False))
        with torch.autocast("cpu", enabled=False):
            memory = torch.channels_last if self.image_tower is not None else torch.contiguous_format
            features = self.bf16_tower(x.to(torch.bfloat16).contiguous(memory_format=memory))
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(self, texts: Sequence[str], normalize: bool = False) -> torch.Tensor:
        """Sentences → embeddings (N, D)."""
        param = next(self.model.parameters())
        tokens = self.tokenizer(list(texts)).to(param.device)
        return self.model.encode_text(tokens, normalize=normalize)


def _wrap(model: Any, name: str, device: str | torch.device, dtype: torch.dtype) -> ClipModel:
    """A frozen, eval-mode ClipModel around an open_clip model, with its tokenizer, input size and mean/std."""
    import open_clip

    model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    cfg = model.visual.preprocess_cfg
    return ClipModel(model, open_clip.get_tokenizer(name), _input_size(model), tuple(cfg["mean"]), tuple(cfg["std"]),
                     image_tower=inference_tower(model.visual))


class BatchFirstAttention(nn.Module):
    """``nn.MultiheadAttention`` (batch first, self-attention, no mask) computed on the batch-first tensor itself,
    with the same parameters. torch's module transposes to (L, B, E) first; when the input needs a gradient its input
    projection then runs as a batched matmul over copies of the weight — in bf16 on a CPU 1.1 s of a ViT-B/32's
    1.2 s for 8 images (issue 28). Masked or cross attention goes to the module itself."""

    def __init__(self, attn: nn.MultiheadAttention):
        super().__init__()
        self.attn = attn

    def forward(self, query, key, value, need_weights: bool = False, attn_mask=None, **kwargs):
        a = self.attn
        if (attn_mask is not None or need_weights or kwargs.get("key_padding_mask") is not None
                or not (query is key is value) or a.in_proj_weight is None):
            return a(query, key, value, need_weights=need_weights, attn_mask=attn_mask, **kwargs)
        b, n, e = query.shape
        qkv = F.linear(query, a.in_proj_weight, a.in_proj_bias).view(b, n, 3, a.num_heads, e // a.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, L, head dim) each
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
        return a.out_proj(out.transpose(1, 2).reshape(b, n, e)), None


def batched_attention(tower: nn.Module) -> nn.Module:
    """``tower`` with each batch-first self-attention module wrapped in ``BatchFirstAttention`` (in place)."""
    for module in list(tower.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.MultiheadAttention) and child.batch_first:
                setattr(module, name, BatchFirstAttention(child))
    return tower


def inference_tower(visual: nn.Module) -> nn.Module | None:
    """A convolutional image tower (BatchNorm after its convolutions: the Shapes CLIP, OpenAI's ResNets) as it runs
    fastest frozen: each BatchNorm folded into the convolution before it (torch.fx) and channels_last memory, which
    oneDNN and cuDNN run faster. The same function to float round-off (tests). None — run ``visual`` as it is — for
    towers without BatchNorm (ViTs) or that torch.fx cannot trace."""
    if not any(isinstance(m, nn.BatchNorm2d) for m in visual.modules()):
        return None
    from torch.fx.experimental.optimization import fuse

    try:
        tower = fuse(copy.deepcopy(visual))
    except Exception:  # noqa: BLE001 - an untraceable tower simply runs unfolded
        return None
    return tower.to(memory_format=torch.channels_last).eval().requires_grad_(False)


def _input_size(model: Any) -> int:
    """The square input size of an open_clip image tower (an int for ModifiedResNet, a pair for ViT/timm)."""
    size = model.visual.image_size
    return int(size if isinstance(size, int) else size[0])


def _register_shapes_config(folder: Path) -> None:
    """(Re-)register our model config with open_clip, so the name always means the config beside these weights."""
    import open_clip

    open_clip.add_model_config(folder / SHAPES_CLIP_CONFIG)


def load_shapes_clip(
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, folder: str | Path | None = None
) -> ClipModel:
    """The tiny CLIP trained on the Shapes world, through open_clip's own config + checkpoint loading.

    Args:
        device, dtype: where the model lives (the shipped weights are fp16; they are cast on load).
        folder: a folder holding ``shapes-clip.json`` and ``open_clip_model.safetensors``; default: the shipped one.
    """
    import open_clip

    folder = Path(folder) if folder is not None else SHAPES_CLIP_DIR
    weights = folder / SHAPES_CLIP_WEIGHTS
    if not (folder / SHAPES_CLIP_CONFIG).is_file() or not weights.is_file():
        raise WeightsError(
            f"{folder} does not hold the Shapes CLIP: it needs {SHAPES_CLIP_CONFIG} and {SHAPES_CLIP_WEIGHTS}. "
            "Train it with `python -m contraclip_core.shapes_clip train`."
        )
    _register_shapes_config(folder)
    try:
        model = open_clip.create_model(SHAPES_CLIP_NAME, pretrained=str(weights), device=device)
    except RuntimeError as e:  # open_clip reports shape/key mismatches as RuntimeError
        raise WeightsError(f"{weights} does not fit {folder / SHAPES_CLIP_CONFIG}: {e}") from e
    return _wrap(model, SHAPES_CLIP_NAME, device, dtype)


def cached_text_embeddings(clip: ClipModel, texts: Sequence[str]) -> torch.Tensor:
    """``clip.encode_text`` with a cache of each sentence's embedding on the model object, (N, D) on its device."""
    missing = [t for t in dict.fromkeys(texts) if t not in clip.text_cache]
    if missing:
        with torch.no_grad():
            embeddings = clip.encode_text(missing).float().cpu()
        clip.text_cache.update(zip(missing, embeddings))
    param = next(clip.model.parameters())
    return torch.stack([clip.text_cache[t] for t in texts]).to(param.device)


def load_openai_vit_b32(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                        source: str | None = None) -> ClipModel:
    """OpenAI CLIP ViT-B/32 through open_clip, its weights from the Hub (``registry.CLIP_MODELS``) or a local file.

    The OpenAI weights were trained with QuickGELU, which open_clip's "ViT-B-32" config only uses when told.
    """
    import open_clip

    from . import hub, registry

    preset = registry.CLIP_MODELS["ViT-B-32/openai"]
    weights = hub.resolve(source or preset.source, what="the CLIP model ViT-B-32/openai")
    try:
        model = open_clip.create_model(preset.model_name, pretrained=str(weights), device=device, force_quick_gelu=True)
    except RuntimeError as e:
        raise WeightsError(f"{weights} does not fit open_clip's {preset.model_name}: {e}") from e
    return _wrap(model, preset.model_name, device, dtype)


def load_open_clip_folder(folder: str | Path, device: str | torch.device = "cpu",
                          dtype: torch.dtype = torch.float32) -> ClipModel:
    """Any open_clip model saved in open_clip's own layout: a folder with ``open_clip_config.json`` (the model and
    preprocessing config) and ``open_clip_model.safetensors`` (or a ``.bin`` read with ``weights_only=True``)."""
    import open_clip

    folder = Path(folder).expanduser().absolute()
    if not (folder / OPEN_CLIP_CONFIG).is_file():
        raise WeightsError(f"{folder} is not an open_clip model folder: it needs {OPEN_CLIP_CONFIG} beside the "
                           "weights (open_clip's save layout)")
    name = f"local-dir:{folder}"
    try:
        model = open_clip.create_model(name, device=device)
    except (RuntimeError, ValueError, FileNotFoundError, KeyError) as e:
        raise WeightsError(f"{folder} does not hold a loadable open_clip model: {e}") from e
    return _wrap(model, name, device, dtype)


def load_clip(name: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> ClipModel:
    """A CLIP model by registry name (``"shapes-clip"``, ``"ViT-B-32/openai"``), or any source of one:

    - a folder in open_clip's layout (``open_clip_config.json`` + weights), local or ``hf://org/repo[@rev]`` (a Hub
      repository or a folder of one);
    - a weights file of OpenAI's ViT-B/32, local or ``hf://org/repo/file``.
    """
    from . import hub, registry
    from .errors import UnknownNameError

    if name == SHAPES_CLIP_NAME:
        return load_shapes_clip(device=device, dtype=dtype)
    if name == "ViT-B-32/openai":
        return load_openai_vit_b32(device=device, dtype=dtype)
    if name.startswith("hf://"):
        root_only = name[len("hf://"):].rstrip("/").count("/") == 1  # hf://org/repo[@rev]: the repository's root
        where = hub.parse_hf_url(name.rstrip("/") + f"/{OPEN_CLIP_CONFIG}" if root_only else name)
        folder = "" if root_only else where.filename.rstrip("/")
        if root_only or not Path(folder).suffix:  # a repository or a folder of one: open_clip's layout
            prefix = f"{folder}/" if folder else ""
            root = hub.snapshot(where.repo_id, where.revision, [f"{prefix}{OPEN_CLIP_CONFIG}",
                                                                f"{prefix}open_clip_model.safetensors"],
                                what=f"the CLIP model {name}")
            return load_open_clip_folder(root / folder, device=device, dtype=dtype)
        return load_openai_vit_b32(device=device, dtype=dtype, source=name)
    path = Path(name).expanduser()
    if path.is_dir():
        return load_open_clip_folder(path, device=device, dtype=dtype)
    if path.is_file():
        return load_openai_vit_b32(device=device, dtype=dtype, source=name)
    raise UnknownNameError(f"unknown CLIP model {name!r}; choose one of {sorted(registry.CLIP_MODELS)}, or give an "
                           "open_clip model folder, an OpenAI ViT-B/32 weights file or an hf:// source")


@functools.lru_cache(maxsize=8)
def tokenizer_for(name: str) -> Any:
    """The tokenizer of a registry CLIP (``"shapes-clip"``, ``"ViT-B-32/openai"``) without loading its weights:
    open_clip's own, with the model's context length (20 for the Shapes CLIP, 77 for ViT-B/32)."""
    import open_clip

    from . import registry

    if name == SHAPES_CLIP_NAME:
        _register_shapes_config(SHAPES_CLIP_DIR)
        return open_clip.get_tokenizer(SHAPES_CLIP_NAME)
    preset = registry.CLIP_MODELS.get(name)
    if preset is None and Path(name).expanduser().is_dir():
        return open_clip.get_tokenizer(f"local-dir:{Path(name).expanduser().absolute()}")
    return open_clip.get_tokenizer(preset.model_name if preset else "ViT-B-32")


def encoded(name: str, text: str) -> tuple[list[int], list[str]]:
    """What the CLIP ``name`` reads of ``text``: its token ids within the context (start and end tokens included)
    and the words that fall past the context (dropped by the tokenizer, so they change nothing)."""
    tokenizer = tokenizer_for(name)
    ids = [int(t) for t in tokenizer([text])[0].tolist() if t != 0]
    room = tokenizer.context_length - 2  # the start and end tokens
    words, used, past = text.split(), 0, []
    for word in words:
        used += len(tokenizer.encode(word))
        if used > room:
            past.append(word)
    return ids, past


def add_clip_argument(parser: Any) -> None:
    """``--clip`` for a CLI command that trains or edits (an ``argparse`` parser)."""
    parser.add_argument("--clip", default=None,
                        help="the CLIP model: a registry name (shapes-clip, ViT-B-32/openai), an open_clip model "
                             "folder (open_clip_config.json + weights), an OpenAI ViT-B/32 weights file, or hf://… "
                             "(default: the generator preset's)")
