"""The anchor panel inside Explore: start from a seed (as before), a sentence (text → latent) or an uploaded picture
(image → latent, the reconstruction shown beside it with its similarity). Layout and wiring only; the work is in
``service.method("mappers")`` (``anchor_from_text`` / ``anchor_from_image``).

A panel, not a tab (``PANEL_OF``): Explore builds it in its anchor slot, passing its generator picker, and feeds the
component ``build`` returns (the anchor id; empty: the seeds) to ``/traverse``. api_names: ``/anchor_source``,
``/anchor_from_text``, ``/anchor_from_image``.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from contraclip_core.inputs import ServiceError
from contraclip_core.service import Service
from contraclip_core.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_SIDE

from . import identity
from .layout import enclosing_blocks
from .presentation import escape

PANEL_OF = "explore"  # the tab that hosts this panel (see the package docstring)
SOURCES = [("a seed", "seed"), ("a sentence", "sentence"), ("my picture", "image")]


def build(service: Service, generator: gr.Dropdown, who: list[Any] | None = None) -> gr.Textbox:
    """Build the anchor controls inside the current Blocks context, wire their events (``who``: the page's identity
    inputs, made here when the panel is built on its own); the anchor id component."""
    who = who if who is not None else identity.create(enclosing_blocks()).inputs

    def on_source(source):
        return (gr.update(visible=source == "sentence"), gr.update(visible=source == "image"), "",
                "" if source != "seed" else "Each seed gives its own anchor.")

    def on_text(generator_name, sentence, seed, token=None, secret=None, request: gr.Request = None,
                profile: gr.OAuthProfile | None = None):
        try:
            visitor = identity.visitor(service, token, secret, request, profile)
            r = service.method("mappers").anchor_from_text(generator_name, sentence, seed, visitor=visitor)
        except ServiceError as e:  # BusyError too
            return None, "", f"⚠️ {escape(e)}"
        return r["image"], r["anchor"], (f"Anchor from “{escape(r['sentence'])}” ({escape(r['mapper'])} mapper). "
                                         "**Traverse** now starts from it; the seeds are ignored.")

    def on_image(generator_name, upload, token=None, secret=None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None):
        try:
            visitor = identity.visitor(service, token, secret, request, profile)
            r = service.method("mappers").anchor_from_image(generator_name, upload, visitor=visitor)
        except ServiceError as e:
            return None, None, "", f"⚠️ {escape(e)}"
        return r["upload"], r["image"], r["anchor"], (
            f"Reconstruction by the {escape(r['mapper'])} mapper: CLIP similarity {r['similarity']:.2f}, PSNR "
            f"{r['psnr_db']:.1f} dB. **Traverse** now starts from it; the seeds are ignored.")

    with gr.Accordion("Anchor: start from a seed, a sentence or your picture", open=False):
        source = gr.Radio(SOURCES, value="seed", label="Start from", elem_id="anchor-source")
        with gr.Row(visible=False) as text_row:
            sentence = gr.Textbox(label="Sentence", placeholder="a small red circle on the left", scale=3,
                                  elem_id="anchor-sentence")
            variation = gr.Number(0, precision=0, label="Variation seed (0: none)", scale=1)
            map_text = gr.Button("Map the sentence", scale=1, elem_id="anchor-map-text")
            text_image = gr.Image(type="filepath", label="Anchor", interactive=False, height=128, scale=1)
        with gr.Row(visible=False) as image_row:
            upload = gr.File(label=f"Your picture (PNG/JPEG/WebP, ≤ {MAX_UPLOAD_BYTES // 2**20} MB, ≤ "
                                   f"{MAX_UPLOAD_SIDE}×{MAX_UPLOAD_SIDE} pixels)", file_types=["image"],
                             type="filepath", elem_id="anchor-upload")
            shown = gr.Image(type="filepath", label="Upload (as the generator sees it)", interactive=False, height=128)
            recon = gr.Image(type="filepath", label="Reconstruction", interactive=False, height=128)
        note = gr.Markdown(elem_id="anchor-note")
        anchor = gr.Textbox("", label="Anchor id (empty: the seeds)", elem_id="anchor-id", interactive=False)
    source.change(on_source, source, [text_row, image_row, anchor, note], api_name="anchor_source")
    map_text.click(on_text, [generator, sentence, variation, *who], [text_image, anchor, note],
                   api_name="anchor_from_text")
    upload.upload(on_image, [generator, upload, *who], [shown, recon, anchor, note], api_name="anchor_from_image")
    generator.change(lambda: "", None, anchor, api_name=False)  # an anchor belongs to its generator
    return anchor
