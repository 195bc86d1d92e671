"""Make tests/fixtures/stylegan2ada_nvidia_zdim.*: an NVIDIA StyleGAN2-ADA snapshot whose z, mapping layers and w
differ in size (z_dim 24, layer_features 40, w_dim 32), and NVIDIA's outputs for fixed inputs.

Run from the project root, with ``training/``, ``torch_utils/`` and ``dnnlib/`` of github.com/NVlabs/stylegan2-ada-pytorch
at ``NV`` (``git archive <commit> training torch_utils dnnlib | tar -x -C NV``)::

    python scripts/make_nvidia_zdim_fixture.py --nv NV --commit <their commit hash>

NVIDIA's code runs on CPU as is: its custom ops (bias_act, upfirdn2d) take their reference PyTorch paths off CUDA.
``dnnlib.util`` imports ``requests`` (for downloads only), which is stubbed by an empty module when not installed.
The snapshot is pickled as their training loop writes one (``pickle.dump(dict(G_ema=…, augment_pipe=None, …))``), so
the networks are their "persistent" classes carrying their source.
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
NAME = "stylegan2ada_nvidia_zdim"
KWARGS = dict(z_dim=24, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
              mapping_kwargs=dict(num_layers=3, layer_features=40),
              synthesis_kwargs=dict(channel_base=512, channel_max=32, num_fp16_res=0, conv_clamp=256,
                                    architecture="skip"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nv", type=Path, required=True, help="folder holding their training/, torch_utils/, dnnlib/")
    parser.add_argument("--commit", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    args = parser.parse_args()
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
    sys.path.insert(0, str(args.nv))
    import dnnlib
    from training.networks import Generator

    torch.manual_seed(30)
    G = Generator(**KWARGS).eval().requires_grad_(False)
    with torch.no_grad():  # move every parameter and buffer away from its init, so a wrong mapping shows
        for p in G.parameters():  # weights by a tenth of their spread; biases, gains and noise strengths by 0.2
            spread = p.std().item() if p.numel() > 1 else 0.0
            p.add_(torch.randn_like(p) * (0.1 * spread if spread > 0 else 0.2))
        for name, b in G.named_buffers():
            if name.endswith(("noise_const", "w_avg")):
                b.copy_(torch.randn_like(b))

    z = torch.randn(4, KWARGS["z_dim"], generator=torch.Generator().manual_seed(1))
    io = {"z": z, "w_avg": G.mapping.w_avg.clone()}
    with torch.no_grad():
        io["ws"] = G.mapping(z, None)
        io["ws_trunc0.7"] = G.mapping(z, None, truncation_psi=0.7)
        io["img_from_z"] = G.synthesis(io["ws"], noise_mode="const")
        io["img_from_z_trunc0.7"] = G.synthesis(io["ws_trunc0.7"], noise_mode="const")
        io["wplus"] = io["ws"] + 0.5 * torch.randn(io["ws"].shape, generator=torch.Generator().manual_seed(2))
        io["img_from_wplus"] = G.synthesis(io["wplus"], noise_mode="const")
    from safetensors.torch import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    snapshot = dict(G_ema=G, augment_pipe=None, training_set_kwargs=dnnlib.EasyDict(resolution=32))
    with open(args.out / f"{NAME}.pkl", "wb") as f:
        pickle.dump(snapshot, f)
    save_file({k: v.contiguous() for k, v in io.items()}, str(args.out / f"{NAME}.io.safetensors"))
    (args.out / f"{NAME}.config.json").write_text(json.dumps(KWARGS | {"made_with": {
        "repository": "https://github.com/NVlabs/stylegan2-ada-pytorch", "commit": args.commit,
        "torch": torch.__version__, "script": "scripts/make_nvidia_zdim_fixture.py"}}, indent=1) + "\n")
    print({k: tuple(v.shape) for k, v in io.items()}, "|img| max", io["img_from_wplus"].abs().max().item())


if __name__ == "__main__":
    main()
