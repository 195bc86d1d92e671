"""Quality of the SHIPPED Shapes mappers on held-out captions and renders (the figures of docs/MAPPERS.md, on
fewer samples): the issue's targets where they were met, and the mapped-text edits against the ContraCLIP bar."""
from __future__ import annotations

import pytest

from contraclip_core.methods.mappers import evaluate as ev
from contraclip_core.methods.mappers.artefact import MapperSet
from contraclip_core.methods.contraclip.artefact import PathSet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def shipped(g, objective: str) -> MapperSet:
    return MapperSet.from_pretrained(f"shapes-128/shapes-{objective}", g, generator_name="shapes-128")


# CSLA: the targets (met); CLIP2GAN misses them (73% / 66%): its bounds only guard against regressions.
@pytest.mark.parametrize("objective, target", [("csla", 0.8), ("clip2gan", 0.6)])
def test_text_to_image_names_are_met(shapes_world, objective, target):
    g, clip = shapes_world
    r = ev.text_to_image(g, clip, shipped(g, objective), n=64, samples=1)
    assert r["accuracy"] >= target, r


@pytest.mark.parametrize("objective, target", [("csla", 0.9), ("clip2gan", 0.6)])
def test_inversion_recovers_every_factor(shapes_world, objective, target):
    g, clip = shapes_world
    r = ev.inversion(g, clip, shipped(g, objective), n=64)
    assert min(r["per_factor"].values()) >= target, r
    assert r["psnr_db"] > 15


def test_mapped_text_edits_move_their_target(shapes_world):
    g, clip = shapes_world
    path_set = PathSet.from_pretrained("shapes-128/shapes-corpus", g)
    for row in ev.edits(g, clip, shipped(g, "csla"), path_set, seeds=range(16)):
        rho, change, off, _ = row["mapper_latent"]
        assert rho >= 0.9 and change >= 1.0 and off < change, row
