"""The projection's command line: ``python -m contraclip_core project``.

  python -m contraclip_core project --generator shapes-128 --image photo.png --out code.pt
  python -m contraclip_core project --generator shapes-128 --image photo.png --out code.safetensors --perceptual 0.1

Writes the code (``.pt``: a dict of tensors and strings, readable with ``torch.load(weights_only=True)``;
``.safetensors``: the app's anchor layout, ``latent`` with the generator and space in the metadata) and its
re-render beside it (``<out>.png``), and prints the PSNR. Starts from the best shipped mapper's guess when the
generator has one (``--no-mapper``: from the mean code).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ...clip import add_clip_argument
from ...method import Guess
from .train import ProjectionConfig

DEFAULTS = ProjectionConfig()


def add_commands(sub: argparse._SubParsersAction, guesses: Sequence[Guess] = ()) -> None:
    """``project``; ``guesses``: the registry's first guesses (the mappers'), tried in order for the start."""
    p = sub.add_parser("project", help="find the latent code whose render reproduces a picture (faithful inversion)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="shapes-128", help="registry name or folder of the generator")
    p.add_argument("--image", required=True, help="the picture (PNG, JPEG, WebP, GIF, BMP); centre-cropped, resized")
    p.add_argument("--out", required=True, help="where the code goes: a .pt or .safetensors file")
    p.add_argument("--space", default=None, help="w+, w or z (default: W+ where the generator has it, else W)")
    p.add_argument("--steps", type=int, default=DEFAULTS.steps, help="refinement steps at full resolution")
    p.add_argument("--search-steps", type=int, default=DEFAULTS.search_steps, help="multi-start search steps")
    p.add_argument("--starts", type=int, default=DEFAULTS.starts, help="codes per picture in the search")
    p.add_argument("--lr", type=float, default=DEFAULTS.lr, help="refinement learning rate (× prior std)")
    p.add_argument("--perceptual", type=float, default=None,
                   help="weight of the CLIP feature loss (default: on for generators whose CLIP is on the machine)")
    p.add_argument("--lpips", type=float, default=0.0,
                   help="weight of LPIPS (VGG16; needs torchvision's vgg16-397923af.pth in torch hub's cache, at "
                        "$CONTRACLIP_LPIPS_VGG, or a reachable download.pytorch.org)")
    p.add_argument("--noise", action="store_true", help="also optimise StyleGAN2's per-layer noise maps")
    p.add_argument("--no-mapper", action="store_true", help="start from the mean code, not a mapper's guess")
    p.add_argument("--seed", type=int, default=0)
    add_clip_argument(p)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=lambda args: _project(args, guesses))


def _project(args: argparse.Namespace, guesses: Sequence[Guess]) -> int:
    from .artefact import save_code
    from .service import load_generator_and_clip, start_for
    from .train import Projector, load_picture, updates

    out = Path(args.out)
    if out.suffix not in (".pt", ".safetensors"):
        raise ValueError(f"--out must end in .pt or .safetensors, got {out.name!r}")
    generator, clip = load_generator_and_clip(args.generator, args.clip, args.device)
    picture = load_picture(args.image, generator).to(generator.device)
    perceptual = args.perceptual if args.perceptual is not None else (0.1 if clip is not None else 0.0)
    config = ProjectionConfig(space=args.space, steps=args.steps, search_steps=args.search_steps, starts=args.starts,
                              lr=args.lr, perceptual=perceptual, lpips=args.lpips, noise=args.noise,
                              seed=args.seed)
    space = args.space or None
    start, note = (None, "the mean code") if args.no_mapper else start_for(generator, args.generator, picture,
                                                                             guesses, space)
    print(f"starting from {note}; perceptual loss: {'CLIP ×' + str(perceptual) if perceptual else 'off'}; "
          f"LPIPS: {'×' + str(args.lpips) if args.lpips else 'off (--lpips W turns it on)'}")
    projector = Projector(generator, picture, config, start, clip)
    from tqdm import tqdm

    with tqdm(total=projector.total, desc="project", unit="it") as bar:
        for update in updates(projector, preview_every=5):
            bar.update(update.progress.iteration - bar.n)
            bar.set_postfix({"phase": update.phase, "psnr": f"{float(update.psnr_db[0]):.1f} dB"})
            result = update.result
    save_code(result, out, args.generator)
    print(f"{out} ({result.space} code), {out.with_suffix('.png')}: PSNR {float(result.psnr_db[0]):.2f} dB in "
          f"{result.seconds:.1f} s")
    return 0
