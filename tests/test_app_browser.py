"""The app in a real headless Chromium (system package, driven by Playwright), on a desktop (1440×900) and a phone
(390×844) viewport: examples, traverse, download, scrub, large view, train with progress, cancel and delete with
confirmation, pick; the phone layout stacks what sits side by side on a desktop.

Screenshots of each step are saved under test-artifacts/ for people to look at.
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
DESKTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (tools/test.sh installs it)")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(browser, url): one app and one Chromium for the module."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    # a Hub path-set repo in a local HF cache (the app runs offline): its sets are listed beside the shipped ones
    cache = hub_path_repo(tmp_path_factory.mktemp("hf-cache"), "someone/paths",
                          {"shapes-128/from-the-hub": SHIPPED_SHAPES_PATHS})
    env = {"HF_HUB_CACHE": str(cache), "CONTRACLIP_PATHS_REPO": "someone/paths"}
    with running_app(tmp_path_factory.mktemp("browser-data"), env=env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser, url
        browser.close()


def open_page(app, viewport):
    browser, url = app
    page = browser.new_page(viewport=viewport, accept_downloads=True)
    page.goto(url)
    page.wait_for_selector("#traverse", timeout=30_000)
    return page


@pytest.fixture(scope="module")
def page(app):
    page = open_page(app, DESKTOP)
    yield page
    page.close()


def wait_for_status(page, text: str, timeout: int = 30_000) -> None:
    page.wait_for_function("t => document.querySelector('#explore-status').innerText.includes(t)", arg=text,
                           timeout=timeout)


def test_on_a_desktop_the_pickers_sit_side_by_side(page):
    gen, path = box(page, "#generator-picker"), box(page, "#path-picker")
    assert abs(gen["y"] - path["y"]) < 2 and path["x"] > gen["x"] + gen["width"] - 1


def test_the_first_screen_offers_examples_and_one_click_gives_a_result(page):
    example = page.get_by_role("button", name="a circle ↔ a square · seeds 4-5")
    box = example.bounding_box()
    assert box is not None and box["y"] + box["height"] <= DESKTOP["height"]  # on the first screen, no scrolling
    natural, _ = natural_and_shown(page, "#gif img[src*='example.gif']")  # a result before any click
    assert natural >= 256 and "rendered ahead of time" in page.inner_text("#explore-status")
    page.screenshot(path=ARTIFACTS / "explore-first-screen.png")
    example.click()
    wait_for_status(page, "a circle ↔ a square")
    assert "seeds 4, 5" in page.inner_text("#explore-status")
    assert page.input_value("#seeds textarea, #seeds input") == "4-5"
    assert page.input_value("#path-picker input") == "a circle ↔ a square  [shipped]"  # not reset by the example
    page.wait_for_selector("#gif img[src*='.gif']", timeout=10_000)


def test_traverse_shows_the_gif_and_downloads_it(page, tmp_path):
    page.fill("#seeds textarea, #seeds input", "0, 1")
    page.click("#traverse")
    wait_for_status(page, "seeds 0, 1 ·")
    gif = page.wait_for_selector("#gif img[src*='seeds-0-1']", timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=gif, timeout=10_000)
    assert page.evaluate("img => img.naturalWidth", gif) >= 256
    page.wait_for_selector("#strip img[src*='.png']", timeout=10_000)
    page.screenshot(path=ARTIFACTS / "explore.png", full_page=True)
    with page.expect_download(timeout=20_000) as info:
        page.click("#download-gif")
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    assert target.suffix == ".gif" and target.read_bytes()[:6] == b"GIF89a"
    assert "shapes-128" in target.name


def natural_and_shown(page, selector: str) -> tuple[int, int]:
    img = page.wait_for_selector(selector, timeout=10_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img, timeout=10_000)
    return page.evaluate("img => [img.naturalWidth, Math.round(img.getBoundingClientRect().width)]", img)


def test_the_slider_scrubs_the_traversal_and_the_large_view_is_native(page):
    # after the last traversal (seeds 0, 1; 8 steps each way): one frame per step, step 0 first
    page.wait_for_selector("#frame img[src*='_stepp00']", timeout=10_000)
    slider = page.locator("#frame-step input[type=range]")
    assert slider.get_attribute("min") == "-8" and slider.get_attribute("max") == "8"
    for step, name in (("5", "p05"), ("-8", "m08")):
        slider.fill(step)
        page.wait_for_selector(f"#frame img[src*='_step{name}']", timeout=10_000)
    natural, shown = natural_and_shown(page, "#frame img")
    assert natural == 2 * 128 + 2  # both seeds side by side at the generator's resolution
    strip_natural, strip_shown = natural_and_shown(page, "#strip img")
    assert strip_natural == 17 * 128 + 16 * 2 and strip_shown < strip_natural  # 17 steps: scaled down to fit
    page.get_by_label("Large view").check()
    page.wait_for_function("() => document.querySelector('gradio-app').classList.contains('large-view')")
    for selector in ("#strip img", "#gif img", "#frame img"):
        natural, shown = natural_and_shown(page, selector)
        assert shown == natural, selector  # native resolution, one image pixel per CSS pixel
    page.screenshot(path=ARTIFACTS / "explore-large-view.png", full_page=True)
    page.get_by_label("Large view").uncheck()
    assert natural_and_shown(page, "#strip img")[1] < strip_natural


def pick_and_traverse(page, label: str, origin: str) -> None:
    """Choose the path “label [origin]” in the Explore picker, traverse it, wait for its status line."""
    if not page.get_by_role("option").first.is_visible():
        page.click("#path-picker input")
    option = page.get_by_role("option", name=f"{label} [{origin}]")
    option.wait_for(timeout=10_000)
    option.click()
    page.click("#traverse")
    wait_for_status(page, label)


def test_the_picker_lists_shipped_and_hub_paths_marked_by_origin(page):
    page.click("#path-picker input")
    page.get_by_role("option", name="a red shape ↔ a blue shape [shipped]").wait_for(timeout=10_000)
    page.get_by_role("option", name="a triangle ↔ a circle [shipped]").wait_for(timeout=10_000)
    pick_and_traverse(page, "a large shape ↔ a small shape", "Hub")


def test_bad_seed_shows_a_message(page):
    page.fill("#seeds textarea, #seeds input", "not a seed")
    page.click("#traverse")
    wait_for_status(page, "not a whole number", timeout=15_000)
    page.fill("#seeds textarea, #seeds input", "0")


def card(page, sentences: str):
    return page.locator("#job-cards .job-card", has_text=sentences)


def submit(page, first: str, second: str, iterations: int) -> None:
    page.fill("#first textarea, #first input", first)
    page.fill("#second textarea, #second input", second)
    if not page.get_by_label("Iterations (empty: preset's)").is_visible():
        page.get_by_text("Advanced").click()
    page.get_by_label("Iterations (empty: preset's)").fill(str(iterations))
    page.click("#train-button")
    page.wait_for_function("s => document.querySelector('#train-status').innerText.includes(s)",
                           arg=f"{first} ↔ {second}", timeout=15_000)


def test_training_shows_a_bar_a_human_eta_a_loss_curve_and_a_preview_and_cancels_after_confirmation(page):
    page.get_by_role("tab", name="Train").click()
    submit(page, "a bright shape", "a dark shape", 5000)
    job = card(page, "a bright shape ↔ a dark shape")
    job.locator(".job-bar").wait_for(timeout=10_000)
    page.wait_for_selector("#preview img", timeout=60_000)  # the live preview, before training is far along
    job.locator("svg.loss-curve polyline").wait_for(timeout=60_000)
    page.wait_for_function("() => (document.querySelector('#job-cards svg.loss-curve polyline')"
                           "?.getAttribute('points') || '').split(' ').length >= 4", timeout=60_000)
    summary = job.locator(".job-summary").inner_text()
    assert "of 5000 · about" in summary and " left" in summary, summary
    assert job.get_attribute("data-status") == "running"
    page.screenshot(path=ARTIFACTS / "train.png", full_page=True)
    # cancel from the picker of jobs, with a confirmation first
    assert "a bright shape ↔ a dark shape" in page.input_value("#job-pick input")
    page.click("#cancel-job")
    page.wait_for_selector("#yes-cancel", state="visible", timeout=10_000)
    assert "Cancel job “a bright shape ↔ a dark shape” (running" in page.inner_text("#confirm-cancel")
    assert job.get_attribute("data-status") == "running"  # nothing happens before the confirmation
    page.screenshot(path=ARTIFACTS / "train-confirm-cancel.png", full_page=True)
    page.click("#yes-cancel")
    page.wait_for_selector("#confirm-cancel", state="hidden", timeout=10_000)
    page.wait_for_function("() => document.querySelector(\"#job-cards .job-card[data-status='cancelled']\")",
                           timeout=60_000)


def test_train_in_background_pick_a_job_by_its_row_delete_one_and_the_path_appears(page):
    page.get_by_role("tab", name="Train").click()
    submit(page, "a triangle", "a square", 30)
    card(page, "a triangle ↔ a square").and_(page.locator("[data-status='done']")).wait_for(timeout=180_000)
    assert "done · 30 iterations" in card(page, "a triangle ↔ a square").inner_text()
    page.screenshot(path=ARTIFACTS / "train-done.png", full_page=True)
    # a job's row in the table picks it for cancel/delete (the picker stayed on the cancelled job)
    assert page.input_value("#job-pick input").startswith("cancelled · a bright shape ↔ a dark shape")
    page.get_by_text("All jobs as a table").click()
    table = page.locator("#jobs")
    table.get_by_text("a triangle ↔ a square").last.click()  # (the first is Gradio's hidden copy)
    page.wait_for_function("() => document.querySelector('#job-pick input').value.startsWith('done · a triangle')",
                           timeout=10_000)
    table.get_by_text("a bright shape ↔ a dark shape").last.click()
    page.wait_for_function("() => document.querySelector('#job-pick input').value.startsWith('cancelled · a bright')",
                           timeout=10_000)
    # delete the cancelled job: “No” keeps it, “Yes” removes its card
    page.click("#delete-job")
    page.click("#keep-path")
    page.wait_for_selector("#confirm-delete", state="hidden", timeout=10_000)
    assert card(page, "a bright shape ↔ a dark shape").count() == 1
    page.click("#delete-job")
    page.wait_for_selector("#yes-delete", state="visible", timeout=10_000)
    assert "Delete job “a bright shape ↔ a dark shape” (cancelled" in page.inner_text("#confirm-delete")
    page.click("#yes-delete")
    page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('Deleted job')",
                           timeout=15_000)
    card(page, "a bright shape ↔ a dark shape").wait_for(state="detached", timeout=10_000)
    assert card(page, "a triangle ↔ a square").count() == 1
    page.get_by_role("tab", name="Explore").click()
    pick_and_traverse(page, "a triangle ↔ a square", "trained here")
    page.screenshot(path=ARTIFACTS / "explore-trained.png", full_page=True)


def box(page, selector: str) -> dict:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, selector
    return b


def test_on_a_phone_pickers_stack_texts_fit_and_results_use_the_full_width(app):
    page = open_page(app, PHONE)
    try:
        example = box(page, "#examples button")  # the one-click examples are on a phone's first screen too
        assert example["y"] + example["height"] <= PHONE["height"]
        gen, path = box(page, "#generator-picker"), box(page, "#path-picker")
        assert path["y"] >= gen["y"] + gen["height"] - 1  # stacked, not side by side
        assert gen["width"] > 0.8 * PHONE["width"] and path["width"] > 0.8 * PHONE["width"]
        for picker in page.locator("#pickers .secondary-wrap").all():  # the text never runs under the arrow
            text_right, arrow_left = picker.evaluate(
                "w => { const i = w.querySelector('input'), s = getComputedStyle(i);"
                " return [i.getBoundingClientRect().right - parseFloat(s.paddingRight),"
                " w.querySelector('.icon-wrap').getBoundingClientRect().left]; }")
            assert text_right <= arrow_left + 0.5
        path_input = page.locator("#path-picker input")
        assert path_input.evaluate("i => i.scrollWidth <= i.clientWidth"), "the path's label is cut"
        page.screenshot(path=ARTIFACTS / "phone-first-screen.png")
        page.get_by_role("button", name="a red shape ↔ a blue shape · seeds 0, 1, 2").click()
        wait_for_status(page, "rendered in")  # (not the first screen's “rendered ahead of time”)
        page.wait_for_selector("#gif img[src*='seeds-0-1-2']", timeout=10_000)
        page.wait_for_selector("#strip img[src*='seeds-0-1-2']", timeout=10_000)
        results = box(page, "#results")
        for selector in ("#gif", "#strip"):
            assert box(page, selector)["width"] >= results["width"] - 40, selector  # full width, one above the other
        assert box(page, "#strip")["y"] > box(page, "#gif")["y"]
        page.screenshot(path=ARTIFACTS / "phone-explore.png", full_page=True)
        page.get_by_role("tab", name="Train").click()
        page.locator("#job-cards .job-card, #job-cards .job-card-empty").first.wait_for(timeout=10_000)
        page.screenshot(path=ARTIFACTS / "phone-train.png", full_page=True)
    finally:
        page.close()
