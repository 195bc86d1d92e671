"""The "Edit by a sentence" tab through gradio_client against the app on loopback: the shipped Shapes edit model
is listed, an edit returns before/after and an animated GIF, bad input gets a sentence and the app keeps serving."""
from __future__ import annotations

from PIL import Image
import pytest
from .app_server import running_app



def test_edit_endpoints_exist(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/edit", "/edit_models", "/train_edit"} <= names


def test_edit_by_a_sentence_returns_before_after_and_gif(client):
    update, _ = client.predict("shapes-128", api_name="/edit_models")
    assert update["value"] == "shipped:shapes-captions"
    pair, gif, _, note = client.predict("shapes-128", "shipped:shapes-captions", "0, 1", "a green square", 1.0,
                                        api_name="/edit")
    assert "a green square" in note
    assert Image.open(pair).size == (2 * 128 + 2, 2 * 128 + 2)
    assert Image.open(gif).n_frames > 2


def test_bad_input_gets_a_sentence_and_the_app_keeps_serving(client):
    *_, note = client.predict("shapes-128", "shipped:shapes-captions", "0", "   ", 1.0, api_name="/edit")
    assert "target sentence is empty" in note
    *_, note = client.predict("shapes-128", "shipped:shapes-captions", "banana", "a red shape", 1.0, api_name="/edit")
    assert "seed" in note
    note = client.predict("shapes-128", "", "", "", api_name="/train_edit")
    assert "target sentence is empty" in note
    *_, note = client.predict("shapes-128", "shipped:shapes-captions", "0", "a red shape", 0.5, api_name="/edit")
    assert "strength 0.50" in note


def test_the_edit_tab_in_a_real_browser(tmp_path_factory):
    from .test_app_browser import ARTIFACTS, CHROMIUM, FLAGS

    if not __import__("pathlib").Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (tools/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(tmp_path_factory.mktemp("edit-browser")) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#traverse", timeout=30_000)
        page.get_by_role("tab", name="Edit by a sentence").click()
        page.fill("#edit-sentence textarea, #edit-sentence input", "a circle at the top")
        page.click("#edit-button")
        gif = page.wait_for_selector("#edit-gif img[src*='.gif']", timeout=30_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=gif, timeout=10_000)
        assert "a circle at the top" in page.inner_text("#edit-status")
        page.screenshot(path=str(ARTIFACTS / "edit_tab.png"))
        page.fill("#edit-sentence textarea, #edit-sentence input", "")
        page.click("#edit-button")
        page.wait_for_function("() => document.querySelector('#edit-status').innerText.includes('empty')",
                               timeout=15_000)
        browser.close()
