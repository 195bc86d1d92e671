"""Who is asking: a visitor of a shared app (a public Space), or the machine's own user.

Every job and what it trains belongs to the visitor who asked for it. A visitor is known by the token their browser
keeps (so a page reload is the same visitor) or, where the Space has sign-in, by their Hugging Face user name. The
Space's owner is an admin: signed in as the Space's author, or holding the admin secret set in the environment
(``CONTRACLIP_ADMIN_SECRET``). An app that is not public (run on one's own machine, no ``SPACE_ID``, no
``--public``) has one user, who owns everything: the CLI, scripts and tests are that user (``LOCAL``).
"""
from __future__ import annotations

import hmac
import os
import re
from dataclasses import dataclass

ADMIN_SECRET_ENV = "CONTRACLIP_ADMIN_SECRET"
PUBLIC_ENV = "CONTRACLIP_PUBLIC"  # "1": treat visitors as strangers even off a Space (what tests and demos use)
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what a browser's token looks like (made by the page)


@dataclass(frozen=True)
class Visitor:
    id: str  # "" (the machine's own user), "session:<token>" or "hf:<user name>"
    admin: bool = False  # sees, cancels, deletes and pins everybody's work; no visitor quotas

    @property
    def label(self) -> str:
        """How the visitor is named to themselves ("you" in the UI; the user name when signed in)."""
        return self.id.removeprefix("hf:") if self.id.startswith("hf:") else "this browser"


LOCAL = Visitor("", admin=True)


def is_space_owner(owner: str) -> bool:
    """Whether a job's owner id is the Space's owner as records know them: the machine's own user (``""``) or the
    Space's author signed in (an admin by the secret alone leaves a browser token, which names nobody)."""
    author = os.environ.get("SPACE_AUTHOR_NAME", "")
    return owner == "" or (bool(author) and owner == f"hf:{author}")


def is_public() -> bool:
    """Whether this process serves strangers: on a Hugging Face Space, or told so (``CONTRACLIP_PUBLIC=1``)."""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get(PUBLIC_ENV, "") == "1"


def identify(token: str | None, username: str | None = None, secret: str | None = None,
             public: bool | None = None) -> Visitor:
    """The visitor behind a request: signed-in user name first, else the browser's token. ``secret``: what the
    visitor typed as the admin secret (compared in constant time with ``$CONTRACLIP_ADMIN_SECRET``). Off a public
    app every request is the machine's own user. A token that does not look like one the page makes is refused
    (``ValueError``), so nobody can claim another id by typing it."""
    public = is_public() if public is None else public
    if not public:
        return LOCAL
    expected = os.environ.get(ADMIN_SECRET_ENV, "")
    admin = bool(expected) and bool(secret) and hmac.compare_digest(str(secret).encode(), expected.encode())
    author = os.environ.get("SPACE_AUTHOR_NAME", "")
    if username:
        return Visitor(f"hf:{username}", admin=admin or (bool(author) and username == author))
    if not token or not TOKEN_PATTERN.fullmatch(str(token)):
        raise ValueError("this page has no visitor token yet: reload the page")
    return Visitor(f"session:{token}", admin=admin)
