"""Who is asking, as the page knows it: the token this browser keeps, the Hugging Face user when the Space has
sign-in, and the Space owner's secret. The core turns them into a ``Visitor`` (``service.visitor``).

- **The token**: a ``gr.BrowserState`` (the browser's localStorage, under a fixed key, so a page reload and an app
  restart keep it). The page makes it on first load, in the browser (``TOKEN_JS``: 24 random bytes from
  ``crypto.getRandomValues``, URL-safe base64, 32 characters); the server never hands one out. Every event that
  touches jobs or results takes it as an input, after the inputs it had before, so an API client passes its own
  (any 16–64 characters of ``A-Z a-z 0-9 _ -``; gradio_client treats a BrowserState as an ordinary parameter) and
  the old positional calls still work (it defaults to none: in an app that is not public every request is the
  machine's own user anyway).
- **Sign-in**: ``request.username`` (an app launched with ``auth=``) or the OAuth profile (a Space with
  ``hf_oauth: true``, where ``OAUTH_CLIENT_ID`` is set and the page shows a ``gr.LoginButton``). Without either,
  the token alone.
- **The Space owner**: signed in as the Space's author, or the admin secret (``$CONTRACLIP_ADMIN_SECRET``) typed
  into the collapsed *Space owner* field at the bottom of the page; without that variable the field does not exist
  (its slot in the events' inputs is a ``gr.State``, which clients never see).

A page with no token yet (the first tick of a brand-new tab) lists as ``ANONYMOUS``: what is shipped and shared,
nothing of its own; acting (train, cancel, share…) without a token is refused with a sentence.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gradio as gr

from contraclip_core.inputs import ServiceError
from contraclip_core.service import Service
from contraclip_core.visitors import ADMIN_SECRET_ENV, TOKEN_PATTERN, Visitor

from .presentation import escape

TOKEN_KEY = "contraclip-visitor"  # the localStorage key: fixed, so a restarted app still finds the token
# BrowserState encrypts what it stores with this; it is sent to every page, so it protects nothing and only has to
# stay the same across restarts (a random one per process would lose every visitor's token on a restart).
TOKEN_CIPHER = "contraclip-visitor-token"
TOKEN_JS = """(token) => {
  if (typeof token === 'string' && /^[A-Za-z0-9_-]{16,64}$/.test(token)) return token;
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replace(/[+]/g, '-').replace(/[/]/g, '_');
}"""
ANONYMOUS = Visitor("anonymous")  # no token yet: owns nothing (no job's owner is ever "anonymous")


def sign_in_available() -> bool:
    """Whether this process can offer Hugging Face sign-in: a Space with ``hf_oauth: true`` (which sets
    ``OAUTH_CLIENT_ID``) and Gradio's OAuth extra installed (``gradio[oauth]``: authlib, itsdangerous)."""
    if not os.environ.get("OAUTH_CLIENT_ID"):
        return False
    try:
        import authlib  # noqa: F401
        import itsdangerous  # noqa: F401
    except ImportError:
        print("ContraCLIP Studio: OAUTH_CLIENT_ID is set but gradio[oauth] is not installed; no sign-in button")
        return False
    return True


@dataclass
class Identity:
    """The page's identity inputs; ``inputs`` go last in every event that acts for a visitor."""

    token: gr.BrowserState
    secret: gr.components.Component  # the Space owner's password box, or a gr.State(None) when there is no secret
    ready: Any = None  # the page-load event that makes the token: what needs it on load runs .then() after it

    @property
    def inputs(self) -> list[Any]:
        return [self.token, self.secret]


def create(blocks: gr.Blocks) -> Identity:
    """The token (made in the browser on load) and the secret's slot; the secret box is rendered by ``render``."""
    token = gr.BrowserState(None, storage_key=TOKEN_KEY, secret=TOKEN_CIPHER)
    if os.environ.get(ADMIN_SECRET_ENV):
        secret = gr.Textbox("", type="password", label="Admin secret", render=False, elem_id="admin-secret",
                            placeholder="$CONTRACLIP_ADMIN_SECRET", max_lines=1)
    else:
        secret = gr.State(None)
    ready = blocks.load(None, token, token, js=TOKEN_JS)
    return Identity(token, secret, ready)


def render(service: Service, identity: Identity) -> None:
    """Place the Space owner's field (collapsed, at the bottom) and, where the Space has sign-in, the login button."""
    if sign_in_available():
        gr.LoginButton(elem_id="login")
    if not isinstance(identity.secret, gr.Textbox):
        return

    def on_secret(token=None, secret=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            admin = visitor(service, token, secret, request, profile).admin
        except ServiceError as e:
            return f"⚠️ {escape(str(e))}"
        if admin:
            return "You are the Space owner here: you see, cancel and delete every job, and no visitor quota applies."
        return "That is not the admin secret." if secret else ""

    with gr.Accordion("Space owner", open=False, elem_id="space-owner"):
        identity.secret.render()
        note = gr.Markdown(elem_id="admin-note")
    identity.secret.submit(on_secret, identity.inputs, note, api_visibility="private")


def signed_in(request: Any = None, profile: Any = None) -> str | None:
    """The signed-in user name: the OAuth profile's, else the app's own login (``request.username``); None."""
    name = getattr(profile, "username", None) or getattr(request, "username", None)
    return str(name) if name else None


def visitor(service: Service, token: Any, secret: Any = None, request: Any = None, profile: Any = None,
            listing: bool = False) -> Visitor:
    """The visitor behind an event. ``listing``: a read-only view (pickers, job cards), where a page with no token
    yet is ``ANONYMOUS`` instead of an error. Raises ``ServiceError`` (a sentence) for a token the page never made."""
    username = signed_in(request, profile)
    if listing and service.public and not username and not (isinstance(token, str) and TOKEN_PATTERN.fullmatch(token)):
        return ANONYMOUS
    return service.visitor(token if isinstance(token, str) else None, username=username,
                           secret=secret if isinstance(secret, str) and secret else None)


def page_visitor(service: Service) -> Visitor:
    """Whose work the page shows before it knows the visitor (values baked into the page): in a public app nobody's
    (shipped and shared only); else the machine's own user's."""
    return ANONYMOUS if service.public else service.visitor(None)
