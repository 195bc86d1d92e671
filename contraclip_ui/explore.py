"""The Explore tab (ContraCLIP paths): pick a generator and a path, traverse it from seeds (or from the anchor a
panel gives), scrub the result frame by frame, download it. Layout and wiring only; the work is in
``service.method("contraclip")``.

api_names: ``/select_generator``, ``/random_seed``, ``/traverse`` and the page's ``/init``. It shares its
``generator`` and ``path`` pickers (the Train tab's ``/poll`` refreshes the path picker as jobs finish) and hosts the
panels that declare ``PANEL_OF = "explore"``: each one's ``build(service, generator, who)`` returns the component
whose value ``/traverse`` takes as its anchor, so Explore has one slot for one such panel. Every event that lists or
renders for a visitor takes ``page.who()`` (their token, the owner's secret) as its last inputs.
"""
from __future__ import annotations

import random
from typing import Any

import gradio as gr

from contraclip_core import registry
from contraclip_core.inputs import LIMITS, ServiceError
from contraclip_core.service import Service
from contraclip_core.visitors import Visitor

from . import identity, presentation
from .gpu import gpu
from .layout import LARGE_VIEW_JS, Page, generator_choices

NAME = "explore"


def path_choices(service: Service, generator: str, visitor: Visitor) -> list[tuple[str, str]]:
    """The path picker's (label, id) choices for ``generator`` as ``visitor`` sees them: shipped, Hub, theirs
    ("trained here") and other visitors' shared ones ("shared")."""
    return [(f"{p.label}  [{p.origin}]", p.id) for p in service.method("contraclip").paths(generator, visitor)]


def build(service: Service, page: Page | None = None) -> dict[str, Any]:
    """Add the tab (and the panels it hosts) to the enclosing ``gr.Blocks`` and wire its events; returns the
    components it shares: ``{"generator": …, "path": …}``."""
    page = page or Page()
    paths = service.method("contraclip")
    who = page.who()

    def on_generator(generator: str, token=None, secret=None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None):
        visitor = identity.visitor(service, token, secret, request, profile, listing=True)
        row = next((r for r in service.generators() if r["name"] == generator), None)
        choices = path_choices(service, generator, visitor)
        note = "" if row is None or row["available"] else (f"⚠️ **{presentation.escape(generator)}** is unavailable "
                                                           f"here: {presentation.escape(row['reason'])}.")
        if row is not None and row["available"] and not choices:
            _, why = paths.hub_paths(generator)
            note = "No paths for this generator yet: train one in the **Train** tab." + (
                f" (No pre-trained paths from the Hub: {presentation.escape(why)})" if why else "")
        preset = registry.GENERATORS.get(generator)
        return (gr.update(choices=choices, value=choices[0][1] if choices else None), note,
                gr.update(value=preset.default_truncation if preset else 0.7),
                gr.update(value=preset.step_size if preset else 0.2))

    def on_traverse(generator, path_id, seeds, truncation, steps, step_size, anchor="", token=None, secret=None,
                    request: gr.Request = None, profile: gr.OAuthProfile | None = None, progress=gr.Progress()):
        try:
            visitor = identity.visitor(service, token, secret, request, profile)
        except ServiceError as e:
            yield None, None, None, None, f"⚠️ {presentation.escape(e)}", None, None
            return
        yield from render(visitor, generator, path_id, seeds, truncation, steps, step_size, anchor, progress)

    def on_example(generator, path_id, seeds, truncation, steps, step_size, token=None, secret=None,
                   request: gr.Request = None, profile: gr.OAuthProfile | None = None, progress=gr.Progress()):
        yield from on_traverse(generator, path_id, seeds, truncation, steps, step_size, "", token, secret, request,
                               profile, progress)

    @gpu  # the visitor is resolved outside: only plain values cross into a ZeroGPU call
    def render(visitor, generator, path_id, seeds, truncation, steps, step_size, anchor, progress):
        try:  # a generator handler: the strip streams in as frames render (PathActions.traverse_stream)
            if not path_id:
                raise ServiceError("pick a path first (or train one in the Train tab)")
            for r in paths.traverse_stream(generator, path_id, seeds, truncation, steps, step_size,
                                           anchor=anchor or None, visitor=visitor):
                if r["stage"] == "rendering":
                    progress(r["done"] / r["total"], desc=f"rendered {r['done']} of {r['total']} frames")
                    yield (gr.update(), r["strip"], gr.update(), gr.update(), f"Rendering… {r['done']}/{r['total']}",
                           gr.update(), gr.update())
        except ServiceError as e:  # BusyError too: "busy: … try again in N s"
            yield None, None, None, None, f"⚠️ {presentation.escape(e)}", None, None
            return
        rows = "from your anchor" if anchor else f"seeds {', '.join(map(str, r['seeds']))}"
        note = (f"**{presentation.escape(r['label'])}** · {rows} · rendered in {r['seconds']:.2f} s · precision "
                f"{presentation.escape(r['precision'])}")
        yield (r["gif"], r["strip"], r["gif"], r["mp4"], note, {"frames": r["frames"], "steps": r["steps"]},
               r.get("profile"))

    def on_frames(frames):
        if not frames or not frames.get("frames"):
            return gr.update(visible=False), gr.update(value=None, visible=False)
        steps_ = frames["steps"]
        return (gr.update(minimum=steps_[0], maximum=steps_[-1], value=0, visible=True),
                gr.update(value=presentation.frame_at(frames, 0), visible=True))

    def on_frame(step, frames):
        return presentation.frame_at(frames, step)

    def on_random_seed():
        return str(random.randrange(0, LIMITS["max_seed"]))

    frames = gr.State(None)  # the last traversal's frame images, one per step, for the scrubber
    profile_file = gr.State(None)  # the traversal's profile plot, shown after it (keeps /traverse's outputs)
    with gr.Tab("Explore", id="explore"):
        with gr.Row(elem_id="pickers"):
            generator = gr.Dropdown(generator_choices(service), value=registry.DEFAULT_GENERATOR, label="Generator",
                                    scale=2, min_width=260, elem_id="generator-picker")
            path = gr.Dropdown(path_choices(service, registry.DEFAULT_GENERATOR, identity.page_visitor(service)),
                               label="Path (first ↔ second sentence)", scale=3, min_width=260, elem_id="path-picker")
        generator_note = gr.Markdown()
        with gr.Row(elem_id="controls"):
            seeds = gr.Textbox("0", label="Seeds (e.g. 0 or 0, 1, 2 or 3-6)", scale=2, min_width=180,
                               elem_id="seeds")
            random_seed = gr.Button("Random seed", scale=1, min_width=120)
            truncation = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation ψ", scale=2, min_width=180)
            steps = gr.Slider(1, LIMITS["max_steps"], value=8, step=1, label="Steps each way", scale=2,
                              min_width=180)
            step_size = gr.Number(registry.GENERATORS[registry.DEFAULT_GENERATOR].step_size,
                                  label="Step size η", scale=1, min_width=120)
        anchors = [panel.build(service, generator, who) for panel in page.panels.get(NAME, [])]
        if len(anchors) > 1:
            raise ValueError(f"Explore has one anchor slot; {len(anchors)} panels declare PANEL_OF = {NAME!r}")
        go = gr.Button("Traverse", variant="primary", elem_id="traverse")
        # the result components are created here (for the examples' outputs) and placed further down
        shown = paths.prerendered_example() or {}  # the first screen shows the first example, rendered
        gif = gr.Image(shown.get("gif"), show_label=False, type="filepath", elem_id="gif", render=False)
        strip_image = gr.Image(shown.get("strip"), show_label=False, type="filepath", elem_id="strip",
                               render=False)
        gif_download = gr.DownloadButton("Download GIF", elem_id="download-gif", render=False)
        mp4_download = gr.DownloadButton("Download MP4", elem_id="download-mp4", render=False)
        status = gr.Markdown(presentation.prerendered_note(shown), elem_id="explore-status", render=False)
        results = [gif, strip_image, gif_download, mp4_download, status, frames, profile_file]
        examples = paths.examples()
        # a click fills the inputs, then renders them as the clicking visitor (run_on_click would not pass the token)
        shelf = gr.Examples([e.row for e, _ in examples], [generator, path, seeds, truncation, steps, step_size],
                            label="Examples: one click renders one", elem_id="examples", cache_examples=False,
                            examples_per_page=max(len(examples), 1),
                            example_labels=[presentation.example_label(e, label) for e, label in examples])
        status.render()
        gr.Markdown("Left: the animation, anchor beside the traversed image, progress bar below (orange: toward "
                    "the first sentence). Right: the strip, rows = seeds, columns = steps −T … +T, anchor framed.")
        with gr.Row(elem_id="results"):
            with gr.Column(scale=1, min_width=260):
                gif.render()
            with gr.Column(scale=2, min_width=260):
                strip_image.render()
        large_view = gr.Checkbox(False, label="Large view: the full-size GIF and the strip at native resolution",
                                 elem_id="large-view")
        frame_step = gr.Slider(-8, 8, value=0, step=1, label="Scrub the traversal frame by frame: step",
                               visible=False, elem_id="frame-step")
        frame_image = gr.Image(show_label=False, type="filepath", visible=False, elem_id="frame")
        with gr.Row():
            gif_download.render()
            mp4_download.render()
        profile = gr.Image(label="What the path changes, step by step (top: CLIP similarity to each sentence; "
                           "Shapes world: every ground-truth attribute below)", type="filepath",
                           elem_id="profile")

    # .input, not .change: an example setting the generator must not reset its own path
    generator.input(on_generator, [generator, *who], [path, generator_note, truncation, step_size],
                    api_name="select_generator")
    random_seed.click(on_random_seed, None, seeds, api_name="random_seed")
    anchor_slot = anchors or [gr.State("")]  # built without the anchor panel: the seeds (keeps the inputs aligned)
    go.click(on_traverse, [generator, path, seeds, truncation, steps, step_size, *anchor_slot, *who], results,
             api_name="traverse")
    shelf.load_input_event.then(on_example, [generator, path, seeds, truncation, steps, step_size, *who], results,
                                api_visibility="undocumented")
    profile_file.change(lambda f: f, profile_file, profile, api_visibility="private")  # traverse or example
    frames.change(on_frames, frames, [frame_step, frame_image], api_visibility="private")
    frame_step.change(on_frame, [frame_step, frames], frame_image, api_visibility="private",
                      show_progress="hidden", trigger_mode="always_last")
    large_view.change(None, large_view, None, js=LARGE_VIEW_JS)
    page.on_load().then(on_generator, [generator, *who], [path, generator_note, truncation, step_size], api_name="init")
    return {"generator": generator, "path": path, **({"anchor": anchors[0]} if anchors else {})}
