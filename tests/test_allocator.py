"""allocator.tune: freed large blocks are kept for reuse, so a second StyleGAN2 image does not page-fault its
activations in again — measured as minor page faults in a fresh process (the setting is process-wide)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, resource, sys
import torch
from contraclip_core import allocator
from contraclip_core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
if sys.argv[1] == "tune":
    allocator.tune()
torch.manual_seed(0)
g = StyleGAN2Generator(StyleGAN2Config(size=256, style_dim=512, n_mlp=8, channel_multiplier=2)).eval()
w = g.encode(g.sample_z([0]), "w", 1.0)
faults = []
with torch.no_grad():
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        g.synthesis(w, "w")
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults": faults}))
"""


def _faults(mode: str) -> list[int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["faults"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_tuned_malloc_reuses_freed_activations_instead_of_faulting_them_in_again():
    pages = (32 << 20) // 4096  # one 128-channel 256² activation: 8192 pages
    untuned = _faults("default")  # per image; the first one faults everything in either way
    tuned = _faults("tune")
    # glibc's default: the largest activation (33.5 MB, over glibc's 32 MiB ceiling) is mmapped afresh every image
    assert min(untuned[2:]) > pages // 2, untuned
    # tuned: once the heap has settled (an image or two), the previous image's blocks are reused, already resident
    assert min(tuned[2:]) < pages // 10, tuned


def test_the_environment_switch_leaves_glibc_as_it_is(monkeypatch):
    import os

    from contraclip_core import allocator

    env = dict(os.environ, **{allocator.ENV: "default"})
    out = subprocess.run([sys.executable, "-c", "from contraclip_core import allocator; print(allocator.tune())"],
                         capture_output=True, text=True, check=True, env=env)
    assert "glibc defaults" in out.stdout
