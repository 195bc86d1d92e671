"""The Train tab: queue a ContraCLIP path job from two sentences (or a corpus), follow the visitor's jobs (all kinds
share the queue) as progress cards, a live preview and a table, cancel, delete or share one after a confirmation.
Layout and wiring only; the work is in ``service.submit("paths", …)`` and the service's shared job actions.

api_names: ``/train``, ``/cancel``, ``/delete_job``, ``/share``, ``/unshare``, ``/progress`` and ``/poll``, the last
two on the page's timer. ``/poll`` also refreshes Explore's path picker as jobs finish, so it takes Explore's shared
``generator`` and ``path`` (Explore comes first in the registry's page order); built without Explore it refreshes the
table and preview only. Every event takes ``page.who()`` (the visitor's token, the owner's secret) as its last inputs
and sees that visitor's jobs only (everybody's for the Space owner).

What the timers send is the visitor's own jobs, and in a public app nothing at all (Gradio's skip) when they did not
change since that session's last tick (``ticks``); the live preview goes as an image, only when it changed.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from contraclip_core import registry
from contraclip_core.inputs import ServiceError
from contraclip_core.methods.contraclip import objectives
from contraclip_core.service import Service
from contraclip_core.vocabulary import vocabulary_warning

from . import gpu_chunks, identity, presentation, ticks
from .explore import path_choices
from .layout import Page, generator_choices
from .presentation import escape

JOB_COLUMNS = ["id", "dipoles", "generator", "status", "iteration", "total", "loss", "eta_s", "error"]
# The objectives the tab offers (keys of objectives.OBJECTIVES), how the radio names them (as path and job labels
# do: objectives.SUFFIXES), and one line of explanation.
# "" is the preset's own (per family on the Shapes world, plain elsewhere: presets.QUICK).
UI_CHOICES = ("", "plain", "zero-shot", "pae-subspace", "pae-mixed")
LABELS = {"": "preset's", "plain": "plain", **objectives.SUFFIXES}
UI_INFO = ("plain: move the image embedding along the two sentences' difference (ContraCLIP). zero-shot: toward "
           "the first sentence as the CLIP's own classifier of the attribute reads it, and no further. PAE: change "
           "only the image's part in the sentence's attribute subspace (CLIP-PAE). Half PAE: the mean of plain and "
           "PAE. The Shapes world's preset picks per attribute the one that measured cleanest there: plain for "
           "shapes, PAE for size, for colours zero-shot whose second-sentence side turns the hue to the first "
           "colour's opposite, zero-shot for the rest (docs/PATHS.md).")


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
    who = page.who()
    quiet = service.public  # a tick whose answer did not change sends nothing (a local app: the table, as before)

    def visitor(token, secret, request, profile, listing=False):
        return identity.visitor(service, token, secret, request, profile, listing=listing)

    def jobs_table(v):
        return table_rows(service.jobs(v))

    def on_train(generator, first, second, corpus, preset, iterations, lr, loss, objective="", token=None,
                 secret=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            v = visitor(token, secret, request, profile)
            job = service.submit("paths", generator, first, second, corpus=corpus or None, preset=preset,
                                 iterations=iterations, lr=lr, loss=loss or None, objective=objective or None,
                                 visitor=v)
        except ServiceError as e:
            return f"⚠️ {escape(e)}", gr.skip()
        warning = f" ⚠️ {escape(job['warning'])}" if job.get("warning") else ""
        return (f"Queued job `{job['id']}`: {escape(job['dipoles'])} ({job['total']} iterations).{warning}",
                jobs_table(v))

    def on_sentences(generator, first, second):
        try:
            text = vocabulary_warning(generator, first or "", second or "")
        except ServiceError as e:
            text = str(e)
        return f"⚠️ {escape(text)}" if text else ""

    def act(action: str, job_id, token, secret, request, profile):
        """Cancel, delete, share or stop sharing the visitor's job: (status sentence, the visitor's table)."""
        job_id = (job_id or "").strip()
        try:
            v = visitor(token, secret, request, profile)
            if action == "cancel":
                job = service.cancel(job_id, v)
                return (f"Job `{job['id']}` is {escape(job['status'])}"
                        + (" (stopping…)" if job["status"] == "running" else "."), jobs_table(v))
            if action == "delete":
                job = service.delete_job(job_id, v)
                return f"Deleted job `{job['id']}` ({escape(job['dipoles'])}) and its path set.", jobs_table(v)
            job = service.share(job_id, v, shared=action == "share")
        except ServiceError as e:  # someone else's job reads as "no job …", like one that does not exist
            return f"⚠️ {escape(e)}", gr.skip()
        said = "is shared: every visitor sees its result, marked *shared*" if job["shared"] else "is no longer shared"
        return f"Job `{job['id']}` ({escape(job['dipoles'])}) {said}.", jobs_table(v)

    def ask(action: str, job_id, token, secret, request, profile):
        """The confirmation panel, its question and which "yes" buttons it shows (share: the one that applies)."""
        try:
            rows = service.jobs(visitor(token, secret, request, profile, listing=True))
        except ServiceError:
            rows = []
        row = next((r for r in rows if r["id"] == job_id), None)
        if action == "share" and row and row.get("shared"):
            action = "unshare"
        text, ok = presentation.confirmation(action, row)
        yes = [gr.update(visible=ok)] if action in ("cancel", "delete") else \
            [gr.update(visible=ok and action == "share"), gr.update(visible=ok and action == "unshare")]
        return gr.update(visible=True), text, *yes

    def handler(kind, action: str):
        """An event handler for ``action`` (``act`` or ``ask``): the job picker's value and who is asking."""
        def run(job_id, token=None, secret=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
            return kind(action, job_id, token, secret, request, profile)
        return run

    def on_progress(current, known, token=None, secret=None, request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None):
        try:
            v = visitor(token, secret, request, profile, listing=True)
        except ServiceError:
            return gr.skip(), gr.skip(), gr.skip()
        rows, memory = service.jobs(v), ticks.remembered(known)
        choices, value = presentation.job_choices(rows, current)
        cards = presentation.jobs_html(rows, lambda job_id: service.loss_curve(job_id, v))
        keys = {"cards": ticks.digest(cards), "picker": ticks.digest(choices)}
        same_picker = keys["picker"] == memory.get("picker") and value == current
        if quiet and keys == memory and same_picker:
            return gr.skip(), gr.skip(), gr.skip()  # nothing changed: nothing sent
        return (gr.skip() if quiet and keys["cards"] == memory.get("cards") else cards,
                gr.skip() if same_picker else gr.update(choices=choices, value=value), keys)

    def tick_jobs(rows, memory):
        """The table and the preview for the visitor's ``rows`` (each skipped when it did not change), the keys."""
        table, shown = table_rows(rows), live_preview(rows)
        keys = {"table": ticks.digest(table), "preview": ticks.preview_key(shown)}
        return (gr.skip() if quiet and keys["table"] == memory.get("table") else table,
                gr.skip() if keys["preview"] == memory.get("preview") else ticks.preview_image(shown), keys)

    def on_tick(generator, path_id, known, token=None, secret=None, request: gr.Request = None,
                profile: gr.OAuthProfile | None = None):
        try:
            v = visitor(token, secret, request, profile, listing=True)
        except ServiceError:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        memory = ticks.remembered(known)
        table, preview_out, keys = tick_jobs(service.jobs(v), memory)
        choices = path_choices(service, generator, v)
        keys["paths"] = ",".join(c for _, c in choices)
        picker = gr.skip() if keys["paths"] == memory.get("paths") else \
            gr.update(choices=choices, value=path_id or (choices[0][1] if choices else None))
        return table, preview_out, picker, gr.skip() if keys == memory else keys

    def on_tick_jobs(token=None, secret=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            v = visitor(token, secret, request, profile, listing=True)
        except ServiceError:
            return gr.skip(), gr.skip()
        return tick_jobs(service.jobs(v), {})[:2]

    def hide_confirmations():
        return gr.update(visible=False), gr.update(visible=False), gr.update(visible=False)

    def on_job_row(evt: gr.SelectData):
        row = evt.row_value if evt is not None else None
        return gr.update(value=row[0]) if row else gr.update()

    built_for = identity.page_visitor(service)  # what the page is built with: nobody's jobs in a public app
    known_paths = gr.State("")
    known_jobs = gr.State("")
    with gr.Tab("Train", id="train"):
        gr.Markdown("Type two contrasting sentences — positive steps will move toward the first — or pick a "
                    "pre-defined corpus. Training runs in the background; the path appears in **Explore** when done."
                    + (" Your jobs belong to this browser (or to your Hugging Face account when signed in): other "
                       "visitors see a result only once you **share** it." if service.public else ""))
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
            objective = gr.Radio([(LABELS[k], k) for k in UI_CHOICES], value="",
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
        progress = gr.HTML(presentation.jobs_html(service.jobs(built_for), lambda j: service.loss_curve(j, built_for)),
                           label="Jobs", elem_id="job-cards")
        preview = gr.Image(label="Live preview (seed 0)",
                           type="filepath", height=140, elem_id="preview")
        with gr.Row(elem_id="job-actions"):
            job_pick = gr.Dropdown([], label="Job", allow_custom_value=True, scale=3, min_width=240,
                                   elem_id="job-pick")
            cancel = gr.Button("Cancel job…", variant="stop", scale=1, min_width=140, elem_id="cancel-job")
            delete = gr.Button("Delete job and its path…", scale=1, min_width=140, elem_id="delete-job")
            share = gr.Button("Share result…", scale=1, min_width=140, elem_id="share-job")
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
        with gr.Column(visible=False, elem_id="confirm-share") as confirm_share:
            share_question = gr.Markdown()
            with gr.Row():
                yes_share = gr.Button("Yes, share it", variant="primary", elem_id="yes-share")
                yes_unshare = gr.Button("Yes, stop sharing", elem_id="yes-unshare")
                keep_private = gr.Button("No", elem_id="keep-private")
        if service.gpu_chunks:  # ZeroGPU: jobs advance in the owner's GPU requests
            gpu_chunks.build(service, visitor, job_pick, train_status, who)
        with gr.Accordion("All jobs as a table", open=False):
            jobs = gr.Dataframe(headers=JOB_COLUMNS, value=jobs_table(built_for), interactive=False, label="Jobs",
                                elem_id="jobs")

    train.click(on_train, [train_generator, first, second, corpus, preset, iterations, lr, loss, objective, *who],
                [train_status, jobs], api_name="train")
    for box in (first, second, train_generator):
        box.change(on_sentences, [train_generator, first, second], vocabulary_note, api_visibility="private")
    confirmations = [confirm_cancel, confirm_delete, confirm_share]
    for button, action, outputs in ((cancel, "cancel", [confirm_cancel, cancel_question, yes_cancel]),
                                    (delete, "delete", [confirm_delete, delete_question, yes_delete]),
                                    (share, "share", [confirm_share, share_question, yes_share, yes_unshare])):
        button.click(handler(ask, action), [job_pick, *who], outputs, api_visibility="private")
    for no in (keep, keep_path, keep_private):
        no.click(hide_confirmations, None, confirmations, api_visibility="private")
    for yes, action, name in ((yes_cancel, "cancel", "cancel"), (yes_delete, "delete", "delete_job"),
                              (yes_share, "share", "share"), (yes_unshare, "unshare", "unshare")):
        yes.click(handler(act, action), [job_pick, *who], [train_status, jobs], api_name=name).then(
            hide_confirmations, None, confirmations, api_visibility="private")
    jobs.select(on_job_row, None, job_pick, api_visibility="private")
    timer = page.clock()
    if explore:
        timer.tick(on_tick, [explore["generator"], explore["path"], known_paths, *who],
                   [jobs, preview, explore["path"], known_paths], api_name="poll", show_progress="hidden")
    else:
        timer.tick(on_tick_jobs, who, [jobs, preview], api_name="poll", show_progress="hidden")
    timer.tick(on_progress, [job_pick, known_jobs, *who], [progress, job_pick, known_jobs], api_name="progress",
               show_progress="hidden")
    return {}
