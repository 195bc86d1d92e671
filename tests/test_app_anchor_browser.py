"""The anchor source in a real headless Chromium: a sentence's anchor, then a picture's by the mapper, then a
picture projected (the reconstruction streams in; the original and the reconstruction side by side with the PSNR),
each followed by a traversal that starts from it, and the projected one edited in the Edit tab. Screenshots in
test-artifacts/."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from .app_server import ROOT, running_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (tools/test.sh installs it)")


def wait_text(page, selector: str, text: str, timeout: int = 30_000) -> None:
    page.wait_for_function(f"() => (document.querySelector({selector!r})?.innerText || '').includes({text!r})",
                           timeout=timeout)


def test_sentence_and_picture_anchors_drive_the_traversal(tmp_path_factory, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    picture = Image.new("RGB", (240, 180), (30, 30, 30))
    ImageDraw.Draw(picture).rectangle([90, 50, 150, 110], fill=(40, 80, 230))
    picture.save(tmp_path / "square.png")
    with running_app(tmp_path_factory.mktemp("anchor-browser")) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url)
        page.wait_for_selector("#traverse", timeout=30_000)
        page.get_by_text("Anchor: start from a seed, a sentence or your picture").click()
        page.get_by_label("a sentence").check()
        page.fill("#anchor-sentence textarea, #anchor-sentence input", "a large red circle on the left")
        page.click("#anchor-map-text")
        wait_text(page, "#anchor-note", "Anchor from")
        page.click("#traverse")
        wait_text(page, "#explore-status", "from your anchor")
        page.get_by_label("my picture").check()
        page.get_by_label("mapper: instant, semantic").check()
        page.set_input_files("#anchor-upload input[type=file]", str(tmp_path / "square.png"))
        wait_text(page, "#anchor-note", "CLIP similarity")
        page.click("#traverse")
        wait_text(page, "#explore-status", "from your anchor")
        anchor = page.input_value("#anchor-id textarea, #anchor-id input")
        strip = page.wait_for_selector(f"#strip img[src*='anchor-{anchor[:8]}']", timeout=30_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=strip, timeout=10_000)
        page.screenshot(path=ARTIFACTS / "explore_anchor.png", full_page=True)

        # your picture, projected: a held-out Shapes render stands in for a photo (its truth is known)
        page.get_by_label("projection: faithful (seconds to minutes)").check()
        page.click("#anchor-upload button[aria-label='Clear']")  # a second picture: the first one cleared
        page.set_input_files("#anchor-upload input[type=file]", str(shapes_render(tmp_path)))
        wait_text(page, "#anchor-note", "Projecting")  # the progress and the time left stream in
        wait_text(page, "#anchor-note", "faithful", timeout=120_000)
        note = page.inner_text("#anchor-note")
        assert float(note.split("PSNR ")[1].split(" dB")[0]) >= 30, note
        for side in ("#anchor-original", "#anchor-reconstruction"):
            img = page.wait_for_selector(f"{side} img", timeout=10_000)
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img, timeout=10_000)
        projected = page.input_value("#anchor-id textarea, #anchor-id input")
        assert projected and projected != anchor
        page.screenshot(path=ARTIFACTS / "explore_photo.png", full_page=True)
        page.click("#traverse")
        page.wait_for_selector(f"#strip img[src*='anchor-{projected[:8]}']", timeout=30_000)
        page.get_by_role("tab", name="Edit by a sentence").click()
        page.wait_for_function(f"() => (document.querySelector('#edit-anchor textarea, #edit-anchor input')?.value"
                               f" || '') === {projected!r}", timeout=10_000)
        page.fill("#edit-sentence textarea, #edit-sentence input", "a red square")
        page.click("#edit-button")
        wait_text(page, "#edit-status", "your anchor", timeout=30_000)
        page.screenshot(path=ARTIFACTS / "edit_photo.png", full_page=True)
        browser.close()


def shapes_render(folder: Path) -> Path:
    import torch

    from contraclip_core.generators import from_pretrained

    g = from_pretrained("shapes-128")
    with torch.no_grad():
        image = g.synthesis(g.encode(g.sample_z([3_000_777]), "w"), "w")[0]
    Image.fromarray(((image.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()).save(
        folder / "render.png")
    return folder / "render.png"


def test_a_face_photo_through_an_e4e_checkpoint(tmp_path_factory, tmp_path, e4e_checkpoint_file):
    """An e4e checkpoint added with --generator (the fixture: random weights, a 32-px decoder) offers its encoder in
    the panel; the astronaut (scikit-image, public domain) is aligned as FFHQ's faces and encoded in one pass (that a
    projection then starts from the encoder's code is tests/test_photo.py's). Random weights reconstruct nothing well:
    what is checked is the flow."""
    from playwright.sync_api import sync_playwright
    from skimage import data as skimage_data

    Image.fromarray(skimage_data.astronaut()).save(tmp_path / "astronaut.png")
    args = ("--generator", str(e4e_checkpoint_file), "--clip", "shapes-clip")
    with running_app(tmp_path_factory.mktemp("face-browser"), timeout=120, args=args) as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url)
        page.wait_for_selector("#traverse", timeout=30_000)
        page.click("#generator-picker input")
        page.get_by_role("option", name="e4e_tiny_encode").first.click()
        page.get_by_text("Anchor: start from a seed, a sentence or your picture").click()
        page.get_by_label("my picture").check()
        page.get_by_label("encoder (e4e / pSp): one pass").check()  # offered: the checkpoint holds one
        page.get_by_label("Align the face first (as FFHQ's faces)").check()
        page.set_input_files("#anchor-upload input[type=file]", str(tmp_path / "astronaut.png"))
        wait_text(page, "#anchor-note", "Encoded in one pass", timeout=60_000)
        assert "aligned as FFHQ" in page.inner_text("#anchor-note")
        assert page.input_value("#anchor-id textarea, #anchor-id input")
        for side in ("#anchor-original", "#anchor-reconstruction"):
            img = page.wait_for_selector(f"{side} img", timeout=10_000)
            page.wait_for_function("img => img.complete && img.naturalWidth == 32", arg=img, timeout=10_000)
        page.screenshot(path=ARTIFACTS / "explore_face_photo.png", full_page=True)
        browser.close()
