"""Two strangers in one public app (``app.py --public``), each in a Chromium browser context of their own (own
localStorage, own cookies): A trains a tiny job whose first sentence is written as Markdown; B's Train tab does not
show it; A reloads the page and still sees it (the token the browser keeps survived); the sentence shows as text in
every status, confirmation and note, and no request ever goes to the image or link it names. A shares the result and
B's path picker lists it, marked *shared*. Screenshots in test-artifacts/."""
from __future__ import annotations

from pathlib import Path

import pytest

from .app_server import running_app
from .test_app_browser import ARTIFACTS, CHROMIUM, FLAGS

HOSTILE = "![x](http://127.0.0.1:9/x.png) [link](http://127.0.0.1:9/)"
TRAP = "127.0.0.1:9"  # where the sentence's image and link point: nothing may ever ask for it

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (tools/test.sh installs it)")


def wait_text(page, selector: str, text: str, timeout: int = 30_000) -> None:
    page.wait_for_function("([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
                           arg=[selector, text], timeout=timeout)


def assert_plain(page, selector: str) -> None:
    """The element shows the hostile sentence as text: the literal characters, no image, no link."""
    assert HOSTILE in page.inner_text(selector).replace("\n", " "), page.inner_text(selector)
    assert page.locator(f"{selector} img").count() == 0 and page.locator(f"{selector} a").count() == 0, selector


def open_page(context, url: str, requests: list[str]):
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    page.wait_for_selector("#traverse", timeout=30_000)
    return page


def cards(page):
    return page.locator("#job-cards .job-card")


def test_two_visitors_each_see_their_own_jobs_and_text_stays_text(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with running_app(tmp_path_factory.mktemp("visitors-browser"), public=True) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        viewport = {"width": 1400, "height": 1100}
        a_context, b_context = browser.new_context(viewport=viewport), browser.new_context(viewport=viewport)
        a, b = open_page(a_context, url, requests), open_page(b_context, url, requests)
        b.get_by_role("button", name="a circle ↔ a square · seeds 4-5").click()  # examples render for a visitor too
        wait_text(b, "#explore-status", "rendered in")

        # A trains a tiny job; the sentence and the Shapes CLIP's note about its words read as text
        a.get_by_role("tab", name="Train").click()
        a.fill("#first textarea, #first input", HOSTILE)
        a.fill("#second textarea, #second input", "a blue shape")
        wait_text(a, "#vocabulary-note", "never saw")
        assert a.locator("#vocabulary-note img, #vocabulary-note a").count() == 0
        a.get_by_text("Advanced").click()
        a.get_by_label("Iterations (empty: preset's)").fill("3")
        a.click("#train-button")
        wait_text(a, "#train-status", "Queued job")
        assert_plain(a, "#train-status")
        mine = cards(a).filter(has_text=HOSTILE)
        mine.and_(a.locator("[data-status='done']")).wait_for(timeout=120_000)
        assert a.locator("#job-cards img, #job-cards a").count() == 0
        a.get_by_text("All jobs as a table").click()
        a.locator("#jobs").get_by_text("a blue shape").last.wait_for(timeout=10_000)
        assert a.locator("#jobs img, #jobs a").count() == 0

        # B: a stranger's Train tab shows none of it
        b.get_by_role("tab", name="Train").click()
        b.locator("#job-cards .job-card-empty").wait_for(timeout=10_000)
        b.wait_for_timeout(2500)  # a few ticks of the page's timer
        assert cards(b).count() == 0 and "No training jobs yet" in b.inner_text("#job-cards")
        assert HOSTILE not in b.inner_text("body")
        b.screenshot(path=ARTIFACTS / "visitors-b-train.png", full_page=True)

        # A reloads: the browser kept the token, the job is still A's
        assert a.evaluate("() => localStorage.getItem('contraclip-visitor')")  # (encrypted by Gradio)
        a.reload()
        a.wait_for_selector("#traverse", timeout=30_000)
        a.get_by_role("tab", name="Train").click()
        cards(a).filter(has_text=HOSTILE).wait_for(timeout=15_000)

        # the confirmations quote the sentence as text
        a.wait_for_function("() => document.querySelector('#job-pick input').value.startsWith('done')",
                            timeout=15_000)
        a.click("#delete-job")
        a.wait_for_selector("#yes-delete", state="visible", timeout=10_000)
        assert_plain(a, "#confirm-delete")
        a.click("#keep-path")
        a.click("#share-job")
        a.wait_for_selector("#yes-share", state="visible", timeout=10_000)
        assert_plain(a, "#confirm-share")
        a.screenshot(path=ARTIFACTS / "visitors-a-share.png", full_page=True)
        a.click("#yes-share")
        wait_text(a, "#train-status", "is shared")
        assert_plain(a, "#train-status")
        a.locator("#job-cards .job-card[data-shared='1']").wait_for(timeout=10_000)

        # B's picker now lists it, marked shared (square brackets typed in a sentence show as parentheses)
        b.get_by_role("tab", name="Explore").click()
        shared = "!(x)(http://127.0.0.1:9/x.png) (link)(http://127.0.0.1:9/) ↔ a blue shape [shared]"
        b.wait_for_timeout(2500)  # the timer refreshes the picker
        b.click("#path-picker input")
        b.get_by_role("option", name=shared).wait_for(timeout=15_000)
        b.get_by_role("option", name=shared).click()
        b.click("#traverse")
        wait_text(b, "#explore-status", "↔ a blue shape · seeds")
        assert "!(x)(http://127.0.0.1:9/x.png)" in b.inner_text("#explore-status")
        assert b.locator("#explore-status img, #explore-status a").count() == 0
        b.screenshot(path=ARTIFACTS / "visitors-b-shared.png", full_page=True)

        assert not [u for u in requests if TRAP in u], [u for u in requests if TRAP in u]
        browser.close()
