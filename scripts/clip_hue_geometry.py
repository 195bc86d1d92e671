"""Does the tiny Shapes CLIP see hue as a circle? Prints, for a few prior images each drawn at every 15° of hue, the
image-embedding cosine of each image to itself at a reference hue (mean over images), and the text similarities of
the colour prompts — the evidence docs/PATHS.md gives for why a hue path's negative half has no CLIP signal toward
the first colour's opposite hue (issue 29 item 3).

    python scripts/clip_hue_geometry.py               # 48 images, references 0°, 60°, 120°
"""
from __future__ import annotations

import argparse
import datetime
import math
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contraclip_core.clip import cached_text_embeddings, load_clip  # noqa: E402
from contraclip_core.generators import from_pretrained  # noqa: E402
from contraclip_core.methods.contraclip import pae, pae_corpora  # noqa: E402


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7000, help="first prior seed of the images")
    parser.add_argument("--references", type=float, nargs="+", default=[0.0, 60.0, 120.0])
    args = parser.parse_args()
    torch.set_num_threads(2)
    g, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    print(f"{datetime.date.today()} · {platform.machine()} · {platform.processor() or 'cpu'} · torch {torch.__version__}")
    attrs = g.attributes(g.encode(g.sample_z(list(range(args.seed, args.seed + args.images))), "w"), "w")
    hues = [15.0 * k for k in range(24)]
    embedded = []
    for h in hues:  # the same images, every attribute kept but the hue (saturation at least 0.6: a visible hue)
        drawn = {k: v.clone() for k, v in attrs.items()}
        drawn["hue"] = torch.full_like(drawn["hue"], math.radians(h))
        drawn["saturation"] = drawn["saturation"].clamp_min(0.6)
        embedded.append(pae.unit(clip.encode_images(g.render(drawn)).float()))
    e = torch.stack(embedded)  # (hues, images, E)
    for ref in args.references:
        i = hues.index(ref)
        cos = (e * e[i : i + 1]).sum(-1).mean(1)
        print(f"image cos to itself at {ref:.0f}°: " + " ".join(f"{h:.0f}:{float(c):.2f}" for h, c in zip(hues, cos)))
    prompts = pae_corpora.families("shapes")["colour"]
    t = pae.unit(cached_text_embeddings(clip, prompts).float())
    sim = t @ t.t()
    print("text cosine of the colour prompts:")
    for a, row in zip(prompts, sim):
        print(f"  {a:16s} " + " ".join(f"{float(x):5.2f}" for x in row))


if __name__ == "__main__":
    main()
