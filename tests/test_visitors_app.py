"""A public app (``app.py --public``, as on a Space) where strangers share one process: two visitors drive it
through two ``gradio_client`` sessions, each with the token its browser would keep (gradio_client passes a
``gr.BrowserState`` as an ordinary parameter: here the last but one, ``token``; the last is the Space owner's
``secret``).

What must hold (each failed on the app of 2026-12-04): a visitor's jobs are invisible to, and untouchable by, another
(``/poll``, ``/progress``, ``/cancel``, ``/delete_job`` answer "no job …"); sharing shows a result to everybody,
marked *shared*; one visitor firing 200 tiny jobs is refused beyond 2 at a time, and another visitor's ``/progress``
stays the same size (measured on the wire, the SSE bytes of one tick) and sends nothing when nothing changed; job
records, checkpoints and trained files are not served; an upload request with two files is refused; a sentence
written as Markdown comes back escaped in every status that shows it.
"""
from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from markdown_it import MarkdownIt

from contraclip_core.inputs import LIMITS

from .app_server import running_app

SECRET = "owner-" + secrets.token_urlsafe(12)
HOSTILE = "![x](http://127.0.0.1:9/x.png) [link](http://127.0.0.1:9/)"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(url, data folder): one public app for the module, with an admin secret set."""
    data = tmp_path_factory.mktemp("visitors-data")
    with running_app(data, public=True, env={"CONTRACLIP_ADMIN_SECRET": SECRET}) as url:
        yield url, data


class Visitor:
    """One browser: its own gradio_client session and token; ``call`` passes the token (and the secret, if any)
    after the endpoint's own inputs."""

    def __init__(self, url: str, secret: str = ""):
        self.client = Client(url, verbose=False)
        self.token = secrets.token_urlsafe(24)  # what the page makes: 32 URL-safe characters
        self.secret = secret

    def call(self, api_name: str, *args):
        return self.client.predict(*args, self.token, self.secret, api_name=api_name)

    def train(self, first: str, second: str = "a blue shape", iterations: int | str = 1) -> str:
        message, _ = self.call("/train", "shapes-128", first, second, "", "quick", str(iterations), "", "", "plain")
        return message

    def table(self) -> list[list]:
        """The visitor's jobs as /poll lists them (in a fresh session: a first tick always answers)."""
        fresh = Client(self.client.src, verbose=False)
        table, *_ = fresh.predict("shapes-128", None, self.token, self.secret, api_name="/poll")
        return table["data"]

    def wait_until(self, job_id: str, statuses=("done", "failed", "cancelled"), timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while True:
            row = next((r for r in self.table() if r[0] == job_id), None)
            if row and row[3] in statuses:
                return row[3]
            assert time.monotonic() < deadline, row
            time.sleep(0.5)


def job_id_of(message: str) -> str:
    assert message.startswith("Queued job `"), message
    return message.split("`")[1]


@pytest.fixture(scope="module")
def a(app):
    return Visitor(app[0])


@pytest.fixture(scope="module")
def b(app):
    return Visitor(app[0])


def test_a_visitors_job_is_invisible_and_untouchable_for_another(a, b):
    job = job_id_of(a.train("a red shape", "a blue shape", 3000))  # long: still running while B tries
    assert any(r[0] == job for r in a.table())
    assert b.table() == []
    cards, _ = b.call("/progress", None)
    assert job not in cards and "No training jobs yet" in cards
    for api_name in ("/cancel", "/delete_job", "/share"):
        message, _ = b.call(api_name, job)
        assert message == f"⚠️ no job '{job}'", (api_name, message)  # as if it did not exist
    assert a.wait_until(job, statuses=("running",)) == "running"  # B's cancel did nothing
    owner = Visitor(a.client.src, secret=SECRET)  # the Space owner sees, and may cancel, everybody's
    assert any(r[0] == job for r in owner.table())
    message, _ = owner.call("/cancel", job)
    assert message.startswith(f"Job `{job}` is ")
    assert a.wait_until(job) == "cancelled"
    message, _ = Visitor(a.client.src, secret="not-the-secret").call("/cancel", job)
    assert message == f"⚠️ no job '{job}'"
    message, _ = a.call("/delete_job", job)
    assert message.startswith(f"Deleted job `{job}`")


def test_a_page_without_a_token_acts_for_nobody(a):
    client = Client(a.client.src, verbose=False)
    message, _ = client.predict("shapes-128", "a red shape", "a blue shape", "", "quick", "1", "", "", "plain",
                                api_name="/train")
    assert message.startswith("⚠️ this page has no visitor token yet")
    message, _ = client.predict("shapes-128", "a red shape", "a blue shape", "", "quick", "1", "", "", "plain",
                                "../../etc/passwd", api_name="/train")  # a token the page never makes
    assert message.startswith("⚠️")


def test_sharing_shows_the_result_to_another_visitor_marked_shared(a, b):
    job = job_id_of(a.train("a green shape", "a magenta shape", 5))
    assert a.wait_until(job) == "done"

    def b_paths():
        update, *_ = b.call("/select_generator", "shapes-128")
        return [(label, value) for label, value in update["choices"] if job in value]

    assert b_paths() == []
    message, _ = a.call("/share", job)
    assert message.startswith(f"Job `{job}`") and "is shared" in message
    assert b_paths() == [("a green shape ↔ a magenta shape  [shared]", f"shared:{job}:0")]
    update, *_ = a.call("/select_generator", "shapes-128")
    assert ["a green shape ↔ a magenta shape  [trained here]", f"local:{job}:0"] in update["choices"]
    *_, note = b.call("/traverse", "shapes-128", f"shared:{job}:0", "0", 1.0, 2, 0.5, "")
    assert "a green shape ↔ a magenta shape" in note and "rendered in" in note
    message, _ = a.call("/unshare", job)
    assert "no longer shared" in message and b_paths() == []


def sse_bytes(url: str, fn_index: int, data: list, session_hash: str) -> tuple[int, list[dict]]:
    """One event over Gradio's queue as the page sends it (POST queue/join, then the SSE stream of
    queue/data): the bytes the page receives for it, and the messages."""
    with httpx.Client(base_url=url, timeout=60) as http:
        joined = http.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index,
                                                          "session_hash": session_hash, "trigger_id": None,
                                                          "event_data": None})
        joined.raise_for_status()
        event_id, size, messages = joined.json()["event_id"], 0, []
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                size += len(line.encode()) + 1
                if line.startswith("data: "):
                    message = json.loads(line[6:])
                    messages.append(message)
                    if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                        break
        return size, messages


def fn_index(url: str, api_name: str) -> int:
    config = httpx.get(url + "config").json()
    return next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == api_name)


def progress_tick(url: str, visitor: Visitor, session_hash: str) -> tuple[int, str]:
    """A /progress tick in ``session_hash``'s session: its bytes on the wire, and its cards (HTML; "" when the
    answer was "nothing changed")."""
    size, messages = sse_bytes(url, fn_index(url, "progress"), [None, None, visitor.token, visitor.secret],
                               session_hash)
    done = messages[-1]
    assert done["success"], done
    cards = done["output"]["data"][0]
    return size, cards if isinstance(cards, str) else ""


def test_a_flood_of_tiny_jobs_is_refused_beyond_two_and_another_visitors_traffic_stays_the_same(app, a, b):
    url, data = app
    mine = [job_id_of(b.train("a small shape", "a large shape", 1)), job_id_of(b.train("a circle", "a square", 1))]
    for job in mine:
        assert b.wait_until(job) == "done"
    session = uuid.uuid4().hex
    before, cards = progress_tick(url, b, session)
    assert all(job in cards for job in mine) and cards.count('class="job-card"') == 2
    unchanged, cards = progress_tick(url, b, session)  # nothing changed since this session's last tick
    assert cards == "" and unchanged < 1024, unchanged  # Gradio's own messages (ids, ETA) only
    accepted, refused, most_active = [], [], 0
    for i in range(200):
        message = a.train(f"a shape number {i}", "a blue shape", 1)
        if message.startswith("Queued job"):
            accepted.append(job_id_of(message))
        else:
            refused.append(message)
            assert re.match(r"⚠️ you already have \d jobs waiting or running \(at most 2 at a time\)",
                            message.replace("\\", "")), message  # (the status is Markdown: "\(" shows "(")
        if i % 20 == 0:
            most_active = max(most_active, sum(r[3] in ("queued", "running") for r in a.table()))
    assert refused and most_active <= LIMITS["max_active_per_visitor"]
    after, cards = progress_tick(url, b, uuid.uuid4().hex)  # a fresh page of B's: everything is sent
    assert cards.count('class="job-card"') == 2 and not any(job in cards for job in accepted)
    assert after <= before + 200, (before, after)  # B's traffic does not grow with A's jobs
    a_size, a_cards = progress_tick(url, a, uuid.uuid4().hex)
    a_jobs = a_cards.count('class="job-card"')
    print(f"/progress bytes: B (2 jobs) {before} before A's flood, {after} after, {unchanged} unchanged; "
          f"A ({a_jobs} jobs) {a_size}; A's flood: {len(accepted)} accepted, {len(refused)} refused")
    folders = [f for f in (data / "jobs").iterdir() if f.is_dir()]
    assert len(folders) <= len(accepted) + 10  # A's refused jobs left nothing behind
    on_disk = sum(f.stat().st_size for f in (data / "jobs").rglob("*") if f.is_file())
    on_disk += sum(f.stat().st_size for f in (data / "paths").rglob("*") if f.is_file())
    assert on_disk <= (2 * LIMITS["visitor_storage_mb"] + 10) * 1024 * 1024  # A's and B's caps


def test_job_files_are_not_served(app, b):
    url, data = app
    job = next(r[0] for r in b.table() if r[3] == "done")
    for name in ("job.json", "checkpoint.pt", "preview.png"):
        if (data / "jobs" / job / name).exists():
            assert httpx.get(f"{url}gradio_api/file={data}/jobs/{job}/{name}").status_code != 200, name
    for path in (data / "paths" / job / "paths.safetensors", data / ".lock",
                 data / "outputs" / ".." / "jobs" / job / "job.json"):
        assert httpx.get(f"{url}gradio_api/file={path}").status_code != 200, path
    b.call("/select_generator", "shapes-128")  # (the session's path picker now lists B's paths)
    gif, *_, note = b.call("/traverse", "shapes-128", f"local:{job}:0", "0", 1.0, 2, 0.5, "")[:5]
    assert "rendered in" in note and Path(gif).read_bytes()[:6] == b"GIF89a"  # what is made for download is served
    _, messages = sse_bytes(url, fn_index(url, "poll"), ["shapes-128", None, None, b.token, ""], uuid.uuid4().hex)
    preview = messages[-1]["output"]["data"][1]  # the live preview reaches the page as a copy in Gradio's cache
    assert preview and "/jobs/" not in preview["url"] and str(data) not in preview["path"], preview
    assert httpx.get(preview["url"]).status_code == 200


def test_an_upload_request_carries_one_file(app):
    url, _ = app
    two = httpx.post(f"{url}gradio_api/upload", files=[("files", ("a.png", b"a" * 100)),
                                                       ("files", ("b.png", b"b" * 100))])
    assert two.status_code == 413 and "one at a time" in two.text
    one = httpx.post(f"{url}gradio_api/upload", files=[("files", ("a.png", b"a" * 100))])
    assert one.status_code == 200
    big = httpx.post(f"{url}gradio_api/upload", files=[("files", ("a.png", b"a" * (22 * 1024 * 1024)))])
    assert big.status_code == 413


def rendered(markdown: str) -> str:
    return MarkdownIt("commonmark").render(markdown)


def assert_text(status: str) -> None:
    """The status shows the hostile sentence as text: no image, no link, no bare URL once rendered."""
    html = rendered(status)
    assert "<img" not in html and "<a " not in html, (status, html)
    assert "http://" not in status and "![" not in status and "](" not in status, status


def test_a_sentence_written_as_markdown_comes_back_as_text(a):
    message = a.train(HOSTILE, "a blue shape", 3)
    assert_text(message)
    assert "\\!\\[x\\]\\(http\\://127\\.0\\.0\\.1\\:9/x\\.png\\)" in message
    job = job_id_of(message)
    assert a.wait_until(job) == "done"
    message, _ = a.call("/share", job)
    assert_text(message)
    update, *_ = a.call("/select_generator", "shapes-128")
    path = next(value for label, value in update["choices"] if job in value)
    *_, note = a.call("/traverse", "shapes-128", path, "0", 1.0, 2, 0.5, "")
    assert "rendered in" in note
    assert_text(note)
    *_, note = a.call("/edit", "shapes-128", "shipped:shapes-captions", "0", HOSTILE, 1.0)
    assert_text(note)
    note = a.call("/train_edit", "shapes-128", HOSTILE, "", "1")
    assert_text(note)
    _, _, note = a.call("/anchor_from_text", "shapes-128", HOSTILE, 0)
    assert_text(note)
    message, _ = a.call("/delete_job", job)
    assert message.startswith("Deleted job") and "link" in message
    assert_text(message)


def test_the_upload_guard_counts_files_bytes_and_each_addresss_budget():
    """The middleware on its own (plain ASGI): one file per request, a size cap even without Content-Length, and a
    byte budget per client address per window (429 with Retry-After), the address read behind a proxy."""
    import asyncio

    from contraclip_ui.upload_guard import UploadGuard, client_address, part_count

    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\n" + b"a" * 50 +
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"b.png\"\r\n\r\nb\r\n--XyZ--\r\n")
    assert part_count(body, b"XyZ") == 2 and part_count(body.split(b"\r\n--XyZ\r\n")[0] + b"\r\n--XyZ--\r\n",
                                                         b"XyZ") == 1
    now = [0.0]
    passed = []

    async def app(scope, receive, send):
        passed.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    one = body.split(b"\r\n--XyZ\r\n")[0] + b"\r\n--XyZ--\r\n"
    guard = UploadGuard(app, max_bytes=1000, budget_bytes=len(one) + len(body) + 1, window_s=600,
                        clock=lambda: now[0])

    def post(payload: bytes, address="203.0.113.7", chunks=1, declared=True):
        headers = [(b"content-type", b"multipart/form-data; boundary=XyZ")]
        if declared:
            headers.append((b"content-length", str(len(payload)).encode()))
        scope = {"type": "http", "method": "POST", "path": "/gradio_api/upload", "headers": headers,
                 "client": (address, 1234)}
        size = -(-len(payload) // chunks) or 1
        pieces = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)]
        sent = []

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        asyncio.run(guard(scope, receive, send))
        return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])

    assert post(one)[0] == 200 and passed == [one]  # handed on whole
    status, _, text = post(body)
    assert status == 413 and b"one at a time" in text
    assert post(b"x" * 1001, declared=False, chunks=7, address="198.51.100.1")[0] == 413  # no Content-Length
    assert post(one)[0] == 200  # 203.0.113.7 is still under its budget before this one…
    status, headers, text = post(one)
    assert status == 429 and int(headers[b"retry-after"]) > 0 and b"try again in" in text
    assert post(one, address="192.0.2.55")[0] == 200  # another address has its own budget
    now[0] = 601.0
    assert post(one)[0] == 200  # the window moved on
    proxied = {"headers": [(b"x-forwarded-for", b"1.2.3.4, 93.184.216.34, 10.0.0.2")], "client": ("10.0.0.1", 1)}
    assert client_address(proxied, behind_proxy=True) == "93.184.216.34"  # right-most public: what the proxy saw
    assert client_address(proxied, behind_proxy=False) == "10.0.0.1"
