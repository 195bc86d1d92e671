"""ContraCLIP Studio — the Gradio front end: layout and wiring only; the work is in ``contraclip_core.service``.

Run ``python app.py [--host 127.0.0.1] [--port 7860] [--data DIR]``. On a Hugging Face Space the same file runs.
"""
from __future__ import annotations

import argparse
import os
import random

import gradio as gr

from contraclip_core import registry
from contraclip_core.service import LIMITS, Service, ServiceError

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


def build_demo(service: Service) -> gr.Blocks:
    def generator_choices() -> list[tuple[str, str]]:
        out = []
        for row in service.generators():
            label = row["description"] if row["available"] else f"{row['description']} — unavailable: {row['reason']}"
            out.append((label, row["name"]))
        return out

    def path_choices(generator: str) -> list[tuple[str, str]]:
        return [(f"{p.label}  [{p.origin}]", p.id) for p in service.paths(generator)]

    def on_generator(generator: str):
        row = next((r for r in service.generators() if r["name"] == generator), None)
        choices = path_choices(generator)
        note = "" if row is None or row["available"] else f"⚠️ **{generator}** is unavailable here: {row['reason']}."
        if row is not None and row["available"] and not choices:
            _, why = service.hub_paths(generator)
            note = "No paths for this generator yet: train one in the **Train** tab." + (
                f" (No pre-trained paths from the Hub: {why})" if why else "")
        preset = registry.GENERATORS.get(generator)
        return (gr.update(choices=choices, value=choices[0][1] if choices else None), note,
                gr.update(value=preset.default_truncation if preset else 0.7),
                gr.update(value=preset.step_size if preset else 0.2))

    @gpu
    def on_traverse(generator, path_id, seeds, truncation, steps, step_size, progress=gr.Progress()):
        try:  # a generator handler: the strip streams in as frames render (service.traverse_stream)
            if not path_id:
                raise ServiceError("pick a path first (or train one in the Train tab)")
            for r in service.traverse_stream(generator, path_id, seeds, truncation, steps, step_size):
                if r["stage"] == "rendering":
                    progress(r["done"] / r["total"], desc=f"rendered {r['done']} of {r['total']} frames")
                    yield gr.update(), r["strip"], gr.update(), gr.update(), f"Rendering… {r['done']}/{r['total']}"
        except ServiceError as e:
            yield None, None, None, None, f"⚠️ {e}"
            return
        note = (f"**{r['label']}** · seeds {', '.join(map(str, r['seeds']))} · rendered in {r['seconds']:.2f} s · "
                f"precision {r['precision']}")
        yield r["gif"], r["strip"], r["gif"], r["mp4"], note

    def on_random_seed():
        return str(random.randrange(0, LIMITS["max_seed"]))

    def table_rows(rows: list[dict]) -> list[list]:
        return [[row[c] if row[c] is not None else "" for c in JOB_COLUMNS] for row in rows]

    def jobs_table():
        return table_rows(service.jobs())

    def on_train(generator, first, second, corpus, preset, iterations, lr, loss):
        try:
            job = service.submit_training(generator, first, second, corpus=corpus or None, preset=preset,
                                          iterations=iterations, lr=lr, loss=loss or None)
        except ServiceError as e:
            return f"⚠️ {e}", jobs_table()
        return f"Queued job `{job['id']}`: {job['dipoles']} ({job['total']} iterations).", jobs_table()

    def on_cancel(job_id):
        try:
            job = service.cancel((job_id or "").strip())
        except ServiceError as e:
            return f"⚠️ {e}", jobs_table()
        return f"Job `{job['id']}` is {job['status']}" + (" (stopping…)" if job["status"] == "running" else "."), jobs_table()

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
        with gr.Tab("Explore", id="explore"):
            with gr.Row():
                generator = gr.Dropdown(generator_choices(), value=registry.DEFAULT_GENERATOR, label="Generator",
                                        scale=2)
                path = gr.Dropdown(path_choices(registry.DEFAULT_GENERATOR), label="Path (first ↔ second sentence)",
                                   scale=3, elem_id="path-picker")
            generator_note = gr.Markdown()
            with gr.Row():
                seeds = gr.Textbox("0", label="Seeds (e.g. 0 or 0, 1, 2 or 3-6)", scale=2, elem_id="seeds")
                random_seed = gr.Button("Random seed", scale=1)
                truncation = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation ψ", scale=2)
                steps = gr.Slider(1, LIMITS["max_steps"], value=8, step=1, label="Steps each way", scale=2)
                step_size = gr.Number(registry.GENERATORS[registry.DEFAULT_GENERATOR].step_size,
                                      label="Step size η", scale=1)
            go = gr.Button("Traverse", variant="primary", elem_id="traverse")
            status = gr.Markdown(elem_id="explore-status")
            gr.Markdown("Left: the animation, anchor beside the traversed image, progress bar below (orange: toward "
                        "the first sentence). Right: the strip, rows = seeds, columns = steps −T … +T, anchor framed.")
            with gr.Row():
                gif = gr.Image(show_label=False, type="filepath", elem_id="gif", scale=1)
                strip_image = gr.Image(show_label=False, type="filepath", elem_id="strip", scale=2)
            with gr.Row():
                gif_download = gr.DownloadButton("Download GIF", elem_id="download-gif")
                mp4_download = gr.DownloadButton("Download MP4", elem_id="download-mp4")
        with gr.Tab("Train", id="train"):
            gr.Markdown("Type two contrasting sentences — positive steps will move toward the first — or pick a "
                        "pre-defined corpus. Training runs in the background; the path appears in **Explore** when done.")
            with gr.Row():
                train_generator = gr.Dropdown(generator_choices(), value=registry.DEFAULT_GENERATOR,
                                              label="Generator", scale=2)
                first = gr.Textbox(label="First sentence", placeholder="a red shape", scale=3, elem_id="first")
                second = gr.Textbox(label="Second sentence", placeholder="a blue shape", scale=3, elem_id="second")
            with gr.Row():
                corpus = gr.Dropdown([("— typed sentences —", "")] + [(k, k) for k in registry.CORPORA], value="",
                                     label="…or a pre-defined corpus")
                preset = gr.Radio(["quick", "paper"], value="quick", label="Preset")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    iterations = gr.Textbox(label="Iterations (empty: preset's)", placeholder="e.g. 400")
                    lr = gr.Textbox(label="Learning rate (empty: preset's)", placeholder="e.g. 0.02")
                    loss = gr.Dropdown([("preset's", ""), ("contrastive", "contrastive"), ("cosine", "cosine")],
                                       value="", label="Loss")
            train = gr.Button("Train in the background", variant="primary", elem_id="train-button")
            train_status = gr.Markdown(elem_id="train-status")
            jobs = gr.Dataframe(headers=JOB_COLUMNS, value=jobs_table(), interactive=False, label="Jobs",
                                elem_id="jobs")
            preview = gr.Image(label="Preview of the running (or latest) job: its first path from seed 0",
                               type="filepath", height=110, elem_id="preview")
            with gr.Row():
                cancel_id = gr.Textbox(label="Job id to cancel", scale=3)
                cancel = gr.Button("Cancel job", variant="stop", scale=1)
        timer = gr.Timer(1.0)

        generator.change(on_generator, generator, [path, generator_note, truncation, step_size],
                         api_name="select_generator")
        random_seed.click(on_random_seed, None, seeds, api_name="random_seed")
        go.click(on_traverse, [generator, path, seeds, truncation, steps, step_size],
                 [gif, strip_image, gif_download, mp4_download, status], api_name="traverse")
        train.click(on_train, [train_generator, first, second, corpus, preset, iterations, lr, loss],
                    [train_status, jobs], api_name="train")
        cancel.click(on_cancel, cancel_id, [train_status, jobs], api_name="cancel")
        timer.tick(on_tick, [generator, path, known_paths], [jobs, preview, path, known_paths], api_name="poll",
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
    service = Service(args.data)
    demo = build_demo(service)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, allowed_paths=[str(service.data_dir)],
                footer_links=["api", "gradio"])


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    main()
