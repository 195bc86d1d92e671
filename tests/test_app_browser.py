"""The app in a real headless Chromium (system package, driven by Playwright): traverse, download, train, pick.

Screenshots of each tab are saved under test-artifacts/ for people to look at.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .app_server import ROOT, running_app
from .conftest import SHIPPED_SHAPES_PATHS, hub_path_repo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (tools/test.sh installs it)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    # a Hub path-set repo in a local HF cache (the app runs offline): its sets are listed beside the shipped ones
    cache = hub_path_repo(tmp_path_factory.mktemp("hf-cache"), "someone/paths",
                          {"shapes-128/from-the-hub": SHIPPED_SHAPES_PATHS})
    env = {"HF_HUB_CACHE": str(cache), "CONTRACLIP_PATHS_REPO": "someone/paths"}
    with running_app(tmp_path_factory.mktemp("browser-data"), env=env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        page.goto(url)
        page.wait_for_selector("#traverse", timeout=30_000)
        yield page
        browser.close()


def test_traverse_shows_the_gif_and_downloads_it(page, tmp_path):
    page.fill("#seeds textarea, #seeds input", "0, 1")
    page.click("#traverse")
    gif = page.wait_for_selector("#gif img[src*='.gif']", timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=gif, timeout=10_000)
    assert page.evaluate("img => img.naturalWidth", gif) >= 256
    page.wait_for_selector("#strip img[src*='.png']", timeout=10_000)
    assert "rendered in" in page.inner_text("#explore-status")
    page.screenshot(path=ARTIFACTS / "explore.png", full_page=True)
    with page.expect_download(timeout=20_000) as info:
        page.click("#download-gif")
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    assert target.suffix == ".gif" and target.read_bytes()[:6] == b"GIF89a"
    assert "shapes-128" in target.name


def pick_and_traverse(page, label: str, origin: str) -> None:
    """Choose the path “label [origin]” in the Explore picker, traverse it, wait for its status line."""
    if not page.get_by_role("option").first.is_visible():
        page.click("#path-picker input")
    option = page.get_by_role("option", name=f"{label} [{origin}]")
    option.wait_for(timeout=10_000)
    option.click()
    page.click("#traverse")
    page.wait_for_function(f"() => document.querySelector('#explore-status').innerText.includes({label!r})",
                           timeout=30_000)


def test_the_picker_lists_shipped_and_hub_paths_marked_by_origin(page):
    page.click("#path-picker input")
    page.get_by_role("option", name="a red shape ↔ a blue shape [shipped]").wait_for(timeout=10_000)
    page.get_by_role("option", name="a triangle ↔ a circle [shipped]").wait_for(timeout=10_000)
    pick_and_traverse(page, "a large shape ↔ a small shape", "Hub")


def test_bad_seed_shows_a_message(page):
    page.fill("#seeds textarea, #seeds input", "not a seed")
    page.click("#traverse")
    page.wait_for_function("() => document.querySelector('#explore-status').innerText.includes('not a whole number')",
                           timeout=15_000)
    page.fill("#seeds textarea, #seeds input", "0")


def test_train_in_background_and_the_path_appears_in_the_picker(page):
    page.get_by_role("tab", name="Train").click()
    page.fill("#first textarea, #first input", "a triangle")
    page.fill("#second textarea, #second input", "a square")
    page.get_by_text("Advanced").click()
    page.get_by_label("Iterations (empty: preset's)").fill("30")
    page.click("#train-button")
    page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('Queued job')",
                           timeout=15_000)
    page.wait_for_function("() => /a triangle ↔ a square[\\s\\S]*done/.test(document.querySelector('#jobs').innerText)",
                           timeout=120_000)
    page.screenshot(path=ARTIFACTS / "train.png", full_page=True)
    page.get_by_role("tab", name="Explore").click()
    pick_and_traverse(page, "a triangle ↔ a square", "trained here")
    page.screenshot(path=ARTIFACTS / "explore-trained.png", full_page=True)
