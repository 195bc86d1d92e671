"""What the page's timer sends, kept small: each tick remembers (in the session's ``gr.State``, as digests) what it
last sent, so that an answer that did not change is not sent again (Gradio's skip), and the live preview, a file under
``<data>/jobs/`` that the app never serves, reaches the page as an image read here (Gradio writes it to its own cache,
named by its content) only when the file changed. Nothing here knows the service."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from PIL import Image


def digest(value: Any) -> str:
    """A short fingerprint of what a tick would send."""
    return hashlib.sha1(repr(value).encode()).hexdigest()


def remembered(state: Any) -> dict[str, str]:
    """A tick's memory of what it last sent (a dict of digests); anything else (a fresh session) is nothing."""
    return dict(state) if isinstance(state, dict) else {}


def preview_key(path: str | None) -> str:
    """What identifies a preview's picture: its file and when it was last written ("" when there is none)."""
    try:
        return f"{path}:{Path(path).stat().st_mtime_ns}" if path else ""
    except OSError:
        return ""


def preview_image(path: str | None) -> Image.Image | None:
    """The preview as an image in memory (so no path under the data folder reaches the page); None when unreadable."""
    if not path:
        return None
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError):
        return None
