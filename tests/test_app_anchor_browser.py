"""The anchor source in a real headless Chromium: a sentence's anchor, then a picture's (the upload and its
reconstruction side by side), each followed by a traversal that starts from it. Screenshot in test-artifacts/."""
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
        page.set_input_files("#anchor-upload input[type=file]", str(tmp_path / "square.png"))
        wait_text(page, "#anchor-note", "CLIP similarity")
        page.click("#traverse")
        wait_text(page, "#explore-status", "from your anchor")
        anchor = page.input_value("#anchor-id textarea, #anchor-id input")
        strip = page.wait_for_selector(f"#strip img[src*='anchor-{anchor[:8]}']", timeout=30_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=strip, timeout=10_000)
        page.screenshot(path=ARTIFACTS / "explore_anchor.png", full_page=True)
        browser.close()
