"""The app's API, driven through gradio_client against the app launched on loopback."""
from __future__ import annotations

import re
import time

import imageio.v3 as iio
import pytest
from gradio_client.exceptions import AppError

from .app_server import first_path


def test_every_event_has_an_api_name(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/traverse", "/train", "/cancel", "/poll", "/select_generator", "/random_seed", "/init"} <= names
    assert {"/progress", "/delete_job"} <= names  # added with the progress cards and the job picker


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


def test_progress_cards_cancel_and_delete_through_the_api(client):
    message, _ = client.predict("shapes-128", "a round shape", "a pointy shape", "", "quick", "20000", "", "",
                                api_name="/train")
    job_id = message.split("`")[1]
    deadline = time.monotonic() + 120
    while True:  # the card shows a bar and, once running, a human ETA
        cards, picker = client.predict(None, api_name="/progress")
        card = cards.split(f'data-job="{job_id}"')[1].split('class="job-card"')[0]
        if 'data-status="running"' in cards.split(f'data-job="{job_id}"')[1][:40] and " left" in card:
            break
        assert time.monotonic() < deadline, card
        time.sleep(1)
    assert 'role="progressbar"' in card and re.search(r"iteration \d+ of 20000 · about \d+ (min|h)", card), card
    assert picker["value"] == job_id and any(v == job_id for _, v in picker["choices"])
    message, _ = client.predict(job_id, api_name="/delete_job")  # a running job is not deleted
    assert "cancel it first" in message
    message, _ = client.predict(job_id, api_name="/cancel")
    assert message.startswith(f"Job `{job_id}` is running (stopping")
    while True:
        table, *_ = client.predict("shapes-128", None, "", api_name="/poll")
        if next(r for r in table["data"] if r[0] == job_id)[3] == "cancelled":
            break
        assert time.monotonic() < deadline
        time.sleep(1)
    message, table = client.predict(job_id, api_name="/delete_job")
    assert message.startswith(f"Deleted job `{job_id}`") and all(r[0] != job_id for r in table["data"])
    message, _ = client.predict("no-such-job", api_name="/cancel")
    assert message.startswith("⚠️ no job")
