"""``docs/shapes_examples.png``: held-out renders, each under the caption the Shapes CLIP ranks first."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Sequence

import torch

from ..clip import load_shapes_clip
from ..generators.loading import from_pretrained
from .captions import FACTORS, attribute_labels, caption
from .evaluate import rank_captions


def candidate_captions() -> list[str]:
    """Every caption naming size, colour, shape and horizontal position (3·7·3·3 = 189 candidates)."""
    return [
        caption({"size": s, "colour": c, "shape": sh, "horizontal": h})
        for s, c, sh, h in itertools.product(
            FACTORS["size"], FACTORS["colour"], FACTORS["shape"], FACTORS["horizontal"]
        )
    ]


def truth_caption(label_row: Sequence[int]) -> str:
    """The candidate-form caption of a ground-truth label row (6,)."""
    names = {f: FACTORS[f][label_row[i]] for i, f in enumerate(FACTORS)}
    return caption({f: names[f] for f in ("size", "colour", "shape", "horizontal")})


@torch.inference_mode()
def make_examples(
    out: Path, seeds: Sequence[int], clip_folder: Path | None = None, generator_name: str = "shapes-128",
    tile: int = 256,
) -> Path:
    """Render ``seeds`` side by side, each with CLIP's top-ranked caption and the ground truth under it."""
    from PIL import Image, ImageDraw, ImageFont

    clip = load_shapes_clip(folder=clip_folder)
    generator = from_pretrained(generator_name)
    z = generator.sample_z(list(seeds))
    images = generator(z)  # (B, 3, 128, 128) in [-1, 1]
    ranked = rank_captions(clip, images, candidate_captions())
    truth = attribute_labels(generator.attributes(z), generator.config).tolist()

    font = ImageFont.load_default(size=15)
    text_h, pad = 62, 8
    sheet = Image.new("RGB", (len(seeds) * (tile + pad) + pad, tile + text_h + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    for i, (seed, (text, score)) in enumerate(zip(seeds, ranked)):
        x0 = pad + i * (tile + pad)
        sheet.paste(Image.fromarray(pixels[i]).resize((tile, tile), Image.Resampling.NEAREST), (x0, pad))
        y = tile + pad + 4
        draw.text((x0, y), f"CLIP: {text}", fill="black", font=font)
        draw.text((x0, y + 20), f"truth: {truth_caption(truth[i])}", fill=(90, 90, 90), font=font)
        draw.text((x0, y + 40), f"seed {seed}, cos {score:.2f}", fill=(90, 90, 90), font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
