"""The anchor panel inside Explore: start from a seed (as before), a sentence (text → latent) or your picture —
projected faithfully (streamed: the reconstruction sharpens as it runs, with the time left), encoded in one pass by
the generator's e4e / pSp encoder where it has one, or mapped by the CLIP → latent mapper (instant, semantic). Face
generators align the photo as FFHQ's faces were first. The original and its reconstruction are shown side by side
with their PSNR, and the code can be downloaded. Layout and wiring only; the work is in ``service.method("mappers")``
(sentences, the mapper's inversion) and ``service.method("projection")`` (projection, encoder).

A panel, not a tab (``PANEL_OF``): Explore builds it in its anchor slot, passing its generator picker, and feeds the
component ``build`` returns (the anchor id; empty: the seeds) to ``/traverse``; the Edit tab reads the same anchor.
api_names: ``/anchor_source``, ``/anchor_from_text``, ``/anchor_from_image``, ``/anchor_ways``.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from contraclip_core import registry
from contraclip_core.inputs import LIMITS, ServiceError
from contraclip_core.service import Service
from contraclip_core.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_SIDE

from . import identity
from .gpu import gpu_for
from .layout import enclosing_blocks
from .presentation import escape

PANEL_OF = "explore"  # the tab that hosts this panel (see the package docstring)
SOURCES = [("a seed", "seed"), ("a sentence", "sentence"), ("my picture", "image")]
WAYS = {"projection": "projection: faithful (seconds to minutes)", "encoder": "encoder (e4e / pSp): one pass",
        "mapper": "mapper: instant, semantic"}


def way_choices(service: Service, generator: str) -> list[tuple[str, str]]:
    """The ways a picture can become a code for ``generator``, the faithful ones first."""
    try:
        ways = service.method("projection").ways(generator)
    except ServiceError:
        ways = ["projection"]
    return [(WAYS[w], w) for w in (*ways, "mapper")]


def fidelity(psnr_db: float) -> str:
    if psnr_db >= 30:
        return "faithful"
    return "close" if psnr_db >= 20 else "loose: the generator draws this picture only roughly"


def picture_note(r: dict[str, Any]) -> str:
    """What the reconstruction is, for the note under the two pictures."""
    how = {"projection": f"projected from {escape(r.get('start', ''))} in {r.get('done', 0)} steps",
           "encoder": "encoded in one pass by the generator's encoder"}.get(r.get("way", ""), "")
    stopped = f" (stopped at the {LIMITS['max_projection_s']} s limit: the best code so far)" if r.get("stopped") \
        else ""
    return (f"Original ({escape(r.get('note', ''))}) beside its reconstruction: **PSNR {r['psnr_db']:.1f} dB**, "
            f"{fidelity(r['psnr_db'])}. {how.capitalize()}, {r['seconds']:.1f} s{stopped}. **Traverse** and the "
            "Edit tab now start from it; the seeds are ignored.")


def build(service: Service, generator: gr.Dropdown, who: list[Any] | None = None) -> gr.Textbox:
    """Build the anchor controls inside the current Blocks context, wire their events (``who``: the page's identity
    inputs, made here when the panel is built on its own); the anchor id component."""
    who = who if who is not None else identity.create(enclosing_blocks()).inputs

    def on_source(source):
        return (gr.update(visible=source == "sentence"), gr.update(visible=source == "image"), "",
                "" if source != "seed" else "Each seed gives its own anchor.")

    def on_generator(generator_name):
        choices = way_choices(service, generator_name)
        aligns = service.method("projection").aligns(generator_name)
        shapes = registry.GENERATORS[generator_name].domain == "shapes"
        return "", gr.update(choices=choices, value=choices[0][1]), gr.update(value=aligns, visible=not shapes)

    def on_text(generator_name, sentence, seed, token=None, secret=None, request: gr.Request = None,
                profile: gr.OAuthProfile | None = None):
        try:
            visitor = identity.visitor(service, token, secret, request, profile)
            r = service.method("mappers").anchor_from_text(generator_name, sentence, seed, visitor=visitor)
        except ServiceError as e:  # BusyError too
            return None, "", f"⚠️ {escape(e)}"
        return r["image"], r["anchor"], (f"Anchor from “{escape(r['sentence'])}” ({escape(r['mapper'])} mapper). "
                                         "**Traverse** now starts from it; the seeds are ignored.")

    def on_image(generator_name, upload, way="projection", align=None, token=None, secret=None,
                 request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            visitor = identity.visitor(service, token, secret, request, profile)
        except ServiceError as e:
            yield None, None, "", f"⚠️ {escape(e)}", None
            return
        yield from make(visitor, generator_name, upload, way, align)

    # the visitor is resolved outside: only plain values cross into a ZeroGPU call, which may run the whole projection
    @gpu_for(LIMITS["max_projection_s"] + 20)
    def make(visitor, generator_name, upload, way, align):
        try:  # a generator handler: the projection's reconstruction streams in
            if way == "mapper":
                r = service.method("mappers").anchor_from_image(generator_name, upload, visitor=visitor)
                code = service.anchors.export(generator_name, r["anchor"])
                yield r["upload"], r["image"], r["anchor"], (
                    f"Reconstruction by the {escape(r['mapper'])} mapper: CLIP similarity {r['similarity']:.2f}, "
                    f"PSNR {r['psnr_db']:.1f} dB (semantic, not faithful: the projection is). **Traverse** now "
                    "starts from it; the seeds are ignored."), str(code)
                return
            if way == "encoder":
                r = service.method("projection").encode(generator_name, upload, align, visitor=visitor)
            elif way == "projection":
                for r in service.method("projection").project(generator_name, upload, align, visitor=visitor):
                    if r["stage"] != "done":
                        yield (r["picture"], r["image"], gr.update(),
                               f"Projecting ({escape(r['stage'])}): step {r['done']} of {r['total']}, PSNR "
                               f"{r['psnr_db']:.1f} dB so far, about {r['eta_s']:.0f} s left…", gr.update())
            else:
                raise ServiceError(f"unknown way {way!r}; choose one of {sorted(WAYS)}")
        except ServiceError as e:  # a bad file, no face, busy: one sentence; the page keeps serving
            yield gr.update(), gr.update(), "", f"⚠️ {escape(e)}", None
            return
        yield r["picture"], r["image"], r["anchor"], picture_note(r), r["code"]

    with gr.Accordion("Anchor: start from a seed, a sentence or your picture", open=False):
        source = gr.Radio(SOURCES, value="seed", label="Start from", elem_id="anchor-source")
        with gr.Row(visible=False) as text_row:
            sentence = gr.Textbox(label="Sentence", placeholder="a small red circle on the left", scale=3,
                                  elem_id="anchor-sentence")
            variation = gr.Number(0, precision=0, label="Variation seed (0: none)", scale=1)
            map_text = gr.Button("Map the sentence", scale=1, elem_id="anchor-map-text")
            text_image = gr.Image(type="filepath", label="Anchor", interactive=False, height=128, scale=1)
        with gr.Column(visible=False) as image_col:
            with gr.Row():
                ways = way_choices(service, registry.DEFAULT_GENERATOR)
                way = gr.Radio(ways, value=ways[0][1], label="How your picture becomes a code", scale=3,
                               elem_id="anchor-way")
                align = gr.Checkbox(False, label="Align the face first (as FFHQ's faces)", visible=False, scale=1,
                                    elem_id="anchor-align")
            with gr.Row():
                upload = gr.File(label=f"Your picture (PNG/JPEG/WebP, ≤ {MAX_UPLOAD_BYTES // 2**20} MB, ≤ "
                                       f"{MAX_UPLOAD_SIDE}×{MAX_UPLOAD_SIDE} pixels)", file_types=["image"],
                                 type="filepath", elem_id="anchor-upload")
                shown = gr.Image(type="filepath", label="Original (as the generator sees it)", interactive=False,
                                 height=160, elem_id="anchor-original")
                recon = gr.Image(type="filepath", label="Reconstruction", interactive=False, height=160,
                                 elem_id="anchor-reconstruction")
            with gr.Row():
                again = gr.Button("Make the code again (after changing how)", elem_id="anchor-again")
                code = gr.DownloadButton("Download the code (.safetensors)", elem_id="anchor-code")
        note = gr.Markdown(elem_id="anchor-note")
        anchor = gr.Textbox("", label="Anchor id (empty: the seeds)", elem_id="anchor-id", interactive=False)
    source.change(on_source, source, [text_row, image_col, anchor, note], api_name="anchor_source")
    map_text.click(on_text, [generator, sentence, variation, *who], [text_image, anchor, note],
                   api_name="anchor_from_text")
    outputs = [shown, recon, anchor, note, code]
    upload.upload(on_image, [generator, upload, way, align, *who], outputs, api_name="anchor_from_image")
    again.click(on_image, [generator, upload, way, align, *who], outputs, api_visibility="private")
    # an anchor belongs to its generator; the ways and the alignment follow it
    generator.change(on_generator, generator, [anchor, way, align], api_name="anchor_ways")
    return anchor
