"""The app's API, driven through gradio_client against the app launched on loopback."""
from __future__ import annotations

import time

import imageio.v3 as iio
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from .app_server import running_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app-data")) as url:
        yield Client(url, verbose=False)


def first_path(client) -> str:
    update, *_ = client.predict("shapes-128", api_name="/select_generator")
    return update["choices"][0][1]


def test_every_event_has_an_api_name(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/traverse", "/train", "/cancel", "/poll", "/select_generator", "/random_seed", "/init"} <= names


def test_traverse_through_the_api(client):
    start = time.monotonic()
    gif, strip, gif_dl, mp4_dl, note = client.predict("shapes-128", first_path(client), "0, 1", 1.0, 4, 0.5,
                                                      api_name="/traverse")
    assert time.monotonic() - start < 10
    assert "rendered in" in note and "⚠️" not in note
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 2 * 8 and frames.shape[1] > 2 * 128  # 2 seeds stacked, progress bar below
    assert mp4_dl.endswith(".mp4") and gif_dl.endswith(".gif") and "seeds-0-1" in gif_dl


def test_bad_input_gives_a_message_and_the_app_keeps_serving(client):
    *_, note = client.predict("shapes-128", first_path(client), "banana", 1.0, 4, 0.5, api_name="/traverse")
    assert "⚠️ seed 'banana' is not a whole number" in note
    *_, note = client.predict("shapes-128", first_path(client), "0", 1.0, 4, -1, api_name="/traverse")
    assert "⚠️ step size must be a number between" in note
    with pytest.raises(AppError, match="99.0 is greater than maximum value 1.5"):  # Gradio's own range check
        client.predict("shapes-128", first_path(client), "0", 99.0, 4, 0.5, api_name="/traverse")
    with pytest.raises(AppError, match="no-such-generator is not in the list of choices"):
        client.predict("no-such-generator", "x", "0", 1.0, 4, 0.5, api_name="/traverse")
    message, _ = client.predict("shapes-128", "a red shape", "a red shape", "", "quick", "", "", "",
                                api_name="/train")
    assert "the two sentences are the same" in message
    *_, note = client.predict("shapes-128", first_path(client), "0", 1.0, 4, 0.5, api_name="/traverse")
    assert "rendered in" in note


def test_train_through_the_api_and_the_path_appears(client):
    message, _ = client.predict("shapes-128", "a yellow shape", "a cyan shape", "", "quick", "25", "", "",
                                api_name="/train")
    assert message.startswith("Queued job")
    job_id = message.split("`")[1]
    deadline = time.monotonic() + 120
    status = ""
    while time.monotonic() < deadline:
        table, *_ = client.predict("shapes-128", None, "", api_name="/poll")
        row = next(r for r in table["data"] if r[0] == job_id)
        status = row[3]
        if status in ("done", "failed", "cancelled"):
            break
        time.sleep(1)
    assert status == "done", row
    update, *_ = client.predict("shapes-128", api_name="/select_generator")
    labels = [label for label, _ in update["choices"]]
    assert any("a yellow shape ↔ a cyan shape" in label and "trained here" in label for label in labels)
