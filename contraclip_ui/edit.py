"""The "Edit by a sentence" tab (CF-CLIP): layout and wiring only; the work is in ``service.method("cfclip")``.

``build(service)`` runs inside the page's ``gr.Blocks`` and adds the tab; its events have the api_names ``/edit``,
``/edit_strength``, ``/edit_models``, ``/refresh_edit_models`` and ``/train_edit``. Training jobs share the Train tab's
queue and job cards (``service.submit("edit", …)``).
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from contraclip_core import registry
from contraclip_core.methods.cfclip.service import SHAPES_VOCABULARY
from contraclip_core.service import Service
from contraclip_core.inputs import ServiceError

from .gpu import gpu
from .layout import Page, generator_choices


def build(service: Service, page: Page | None = None) -> dict[str, Any]:
    """Add the tab to the enclosing ``gr.Blocks`` and wire its events; it shares no components (``{}``)."""
    def model_choices(generator: str) -> list[tuple[str, str]]:
        return [(f"{m['label']}  [{m['origin']}]", m["id"]) for m in service.method("cfclip").models(generator)]

    def on_generator(generator: str):
        choices = model_choices(generator)
        note = "" if choices else "No edit model for this generator yet: train one below."
        return gr.update(choices=choices, value=choices[0][1] if choices else None), note

    @gpu
    def on_edit(generator, model_id, seeds, sentence, strength):
        try:
            if not model_id:
                raise ServiceError("pick an edit model first (or train one below)")
            r = service.method("cfclip").edit(generator, model_id, seeds, sentence, strength)
        except ServiceError as e:
            return None, None, None, f"⚠️ {e}"
        note = (f"**{r['sentence']}** · strength {r['strength']:.2f} · seeds {', '.join(map(str, r['seeds']))} · "
                f"{r['seconds']:.2f} s")
        return r["before_after"], r["gif"], r["gif"], note

    def on_train(generator, sentences, vocabulary, iterations):
        try:
            job = service.submit("edit", generator, sentences, vocabulary=vocabulary or "",
                                                iterations=iterations)
        except ServiceError as e:
            return f"⚠️ {e}"
        return f"Queued job `{job['id']}`: {job['dipoles']} ({job['total']} iterations); follow it in **Train**."

    with gr.Tab("Edit by a sentence", id="edit"):
        gr.Markdown("Type what the image should become — e.g. “a green square” — and a CF-CLIP mapper edits each "
                    "seed's latent code toward it in one pass. Left: before | after at the chosen strength; right: "
                    "the strength going 0 → 1 (the mapper's residual scaled).")
        with gr.Row():
            generator = gr.Dropdown(generator_choices(service), value=registry.DEFAULT_GENERATOR, label="Generator",
                                    scale=2)
            model = gr.Dropdown(model_choices(registry.DEFAULT_GENERATOR), label="Edit model", scale=3,
                                elem_id="edit-model")
            refresh = gr.Button("↻ models", scale=0, elem_id="edit-refresh")  # after a training job finishes
        note = gr.Markdown()
        with gr.Row():
            sentence = gr.Textbox(label="Target sentence", placeholder="a green square", scale=3,
                                  elem_id="edit-sentence")
            seeds = gr.Textbox("0, 1, 2", label="Seeds", scale=2, elem_id="edit-seeds")
            strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Strength", scale=2)
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

        generator.change(on_generator, generator, [model, note], api_name="edit_models")
        refresh.click(on_generator, generator, [model, note], api_name="refresh_edit_models")
        go.click(on_edit, [generator, model, seeds, sentence, strength], [pair, gif, gif_download, status],
                 api_name="edit")
        strength.release(on_edit, [generator, model, seeds, sentence, strength], [pair, gif, gif_download, status],
                         api_name="edit_strength")
        train.click(on_train, [generator, targets, vocabulary, iterations], train_status, api_name="train_edit")
    return {}
