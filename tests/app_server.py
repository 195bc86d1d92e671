"""Start ``app.py`` on a free loopback port in a subprocess, for API and browser tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(data_dir: Path, timeout: float = 60.0, env: dict[str, str] | None = None,
              public: bool = False, args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """Start app.py on a free loopback port; return the process and its URL once it answers. ``env`` adds to (or
    overrides) the environment, which is offline for the Hub by default and has no Space variables, no admin secret
    and no ``CONTRACLIP_PUBLIC`` unless ``env`` gives them. ``public``: ``--public``, strangers share the app.
    ``args``: more flags for app.py (e.g. ``--generator``)."""
    port = free_port()
    quiet = {k: v for k, v in os.environ.items()
             if k not in ("SPACE_ID", "SPACE_AUTHOR_NAME", "SYSTEM", "OAUTH_CLIENT_ID", "CONTRACLIP_PUBLIC",
                          "CONTRACLIP_ADMIN_SECRET")}
    env = quiet | {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"} | (env or {})
    log = open(data_dir / "app.log", "ab")
    flags = (["--public"] if public else []) + list(args)
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--data", str(data_dir), *flags], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the app did not start: {(data_dir / 'app.log').read_text()[-3000:]}")
            time.sleep(0.3)


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def running_app(data_dir: Path, timeout: float = 60.0, env: dict[str, str] | None = None,
                public: bool = False, args: tuple[str, ...] = ()) -> Iterator[str]:
    """Yield the app's URL once it answers; stop it afterwards. Logs go to data_dir/app.log."""
    proc, url = start_app(data_dir, timeout, env, public, args)
    try:
        yield url
    finally:
        stop_app(proc)


def first_path(client) -> str:
    update, *_ = client.predict("shapes-128", api_name="/select_generator")
    return update["choices"][0][1]
