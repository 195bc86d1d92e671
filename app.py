"""ContraCLIP Studio — the Gradio front end: layout and wiring only; the work is in ``contraclip_core.service``.

Run ``python app.py [--host 127.0.0.1] [--port 7860] [--data DIR]``. On a Hugging Face Space the same file runs.
"""
from __future__ import annotations

import argparse
import os
import random
import sys

import gradio as gr

from app_anchor import anchor_controls
from app_edit import build_edit_tab
from contraclip_core import allocator, registry
from contraclip_core.methods.contraclip import objectives
from contraclip_ui import presentation
from contraclip_core.errors import ContraCLIPError
from contraclip_core.inputs import LIMITS, ServiceError
from contraclip_core.service import Service
from contraclip_core.vocabulary import vocabulary_warning

try:  # ZeroGPU Spaces: the decorator asks for a GPU per call; elsewhere it is a no-op
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU
except ImportError:  # pragma: no cover - not installed outside Spaces
    def gpu(fn):
        return fn

JOB_COLUMNS = ["id", "dipoles", "generator", "status", "iteration", "total", "loss", "eta_s", "error"]
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
.large-view #results { flex-direction: column; }
.large-view #results > * { width: 100%; min-width: 100% !important; }
.large-view :is(#gif, #strip, #frame) { overflow: auto !important; height: auto !important; max-height: none !important; }
.large-view :is(#gif, #strip, #frame) :is(.image-container, button, .image-frame) {
  width: max-content !important; height: auto !important; max-height: none !important; }
.large-view :is(#gif, #strip, #frame) img {
  width: auto !important; height: auto !important; max-width: none !important; max-height: none !important;
  object-fit: none !important; }
"""
# Turns the large view on or off in the page (no server round trip): a class on the app's root element.
LARGE_VIEW_JS = "(on) => { document.querySelector('gradio-app').classList.toggle('large-view', on); return []; }"


def build_demo(service: Service) -> gr.Blocks:
    def generator_choices() -> list[tuple[str, str]]:
        out = []
        for row in service.generators():
            label = row["label"] if row["available"] else f"{row['label']} — unavailable: {row['reason']}"
            out.append((label, row["name"]))
        return out

    def path_choices(generator: str) -> list[tuple[str, str]]:
        return [(f"{p.label}  [{p.origin}]", p.id) for p in service.method("contraclip").paths(generator)]

    def on_generator(generator: str):
        row = next((r for r in service.generators() if r["name"] == generator), None)
        choices = path_choices(generator)
        note = "" if row is None or row["available"] else f"⚠️ **{generator}** is unavailable here: {row['reason']}."
        if row is not None and row["available"] and not choices:
            _, why = service.method("contraclip").hub_paths(generator)
            note = "No paths for this generator yet: train one in the **Train** tab." + (
                f" (No pre-trained paths from the Hub: {why})" if why else "")
        preset = registry.GENERATORS.get(generator)
        return (gr.update(choices=choices, value=choices[0][1] if choices else None), note,
                gr.update(value=preset.default_truncation if preset else 0.7),
                gr.update(value=preset.step_size if preset else 0.2))

    @gpu
    def on_traverse(generator, path_id, seeds, truncation, steps, step_size, anchor="", progress=gr.Progress()):
        try:  # a generator handler: the strip streams in as frames render (service.method("contraclip").traverse_stream)
            if not path_id:
                raise ServiceError("pick a path first (or train one in the Train tab)")
            for r in service.method("contraclip").traverse_stream(generator, path_id, seeds, truncation, steps, step_size,
                                             anchor=anchor or None):
                if r["stage"] == "rendering":
                    progress(r["done"] / r["total"], desc=f"rendered {r['done']} of {r['total']} frames")
                    yield (gr.update(), r["strip"], gr.update(), gr.update(), f"Rendering… {r['done']}/{r['total']}",
                           gr.update(), gr.update())
        except ServiceError as e:
            yield None, None, None, None, f"⚠️ {e}", None, None
            return
        rows = "from your anchor" if anchor else f"seeds {', '.join(map(str, r['seeds']))}"
        note = f"**{r['label']}** · {rows} · rendered in {r['seconds']:.2f} s · precision {r['precision']}"
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

    def table_rows(rows: list[dict]) -> list[list]:
        return [[row[c] if row[c] is not None else "" for c in JOB_COLUMNS] for row in rows]

    def jobs_table():
        return table_rows(service.jobs())

    def on_train(generator, first, second, corpus, preset, iterations, lr, loss, objective="plain"):
        try:
            job = service.submit("paths", generator, first, second, corpus=corpus or None, preset=preset,
                                          iterations=iterations, lr=lr, loss=loss or None, objective=objective or None)
        except ServiceError as e:
            return f"⚠️ {e}", jobs_table()
        warning = f" ⚠️ {job['warning']}" if job.get("warning") else ""
        return f"Queued job `{job['id']}`: {job['dipoles']} ({job['total']} iterations).{warning}", jobs_table()

    def on_sentences(generator, first, second):
        text = vocabulary_warning(generator, first or "", second or "")
        return f"⚠️ {text}" if text else ""

    def on_cancel(job_id):
        try:
            job = service.cancel((job_id or "").strip())
        except ServiceError as e:
            return f"⚠️ {e}", jobs_table()
        return f"Job `{job['id']}` is {job['status']}" + (" (stopping…)" if job["status"] == "running" else "."), jobs_table()

    def on_delete(job_id):
        try:
            job = service.delete_job((job_id or "").strip())
        except ServiceError as e:
            return f"⚠️ {e}", jobs_table()
        return f"Deleted job `{job['id']}` ({job['dipoles']}) and its path set.", jobs_table()

    def ask(action: str, job_id):
        row = next((r for r in service.jobs() if r["id"] == job_id), None)
        text, ok = presentation.confirmation(action, row)
        return gr.update(visible=True), text, gr.update(visible=ok)

    def on_progress(current, known):
        rows = service.jobs()
        choices, value = presentation.job_choices(rows, current)
        signature = repr(choices)
        picker = gr.update() if signature == known and value == current else gr.update(choices=choices, value=value)
        return presentation.jobs_html(rows, service.loss_curve), picker, signature

    def hide_confirmations():
        return gr.update(visible=False), gr.update(visible=False)

    def on_job_row(evt: gr.SelectData):
        row = evt.row_value if evt is not None else None
        return gr.update(value=row[0]) if row else gr.update()

    def on_tick(generator, path_id, known):
        rows = service.jobs()
        table = table_rows(rows)
        live = next((r for r in rows if r["status"] == "running" and r["preview"]), None)
        live = live or next((r for r in rows if r["preview"]), None)
        choices = path_choices(generator)
        ids = ",".join(v for _, v in choices)
        picker = gr.update() if ids == known else gr.update(choices=choices, value=path_id or (choices[0][1] if choices else None))
        return table, (live["preview"] if live else None), picker, ids

    # Gradio keeps its own copies of served files: sweep them every 30 min, deleting those older than an hour.
    with gr.Blocks(title="ContraCLIP Studio", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        known_paths = gr.State("")
        known_jobs = gr.State("")
        frames = gr.State(None)  # the last traversal's frame images, one per step, for the scrubber
        profile_file = gr.State(None)  # the traversal's profile plot, shown after it (keeps /traverse's outputs)
        with gr.Tab("Explore", id="explore"):
            with gr.Row(elem_id="pickers"):
                generator = gr.Dropdown(generator_choices(), value=registry.DEFAULT_GENERATOR, label="Generator",
                                        scale=2, min_width=260, elem_id="generator-picker")
                path = gr.Dropdown(path_choices(registry.DEFAULT_GENERATOR), label="Path (first ↔ second sentence)",
                                   scale=3, min_width=260, elem_id="path-picker")
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
            anchor = anchor_controls(service, generator)
            go = gr.Button("Traverse", variant="primary", elem_id="traverse")
            # the result components are created here (for the examples' outputs) and placed further down
            shown = service.method("contraclip").prerendered_example() or {}  # the first screen shows the first example, rendered
            gif = gr.Image(shown.get("gif"), show_label=False, type="filepath", elem_id="gif", render=False)
            strip_image = gr.Image(shown.get("strip"), show_label=False, type="filepath", elem_id="strip",
                                   render=False)
            gif_download = gr.DownloadButton("Download GIF", elem_id="download-gif", render=False)
            mp4_download = gr.DownloadButton("Download MP4", elem_id="download-mp4", render=False)
            status = gr.Markdown(presentation.prerendered_note(shown), elem_id="explore-status", render=False)
            examples = service.method("contraclip").examples()
            gr.Examples([e.row for e, _ in examples], [generator, path, seeds, truncation, steps, step_size],
                        [gif, strip_image, gif_download, mp4_download, status, frames, profile_file], on_traverse,
                        label="Examples: one click renders one", elem_id="examples", run_on_click=True,
                        cache_examples=False, examples_per_page=max(len(examples), 1),
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
        with gr.Tab("Train", id="train"):
            gr.Markdown("Type two contrasting sentences — positive steps will move toward the first — or pick a "
                        "pre-defined corpus. Training runs in the background; the path appears in **Explore** when done.")
            with gr.Row(elem_id="train-inputs"):
                train_generator = gr.Dropdown(generator_choices(), value=registry.DEFAULT_GENERATOR,
                                              label="Generator", scale=2, min_width=260)
                first = gr.Textbox(label="First sentence", placeholder="a red shape", scale=3, min_width=200,
                                   elem_id="first")
                second = gr.Textbox(label="Second sentence", placeholder="a blue shape", scale=3, min_width=200,
                                    elem_id="second")
            with gr.Row():
                corpus = gr.Dropdown([("— typed sentences —", "")] + [(k, k) for k in registry.CORPORA], value="",
                                     label="…or a pre-defined corpus", min_width=220)
                preset = gr.Radio(["quick", "paper"], value="quick", label="Preset", min_width=160)
                objective = gr.Radio([(objectives.LABELS[k], k) for k in objectives.UI_CHOICES], value="plain",
                                     label="Objective", info=objectives.UI_INFO, elem_id="objective", min_width=220)
            vocabulary_note = gr.Markdown(elem_id="vocabulary-note")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    iterations = gr.Textbox(label="Iterations (empty: preset's)", placeholder="e.g. 400",
                                            min_width=160)
                    lr = gr.Textbox(label="Learning rate (empty: preset's)", placeholder="e.g. 0.02", min_width=160)
                    loss = gr.Dropdown([("preset's", ""), ("contrastive", "contrastive"), ("cosine", "cosine")],
                                       value="", label="Loss", min_width=160)
            train = gr.Button("Train in the background", variant="primary", elem_id="train-button")
            train_status = gr.Markdown(elem_id="train-status")
            progress = gr.HTML(presentation.jobs_html(service.jobs(), service.loss_curve), label="Jobs",
                               elem_id="job-cards")
            preview = gr.Image(label="Live preview (seed 0)",
                               type="filepath", height=140, elem_id="preview")
            with gr.Row(elem_id="job-actions"):
                job_pick = gr.Dropdown([], label="Job", allow_custom_value=True, scale=3, min_width=240,
                                       elem_id="job-pick")
                cancel = gr.Button("Cancel job…", variant="stop", scale=1, min_width=140, elem_id="cancel-job")
                delete = gr.Button("Delete job and its path…", scale=1, min_width=140, elem_id="delete-job")
            with gr.Column(visible=False, elem_id="confirm-cancel") as confirm_cancel:
                cancel_question = gr.Markdown()
                with gr.Row():
                    yes_cancel = gr.Button("Yes, cancel it", variant="stop", elem_id="yes-cancel")
                    keep = gr.Button("No, keep it", elem_id="keep-job")
            with gr.Column(visible=False, elem_id="confirm-delete") as confirm_delete:
                delete_question = gr.Markdown()
                with gr.Row():
                    yes_delete = gr.Button("Yes, delete it", variant="stop", elem_id="yes-delete")
                    keep_path = gr.Button("No, keep it", elem_id="keep-path")
            with gr.Accordion("All jobs as a table", open=False):
                jobs = gr.Dataframe(headers=JOB_COLUMNS, value=jobs_table(), interactive=False, label="Jobs",
                                    elem_id="jobs")
        build_edit_tab(service, generator_choices, gpu)
        timer = gr.Timer(1.0)

        # .input, not .change: an example setting the generator must not reset its own path
        generator.input(on_generator, generator, [path, generator_note, truncation, step_size],
                        api_name="select_generator")
        random_seed.click(on_random_seed, None, seeds, api_name="random_seed")
        go.click(on_traverse, [generator, path, seeds, truncation, steps, step_size, anchor],
                 [gif, strip_image, gif_download, mp4_download, status, frames, profile_file],
                 api_name="traverse")
        profile_file.change(lambda f: f, profile_file, profile, api_visibility="private")  # traverse or example
        frames.change(on_frames, frames, [frame_step, frame_image], api_visibility="private")
        frame_step.change(on_frame, [frame_step, frames], frame_image, api_visibility="private",
                          show_progress="hidden", trigger_mode="always_last")
        large_view.change(None, large_view, None, js=LARGE_VIEW_JS)
        train.click(on_train, [train_generator, first, second, corpus, preset, iterations, lr, loss, objective],
                    [train_status, jobs], api_name="train")
        for box in (first, second, train_generator):
            box.change(on_sentences, [train_generator, first, second], vocabulary_note, api_visibility="private")
        cancel.click(lambda j: ask("cancel", j), job_pick, [confirm_cancel, cancel_question, yes_cancel],
                     api_visibility="private")
        delete.click(lambda j: ask("delete", j), job_pick, [confirm_delete, delete_question, yes_delete],
                     api_visibility="private")
        for no in (keep, keep_path):
            no.click(hide_confirmations, None, [confirm_cancel, confirm_delete], api_visibility="private")
        yes_cancel.click(on_cancel, job_pick, [train_status, jobs], api_name="cancel").then(
            hide_confirmations, None, [confirm_cancel, confirm_delete], api_visibility="private")
        yes_delete.click(on_delete, job_pick, [train_status, jobs], api_name="delete_job").then(
            hide_confirmations, None, [confirm_cancel, confirm_delete], api_visibility="private")
        jobs.select(on_job_row, None, job_pick, api_visibility="private")
        timer.tick(on_tick, [generator, path, known_paths], [jobs, preview, path, known_paths], api_name="poll",
                   show_progress="hidden")
        timer.tick(on_progress, [job_pick, known_jobs], [progress, job_pick, known_jobs], api_name="progress",
                   show_progress="hidden")
        demo.load(on_generator, generator, [path, generator_note, truncation, step_size], api_name="init")
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="ContraCLIP Studio")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--data", default=None, help="folder for jobs, trained paths and outputs "
                        "(default: $CONTRACLIP_DATA or checkpoints/local)")
    args = parser.parse_args()
    allocator.tune()  # before the first render: see contraclip_core/allocator.py
    try:
        service = Service(args.data)
    except ContraCLIPError as e:  # e.g. the data folder is a file, read-only, or in use by another app
        sys.exit(f"ContraCLIP Studio cannot start: {e}")
    demo = build_demo(service)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, allowed_paths=[str(service.data_dir)],
                max_file_size="20mb", footer_links=["api", "gradio"], css=CSS)


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    main()
