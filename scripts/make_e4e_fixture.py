"""Make tests/fixtures/e4e_tiny.*: the authors' e4e / pSp encoders run on seeded weights (see tests/e4e_recipe.py).

Run from the project root, with the authors' ``models/`` folder of github.com/omertov/encoder4editing at
``E4E`` (``git archive <commit> models | tar -x -C E4E``)::

    python scripts/make_e4e_fixture.py --e4e E4E --commit <their commit hash>

Their ``models/stylegan2/op`` compiles CUDA kernels when imported (``torch.utils.cpp_extension.load``). That call is
replaced, for the import only, by a stand-in that builds nothing; then the two ops are pointed at pure-PyTorch code:
``upfirdn2d`` at their own ``upfirdn2d_native`` (called with the reshapes of their ``UpFirDn2d.forward``; their file
uses ``F.pad`` without importing ``torch.nn.functional as F``, so ``F`` is added to its namespace), and
``fused_leaky_relu`` at ``leaky_relu(x + bias, negative_slope) · scale`` (what their CUDA kernel computes, act 3).
The encoders use neither op (their ``EqualLinear`` has no activation); the decoder uses both.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e4e_recipe import checksum, realise, spec  # noqa: E402

STYLEGAN_SIZE = 32  # 8 style inputs: 3 coarse heads, 4 middle, 1 fine — every level of the encoder
BATCH, INPUT = 2, 256  # batch of the 64-px inputs; e4e's input size


def import_theirs(e4e: Path):
    """Import their encoders and generator with the CUDA ops replaced by pure PyTorch (see the module docstring)."""
    import torch.utils.cpp_extension as cpp

    sys.path.insert(0, str(e4e))
    real_load = cpp.load
    cpp.load = lambda *a, **k: types.SimpleNamespace()  # never called afterwards: every op is replaced below
    try:
        from models.stylegan2 import op
    finally:
        cpp.load = real_load
    fused_act = sys.modules["models.stylegan2.op.fused_act"]
    upfirdn2d_module = sys.modules["models.stylegan2.op.upfirdn2d"]  # (the package's `upfirdn2d` is the function)
    upfirdn2d_module.F = F  # their upfirdn2d_native uses F.pad but that file never imports torch.nn.functional

    def fused_leaky_relu(input, bias, negative_slope=0.2, scale=2 ** 0.5):
        rest = [1] * (input.ndim - 2)
        return F.leaky_relu(input + bias.view(1, bias.shape[0], *rest), negative_slope=negative_slope) * scale

    def upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):
        batch, channel, in_h, in_w = input.shape
        kernel_h, kernel_w = kernel.shape
        out_h = (in_h * up + pad[0] + pad[1] - kernel_h) // down + 1
        out_w = (in_w * up + pad[0] + pad[1] - kernel_w) // down + 1
        out = upfirdn2d_module.upfirdn2d_native(input.reshape(-1, in_h, in_w, 1), kernel, up, up, down, down,
                                                pad[0], pad[1], pad[0], pad[1])
        return out.view(-1, channel, out_h, out_w)

    fused_act.fused_leaky_relu = op.fused_leaky_relu = fused_leaky_relu
    upfirdn2d_module.upfirdn2d = op.upfirdn2d = upfirdn2d
    from models.encoders import psp_encoders
    from models.stylegan2.model import Generator

    return psp_encoders, Generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e4e", type=Path, required=True, help="folder holding their models/ package")
    parser.add_argument("--commit", required=True, help="their commit hash, recorded in the recipe")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    args = parser.parse_args()
    psp_encoders, Generator = import_theirs(args.e4e)
    torch.set_grad_enabled(False)

    opts = argparse.Namespace(stylegan_size=STYLEGAN_SIZE, encoder_type="Encoder4Editing", start_from_latent_avg=True)
    e4e = psp_encoders.Encoder4Editing(50, "ir_se", opts).eval()
    psp = psp_encoders.GradualStyleEncoder(50, "ir_se", opts).eval()
    decoder = Generator(STYLEGAN_SIZE, 512, 8, channel_multiplier=2).eval()  # as pSp.__init__ builds it
    style_count = e4e.style_count

    ours = {f"encoder.{k}": v for k, v in e4e.state_dict().items()}
    ours |= {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    ours["latent_avg"] = torch.zeros(style_count, 512)  # pSp's latent_avg, repeated per style input
    recipe = {
        "made_with": {"repository": "https://github.com/omertov/encoder4editing", "commit": args.commit,
                      "torch": torch.__version__, "script": "scripts/make_e4e_fixture.py"},
        "opts": {"stylegan_size": STYLEGAN_SIZE, "encoder_type": "Encoder4Editing", "start_from_latent_avg": True,
                 "dataset_type": "ffhq_encode"},
        "tensors": [spec(k, v) for k, v in ours.items()],
    }
    state = realise(recipe)
    recipe["checksum"] = checksum(state)
    encoder_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    e4e.load_state_dict(encoder_state, strict=True)
    psp.load_state_dict(encoder_state, strict=True)  # the same modules: pSp's encoder has e4e's keys
    decoder.load_state_dict({k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")},
                            strict=True)
    latent_avg = state["latent_avg"]

    g = torch.Generator().manual_seed(7)
    x = torch.rand(1, 3, INPUT, INPUT, generator=g) * 2 - 1  # one image at e4e's input size
    x64 = torch.rand(BATCH, 3, 64, 64, generator=g) * 2 - 1  # a batch at a size the tests run quickly
    # pSp.forward with start_from_latent_avg: codes + latent_avg.repeat(B, 1, 1)
    io = {"x": x, "x64": x64, "latent_avg": latent_avg}
    io["e4e_wplus"] = e4e(x) + latent_avg.repeat(1, 1, 1)
    io["e4e_wplus_x64"] = e4e(x64) + latent_avg.repeat(BATCH, 1, 1)
    io["psp_wplus_x64"] = psp(x64) + latent_avg.repeat(BATCH, 1, 1)
    # The decoder as pSp.forward calls it (input_is_latent), with its fixed noise buffers instead of fresh noise.
    io["decoder_img"], _ = decoder([io["e4e_wplus_x64"]], input_is_latent=True, randomize_noise=False)
    io = {k: v.contiguous() for k, v in io.items()}

    from safetensors.torch import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    save_file(io, str(args.out / "e4e_tiny.io.safetensors"))
    (args.out / "e4e_tiny.recipe.json").write_text(json.dumps(recipe, indent=0) + "\n")
    n = sum(t.numel() for t in state.values())
    print(f"{len(state)} tensors, {n / 1e6:.1f} M values ({n * 4 / 2**20:.0f} MiB in fp32), style inputs "
          f"{style_count}")
    print(f"|e4e W+| max {io['e4e_wplus'].abs().max():.3g}, |pSp W+| max {io['psp_wplus_x64'].abs().max():.3g}, "
          f"|image| max {io['decoder_img'].abs().max():.3g}; checksum {recipe['checksum']:.6f}")
    assert all(math.isfinite(v.abs().max().item()) for v in io.values())


if __name__ == "__main__":
    main()
