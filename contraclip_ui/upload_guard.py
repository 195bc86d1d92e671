"""``UploadGuard``: an ASGI middleware in front of Gradio's ``POST /gradio_api/upload`` (passed through
``launch(app_kwargs={"middleware": [...]})``, which Gradio hands to its FastAPI app).

Gradio's ``max_file_size`` bounds each file; nothing bounds how many files one request carries, nor how much one
client sends. The page uploads one picture at a time (the anchor panel's single ``gr.File``), and so does
gradio_client, so here:

- a request with more than ``max_files`` files (multipart parts), or a body over ``max_bytes`` (its
  ``Content-Length``, or what arrives when there is none), is refused with **413** and a sentence, before Gradio
  parses it; the body is read into memory (≤ ``max_bytes``) and handed on only once it has passed;
- each client address may upload ``budget_bytes`` per ``window_s`` (bytes actually received, refused requests
  included); past that, **429** with ``Retry-After``. On a Space the client's address is the right-most public one in
  ``X-Forwarded-For`` (what the Space's proxies saw; a client can prepend addresses, not replace that one); elsewhere
  the socket's peer.

Other requests pass untouched. Plain ASGI: it knows nothing of Gradio but the path.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

UPLOAD_PATH = "/gradio_api/upload"
MB = 1024 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def boundary_of(content_type: str) -> bytes | None:
    """The multipart boundary named in a Content-Type header (None when there is none)."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    return None


def part_count(body: bytes, boundary: bytes) -> int:
    """How many parts a multipart body holds: delimiters ``--boundary`` at the start of the body or of a line, less
    the closing one (``--boundary--``)."""
    delimiter = b"--" + boundary
    count = 1 if body.startswith(delimiter) and not body.startswith(delimiter + b"--") else 0
    count += body.count(b"\r\n" + delimiter) - body.count(b"\r\n" + delimiter + b"--")
    return count


def is_public_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return address.is_global


def client_address(scope: Scope, behind_proxy: bool) -> str:
    """Who sent the request: behind a proxy (a Space), the right-most public address of ``X-Forwarded-For``; else
    (or when it has none) the socket's peer."""
    if behind_proxy:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",")]
                public = [h for h in hops if is_public_address(h)]
                if public:
                    return public[-1]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class UploadGuard:
    """See the module docstring. ``clock``: for tests."""

    def __init__(self, app: Callable, max_files: int = 1, max_bytes: int = 21 * MB, budget_bytes: int = 200 * MB,
                 window_s: float = 600.0, behind_proxy: bool = False, clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.max_files, self.max_bytes = max_files, max_bytes
        self.budget_bytes, self.window_s = budget_bytes, window_s
        self.behind_proxy = behind_proxy
        self.clock = clock
        self._sent: dict[str, deque[tuple[float, int]]] = defaultdict(deque)  # address → (when, bytes) received
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").rstrip("/")
        if scope.get("type") != "http" or scope.get("method") != "POST" or not path.endswith(UPLOAD_PATH):
            await self.app(scope, receive, send)
            return
        who = client_address(scope, self.behind_proxy)
        wait = self.over_budget(who)
        if wait:
            await refuse(send, 429, f"This address has uploaded {self.budget_bytes // MB} MB in the last "
                                    f"{self.window_s / 60:g} minutes; try again in {wait} s.", retry_after=wait)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await refuse(send, 413, self.too_big())
            return
        body, complete = bytearray(), False
        while not complete:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            complete = not message.get("more_body", False)
            if len(body) > self.max_bytes:
                self.spend(who, len(body))
                await refuse(send, 413, self.too_big())
                return
        self.spend(who, len(body))
        boundary = boundary_of(headers.get("content-type", ""))
        if boundary is not None and part_count(bytes(body), boundary) > self.max_files:
            await refuse(send, 413, f"One upload request may carry {self.max_files} file"
                                    f"{'s' if self.max_files != 1 else ''}; send them one at a time.")
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()  # the app waits for a disconnect after the body: pass the real one on
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    def too_big(self) -> str:
        return f"An upload request may be at most {self.max_bytes / MB:g} MB (one picture of up to 20 MB)."

    def _recent(self, who: str) -> deque[tuple[float, int]]:
        sent, cutoff = self._sent[who], self.clock() - self.window_s
        while sent and sent[0][0] < cutoff:
            sent.popleft()
        return sent

    def over_budget(self, who: str) -> int:
        """0 when ``who`` may upload now; else the seconds until enough of its window has passed."""
        with self._lock:
            sent = self._recent(who)
            if sum(n for _, n in sent) < self.budget_bytes:
                return 0
            return max(1, int(sent[0][0] + self.window_s - self.clock()) + 1)

    def spend(self, who: str, n: int) -> None:
        with self._lock:
            for other in list(self._sent):  # forget what left the window (and addresses with nothing recent)
                if not self._recent(other):
                    del self._sent[other]
            self._sent[who].append((self.clock(), n))


async def refuse(send: Send, status: int, sentence: str, retry_after: int | None = None) -> None:
    body = sentence.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
