"""ContraCLIP Studio's Gradio front end: layout and wiring only; the work is in ``contraclip_core.service``.

One module per tab: ``explore`` and ``train`` (ContraCLIP paths), ``edit`` (CF-CLIP edit models), and ``anchor``
(the mappers' anchor panel inside Explore). Each exposes ``build(service, …)``, which runs inside the page's
``gr.Blocks``, creates its components and wires its events. ``layout`` holds what they share (intro, CSS, JS, the
generator picker's choices, ``Page``), ``gpu`` the ZeroGPU decorator, ``presentation`` the view strings.

The registry drives the page. ``build_demo`` takes the module names from ``METHODS`` (each method's ``ui``, methods
in registry order) and imports ``contraclip_ui.<name>`` for each; no tab is named here, so a new method's tab is
one registry entry and one module with ``build(service, page)``.

Panels. The anchor controls sit inside Explore, between its controls and the Traverse button, and ``/traverse``
takes their anchor id, so they cannot be a tab appended in registry order. A module says it is a panel of another
tab with ``PANEL_OF = "<tab>"``; ``build_demo`` does not build it but hands it to that tab in ``Page.panels``, and
the host builds it where it belongs (Explore calls ``panel.build(service, generator, who)`` and feeds the component it
returns to ``/traverse``). The host knows the slot, the panel knows its host; neither names the other module, and
the registry still decides which modules exist. A panel whose host is not on the page is an error.

Shared components and the clock. ``build`` returns the components a tab shares (Explore: its generator and path
pickers), kept in ``Page.parts`` for the tabs built after it (Train's ``/poll`` refreshes Explore's path picker).
The page's one ``gr.Timer`` is created unrendered and rendered after the tabs: an inactive tab is not mounted, and
a timer inside one would not tick.

Visitors (``identity``). In a public app (a Space, or ``app.py --public``) strangers share the process: every event
that touches jobs or results takes ``page.who()`` — the browser's token and the Space owner's secret — as its last
inputs and acts for that visitor only (``service.visitor``); what the page bakes in before it knows the visitor
(initial pickers, cards) is nobody's (``identity.page_visitor``). The Space owner's field and, where the Space has
sign-in, the login button sit at the bottom of the page.
"""
from __future__ import annotations

import importlib
from types import ModuleType

import gradio as gr

from contraclip_core.methods.registry import METHODS, TOOLS
from contraclip_core.service import Service

from . import identity
from .layout import INTRO, Page


def ui_modules() -> dict[str, ModuleType]:
    """The UI modules the registry names, in page order: each method's ``ui``, methods in registry order, then the
    tools' (a module two entries name is built once)."""
    names = [name for entry in (*METHODS.values(), *TOOLS.values()) for name in entry.ui]
    return {name: importlib.import_module(f"{__name__}.{name}") for name in dict.fromkeys(names)}


def build_demo(service: Service) -> gr.Blocks:
    modules = ui_modules()
    panels: dict[str, list[ModuleType]] = {}
    for name, module in modules.items():
        host = getattr(module, "PANEL_OF", None)
        if host is None:
            continue
        if host not in modules or getattr(modules[host], "PANEL_OF", None):
            raise ValueError(f"UI module {name!r} is a panel of {host!r}, which is not a tab on this page")
        panels.setdefault(host, []).append(module)
    # Gradio keeps its own copies of served files: sweep them every 30 min, deleting those older than an hour.
    with gr.Blocks(title="ContraCLIP Studio", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        page = Page(blocks=demo, timer=gr.Timer(1.0, render=False), panels=panels,
                    identity=identity.create(demo))
        for name, module in modules.items():
            if getattr(module, "PANEL_OF", None) is None:
                page.parts[name] = module.build(service, page) or {}
        page.timer.render()
        identity.render(service, page.identity)
    return demo
