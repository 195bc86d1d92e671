"""Traversal: Euler steps both ways, rendering, strips, GIF and MP4 — on a hand-made path with known behaviour."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from contraclip_core.methods.contraclip.model import LatentSupportSets, LinearPaths
from contraclip_core.methods.contraclip.artefact import PathSet
from contraclip_core.methods.contraclip.traversal import euler_path, traverse
from contraclip_core.media import gif_frames, save_gif, save_mp4, strip


@pytest.fixture(scope="module")
def leftward(shapes_generator) -> PathSet:
    """A linear path along the direction in W that decreases x fastest (the gradient of x w.r.t. w)."""
    w = shapes_generator.encode(shapes_generator.sample_z(list(range(256))), "w").requires_grad_(True)
    (grad,) = torch.autograd.grad(shapes_generator.attributes(w, "w")["x"].sum(), w)
    lin = LinearPaths(1, 32)
    with torch.no_grad():
        lin.directions[0] = -grad.mean(0)
    return PathSet(lss=lin, dipoles=[("a shape on the left", "a shape on the right")], generator="shapes-128",
                   space="w", layers=0, truncation=1.0, latent_shape=(32,))


def test_positive_steps_go_toward_the_first_sentence(shapes_generator, leftward):
    t = traverse(shapes_generator, leftward, 0, seeds=[0, 1, 2], steps=4, step_size=0.5)
    assert t.steps == [-4, -3, -2, -1, 0, 1, 2, 3, 4] and t.images.shape == (3, 9, 128, 128, 3)
    x = shapes_generator.attributes(t.latents.reshape(27, 32), "w")["x"].reshape(3, 9)
    assert (x.diff(dim=1) < 0).all()  # every step moves left: toward "a shape on the left"
    # The anchor column is the seed's own image.
    anchor = shapes_generator.synthesis(shapes_generator.encode(shapes_generator.sample_z([1]), "w"), "w")
    assert np.abs(t.images[1, 4].astype(int) - ((anchor[0].permute(1, 2, 0) + 1) * 127.5).round().numpy()).max() <= 1


def test_euler_integration_each_step_once():
    lss = LatentSupportSets(1, 2, 3, radii=[2.0], seed=0)
    anchor = torch.randn(2, 3)
    path = euler_path(lss, anchor, 0, steps=3, step_size=0.1)
    assert path.shape == (2, 7, 3) and torch.equal(path[:, 3], anchor)
    k = torch.zeros(2, dtype=torch.long)
    assert torch.allclose(path[:, 4], anchor + 0.1 * lss.direction(anchor, k))
    assert torch.allclose(path[:, 2], anchor - 0.1 * lss.direction(anchor, k))
    assert torch.allclose(path[:, 5], path[:, 4] + 0.1 * lss.direction(path[:, 4], k))
    step_lengths = path.diff(dim=1).norm(dim=-1)
    assert torch.allclose(step_lengths, torch.full_like(step_lengths, 0.1), atol=1e-5)  # no doubled last shift


def test_strip_gif_and_mp4(shapes_generator, leftward, tmp_path):
    t = traverse(shapes_generator, leftward, 0, seeds=[5, 6], steps=3, step_size=0.5)
    image = strip(t, thumb=64)
    assert image.size == (7 * 64 + 6 * 2, 2 * 64 + 2)
    frames = gif_frames(t, thumb=64)
    assert len(frames) == 2 * (7 - 1)  # anchor → +T → −T → back, every step once per sweep
    assert all(f.mean() > 10 for f in frames)  # no blank (black) frame
    assert not any(np.array_equal(frames[i], frames[i + 1]) for i in range(len(frames) - 1))
    gif = save_gif(t, tmp_path / "t.gif", thumb=64)
    read = iio.imread(gif, index=None)
    assert read.shape[0] == len(frames) and read.shape[1:3] == frames[0].shape[:2]
    mp4 = save_mp4(t, tmp_path / "t.mp4", thumb=64)
    assert mp4.stat().st_size > 1000 and mp4.read_bytes()[4:8] == b"ftyp"


def test_bad_path_index(shapes_generator, leftward):
    with pytest.raises(ValueError, match="path index 3 is out of range: this set has 1 paths"):
        traverse(shapes_generator, leftward, 3, seeds=[0])
