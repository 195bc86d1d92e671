"""The Train tab: queue a ContraCLIP path job from two sentences (or a corpus), follow every job (all kinds share the
queue) as progress cards, a live preview and a table, cancel or delete one after a confirmation. Layout and wiring
only; the work is in ``service.submit("paths", …)`` and the service's shared job actions.

api_names: ``/train``, ``/cancel``, ``/delete_job``, ``/progress`` and ``/poll``, the last two on the page's timer.
``/poll`` also refreshes Explore's path picker as jobs finish, so it takes Explore's shared ``generator`` and ``path``
(Explore comes first in the registry's page order); built without Explore it refreshes the table and preview only.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from contraclip_core import registry
from contraclip_core.inputs import ServiceError
from contraclip_core.service import Service
from contraclip_core.vocabulary import vocabulary_warning

from . import presentation
from .explore import path_choices
from .layout import Page, generator_choices

JOB_COLUMNS = ["id", "dipoles", "generator", "status", "iteration", "total", "loss", "eta_s", "error"]
# The objectives the tab offers (keys of contraclip_core.methods.contraclip.objectives.OBJECTIVES), how the radio
# names them, and one line of explanation.
UI_CHOICES = ("plain", "pae-subspace")
LABELS = {"plain": "plain", "pae": "PAE (authors' augmentation)", "pae-subspace": "PAE"}
UI_INFO = ("plain: move the image embedding toward the sentence (ContraCLIP). PAE: change only the image's part in "
           "the sentence's attribute subspace (CLIP-PAE), so other attributes are not asked to move.")


def table_rows(rows: list[dict]) -> list[list]:
    return [[row[c] if row[c] is not None else "" for c in JOB_COLUMNS] for row in rows]


def live_preview(rows: list[dict]) -> str | None:
    """The preview to show: the running job's, else the newest job's that has one."""
    live = next((r for r in rows if r["status"] == "running" and r["preview"]), None)
    live = live or next((r for r in rows if r["preview"]), None)
    return live["preview"] if live else None


def build(service: Service, page: Page | None = None) -> dict[str, Any]:
    """Add the tab to the enclosing ``gr.Blocks`` and wire its events (the timer's on ``page.clock()``); it shares
    no components (``{}``)."""
    page = page or Page()
    explore = page.parts.get("explore")

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
        choices = path_choices(service, generator)
        ids = ",".join(v for _, v in choices)
        picker = gr.update() if ids == known else gr.update(choices=choices, value=path_id or (choices[0][1] if choices else None))
        return table_rows(rows), live_preview(rows), picker, ids

    def on_tick_jobs():
        rows = service.jobs()
        return table_rows(rows), live_preview(rows)

    known_paths = gr.State("")
    known_jobs = gr.State("")
    with gr.Tab("Train", id="train"):
        gr.Markdown("Type two contrasting sentences — positive steps will move toward the first — or pick a "
                    "pre-defined corpus. Training runs in the background; the path appears in **Explore** when done.")
        with gr.Row(elem_id="train-inputs"):
            train_generator = gr.Dropdown(generator_choices(service), value=registry.DEFAULT_GENERATOR,
                                          label="Generator", scale=2, min_width=260)
            first = gr.Textbox(label="First sentence", placeholder="a red shape", scale=3, min_width=200,
                               elem_id="first")
            second = gr.Textbox(label="Second sentence", placeholder="a blue shape", scale=3, min_width=200,
                                elem_id="second")
        with gr.Row():
            corpus = gr.Dropdown([("— typed sentences —", "")] + [(k, k) for k in registry.CORPORA], value="",
                                 label="…or a pre-defined corpus", min_width=220)
            preset = gr.Radio(["quick", "paper"], value="quick", label="Preset", min_width=160)
            objective = gr.Radio([(LABELS[k], k) for k in UI_CHOICES], value="plain",
                                 label="Objective", info=UI_INFO, elem_id="objective", min_width=220)
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
    timer = page.clock()
    if explore:
        timer.tick(on_tick, [explore["generator"], explore["path"], known_paths],
                   [jobs, preview, explore["path"], known_paths], api_name="poll", show_progress="hidden")
    else:
        timer.tick(on_tick_jobs, None, [jobs, preview], api_name="poll", show_progress="hidden")
    timer.tick(on_progress, [job_pick, known_jobs], [progress, job_pick, known_jobs], api_name="progress",
               show_progress="hidden")
    return {}
