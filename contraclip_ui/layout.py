"""What every module of the page shares: the intro, the CSS and the large-view JS, the generator picker's choices,
the queue's bound, and ``Page``, what the composer (``contraclip_ui.build_demo``) hands each tab's ``build``."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import gradio as gr
from gradio.context import Context

from contraclip_core.service import Service

from . import identity as identity_mod
from .identity import Identity

INTRO = """# ContraCLIP Studio
Interpretable, text-driven **non-linear paths** in the latent space of pretrained GANs
([ContraCLIP](https://arxiv.org/abs/2206.02104)). Pick a generator and a path named by two contrasting sentences,
then traverse it: positive steps move toward the first sentence. The Shapes world is built in and works offline."""
# Layout only: stack side-by-side pickers on narrow screens, let results use the full width, a large view.
CSS = """
.secondary-wrap > input[role="combobox"] { padding-right: 44px; text-overflow: ellipsis; }
@media (max-width: 640px) {
  #pickers, #controls, #results, #job-actions, #train-inputs { flex-direction: column; align-items: stretch; }
  #pickers > *, #controls > *, #results > *, #job-actions > *, #train-inputs > * {
    width: 100%; min-width: 100% !important; }
  #examples { order: -1; }  /* a phone's first screen: the one-click examples come before the pickers */
}
#confirm-cancel, #confirm-delete { padding: var(--spacing-lg); border: 1px solid var(--error-border-color, #ef4444); }
#confirm-share { padding: var(--spacing-lg); border: 1px solid var(--color-accent, #f97316); }
.large-view #results { flex-direction: column; }
.large-view #results > * { width: 100%; min-width: 100% !important; }
.large-view :is(#gif, #strip, #frame) { overflow: auto !important; height: auto !important; max-height: none !important; }
.large-view :is(#gif, #strip, #frame) :is(.image-container, button, .image-frame) {
  width: max-content !important; height: auto !important; max-height: none !important; }
.large-view :is(#gif, #strip, #frame) img {
  width: auto !important; height: auto !important; max-width: none !important; max-height: none !important;
  object-fit: none !important; }
"""
# Gradio's queue holds at most this many waiting events; one more is answered at once ("queue is full") instead of
# waiting behind a line that grows. An open tab holds at most three (its two timer ticks, which never pile up, and one
# action), and each event kind runs 4 at a time, so 100 is some thirty tabs all waiting at once: far more than one
# worker serves well, and few enough that a flood is refused in a second rather than queued for minutes.
QUEUE_MAX_SIZE = 100
# Turns the large view on or off in the page (no server round trip): a class on the app's root element.
LARGE_VIEW_JS = "(on) => { document.querySelector('gradio-app').classList.toggle('large-view', on); return []; }"


def generator_choices(service: Service) -> list[tuple[str, str]]:
    """The generator picker's (label, name) choices; an unavailable generator says why in its label."""
    out = []
    for row in service.generators():
        label = row["label"] if row["available"] else f"{row['label']} — unavailable: {row['reason']}"
        out.append((label, row["name"]))
    return out


def enclosing_blocks() -> gr.Blocks:
    """The ``gr.Blocks`` being built (a tab's ``build`` runs inside one)."""
    blocks = Context.root_block
    if blocks is None:
        raise RuntimeError("a tab's build(service) must run inside a gr.Blocks() context")
    return blocks


@dataclass
class Page:
    """The page being built, as its modules see it. ``build_demo`` fills it from the registry; a tab built on its
    own (``build(service)``, e.g. in a test) gets a bare one: no timer, no panels, no other tabs."""

    blocks: gr.Blocks = field(default_factory=enclosing_blocks)  # for page events (``blocks.load``)
    timer: gr.Timer | None = None  # the page's one clock, rendered after the tabs (an inactive tab is not mounted)
    panels: dict[str, list[ModuleType]] = field(default_factory=dict)  # tab name → the panel modules it hosts
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # tab name → the components it shares
    identity: Identity | None = None  # the visitor's token and the owner's secret: the last inputs of its events

    def clock(self) -> gr.Timer:
        """The page's timer; a tab built on its own gets one of its own, in place."""
        if self.timer is None:
            self.timer = gr.Timer(1.0)
        return self.timer

    def who(self) -> list[Any]:
        """The inputs that say who is asking (``identity.Identity.inputs``); a tab built on its own makes its own."""
        if self.identity is None:
            self.identity = identity_mod.create(self.blocks)
        return self.identity.inputs

    def on_load(self) -> Any:
        """The page-load event after which the visitor's token is known: ``page.on_load().then(fn, …)``."""
        self.who()
        return self.identity.ready
