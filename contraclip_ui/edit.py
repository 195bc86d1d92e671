"""The "Edit by a sentence" tab (CF-CLIP): layout and wiring only; the work is in ``service.method("cfclip")``.

``build(service)`` runs inside the page's ``gr.Blocks`` and adds the tab; its events have the api_names ``/edit``,
``/edit_strength``, ``/edit_models``, ``/refresh_edit_models`` and ``/train_edit``. Training jobs share the Train tab's
queue and job cards (``service.submit("edit", …)``).
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from contraclip_core import registry
from contraclip_core.inputs import ServiceError
from contraclip_core.methods.cfclip.service import SHAPES_VOCABULARY
from contraclip_core.service import Service
from contraclip_core.visitors import Visitor

from . import identity
from .gpu import gpu
from .layout import Page, generator_choices
from .presentation import escape


def build(service: Service, page: Page | None = None) -> dict[str, Any]:
    """Add the tab to the enclosing ``gr.Blocks`` and wire its events; it shares no components (``{}``). Every event
    that lists, edits or trains for a visitor takes ``page.who()`` as its last inputs."""
    page = page or Page()
    who = page.who()

    def model_choices(generator: str, visitor: Visitor) -> list[tuple[str, str]]:
        models = service.method("cfclip").models(generator, visitor)
        return [(f"{m['label']}  [{m['origin']}]", m["id"]) for m in models]

    def on_generator(generator: str, token=None, secret=None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None):
        choices = model_choices(generator, identity.visitor(service, token, secret, request, profile, listing=True))
        note = "" if choices else "No edit model for this generator yet: train one below."
        return gr.update(choices=choices, value=choices[0][1] if choices else None), note

    def on_edit(generator, model_id, seeds, sentence, strength, anchor="", token=None, secret=None,
                request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            visitor = identity.visitor(service, token, secret, request, profile)
        except ServiceError as e:
            return None, None, None, f"⚠️ {escape(e)}"
        return render(visitor, generator, model_id, seeds, sentence, strength, anchor)

    @gpu  # the visitor is resolved outside: only plain values cross into a ZeroGPU call
    def render(visitor, generator, model_id, seeds, sentence, strength, anchor):
        try:
            if not model_id:
                raise ServiceError("pick an edit model first (or train one below)")
            r = service.method("cfclip").edit(generator, model_id, seeds, sentence, strength, visitor=visitor,
                                              anchor=anchor or None)
        except ServiceError as e:  # BusyError too: "busy: … try again in N s"
            return None, None, None, f"⚠️ {escape(e)}"
        rows = "your anchor" if r["anchor"] else f"seeds {', '.join(map(str, r['seeds']))}"
        note = f"**{escape(r['sentence'])}** · strength {r['strength']:.2f} · {rows} · {r['seconds']:.2f} s"
        return r["before_after"], r["gif"], r["gif"], note

    def on_train(generator, sentences, vocabulary, iterations, token=None, secret=None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None):
        try:
            visitor = identity.visitor(service, token, secret, request, profile)
            job = service.submit("edit", generator, sentences, vocabulary=vocabulary or "", iterations=iterations,
                                 visitor=visitor)
        except ServiceError as e:
            return f"⚠️ {escape(e)}"
        return (f"Queued job `{job['id']}`: {escape(job['dipoles'])} ({job['total']} iterations); follow it "
                "in **Train**.")

    with gr.Tab("Edit by a sentence", id="edit"):
        gr.Markdown("Type what the image should become — e.g. “a green square” — and a CF-CLIP mapper edits each "
                    "seed's latent code toward it in one pass — or your picture's code, made in Explore's anchor "
                    "panel. Left: before | after at the chosen strength; right: the strength going 0 → 1 (the "
                    "mapper's residual scaled).")
        with gr.Row():
            generator = gr.Dropdown(generator_choices(service), value=registry.DEFAULT_GENERATOR, label="Generator",
                                    scale=2)
            model = gr.Dropdown(model_choices(registry.DEFAULT_GENERATOR, identity.page_visitor(service)),
                                label="Edit model", scale=3,
                                elem_id="edit-model")
            refresh = gr.Button("↻ models", scale=0, elem_id="edit-refresh")  # after a training job finishes
        note = gr.Markdown()
        with gr.Row():
            sentence = gr.Textbox(label="Target sentence", placeholder="a green square", scale=3,
                                  elem_id="edit-sentence")
            seeds = gr.Textbox("0, 1, 2", label="Seeds", scale=2, elem_id="edit-seeds")
            strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Strength", scale=2)
        with gr.Row():  # Explore's anchor panel fills it (your picture, a sentence); empty: the seeds
            anchor = gr.Textbox("", label="Anchor id from Explore's anchor panel (your picture; empty: the seeds)",
                                scale=4, elem_id="edit-anchor")
            use_seeds = gr.Button("Use the seeds", scale=1, elem_id="edit-use-seeds")
        go = gr.Button("Edit", variant="primary", elem_id="edit-button")
        status = gr.Markdown(elem_id="edit-status")
        with gr.Row():
            pair = gr.Image(show_label=False, type="filepath", elem_id="edit-pair", scale=1)
            gif = gr.Image(show_label=False, type="filepath", elem_id="edit-gif", scale=1)
        gif_download = gr.DownloadButton("Download GIF", elem_id="edit-download-gif")
        with gr.Accordion("Train a new edit model (background job)", open=False):
            with gr.Row():
                targets = gr.Textbox(label="Target sentences, one per line", lines=3, scale=3,
                                     placeholder="a green shape\na large circle", elem_id="edit-targets")
                vocabulary = gr.Dropdown([("— typed sentences —", ""), ("Shapes captions (held-out kept out)",
                                                                       SHAPES_VOCABULARY)],
                                         value="", label="…or a vocabulary", scale=2)
                iterations = gr.Textbox(label="Iterations (empty: default)", scale=1)
            train = gr.Button("Train in the background", elem_id="edit-train-button")
            train_status = gr.Markdown(elem_id="edit-train-status")

        generator.change(on_generator, [generator, *who], [model, note], api_name="edit_models")
        refresh.click(on_generator, [generator, *who], [model, note], api_name="refresh_edit_models")
        go.click(on_edit, [generator, model, seeds, sentence, strength, anchor, *who],
                 [pair, gif, gif_download, status], api_name="edit")
        strength.release(on_edit, [generator, model, seeds, sentence, strength, anchor, *who],
                         [pair, gif, gif_download, status], api_name="edit_strength")
        use_seeds.click(lambda: "", None, anchor, api_visibility="private")
        made = page.parts.get("explore", {}).get("anchor")  # Explore's anchor (built before this tab), if any
        if made is not None:
            made.change(lambda a: a, made, anchor, api_visibility="private")
        train.click(on_train, [generator, targets, vocabulary, iterations, *who], train_status, api_name="train_edit")
        if service.public:  # the page was built with nobody's models: list the visitor's own once the page loads
            page.on_load().then(on_generator, [generator, *who], [model, note], api_visibility="private")
    return {}
