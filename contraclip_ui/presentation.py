"""How training jobs and results read to a person: human ETAs, job progress cards, loss sparklines, picker labels.

Plain strings and HTML only (nothing here knows about Gradio): the app shows what these return. Text is text:
whatever a visitor typed (and every message that may quote it) is HTML-escaped in HTML and Markdown-escaped
(``escape``) in the Markdown the page renders, so a sentence can neither fetch an image, make a link, nor fake a tag.
"""
from __future__ import annotations

import html
import math
from typing import Any, Callable, Sequence

from contraclip_core.costs import GPU
from contraclip_core.examples import Example

STATUS_COLOURS = {"queued": "#6b7280", "running": "#ea580c", "done": "#16a34a", "failed": "#dc2626",
                  "cancelled": "#6b7280"}
# What Markdown (Gradio's: CommonMark + GFM, raw HTML sanitised, $$ LaTeX) could read as syntax in running text:
# images and links ([ ] ( ) !), autolinks (the scheme's ":", "www.", "@"), HTML and entities (< > &), emphasis,
# code, strikethrough, tables, headings, lists, quotes, LaTeX. Each gets a backslash (CommonMark's escape for any ASCII
# punctuation): it is shown as itself and means nothing.
MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()<>#+-.!|~:@&$")


def escape(text: object) -> str:
    """``text`` as Markdown that renders to exactly that text, e.g. "![x](http://h/x.png)" →
    "\\!\\[x\\]\\(http\\://h/x\\.png\\)": no image, no link. Newlines become spaces (a status is one paragraph)."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else (" " if c in "\r\n" else c) for c in str(text))



def example_label(example: Example, path_label: str) -> str:
    return f"{path_label} · seed{'s' if ',' in example.seeds or '-' in example.seeds else ''} {example.seeds}"


def prerendered_note(example: dict[str, Any] | None) -> str:
    """The status line under a pre-rendered example (Markdown); "" when there is none."""
    if not example:
        return ""
    return (f"Example, rendered ahead of time: **{escape(example['label'])}** · seeds {escape(example['seeds'])}. "
            "Click **Traverse** or an example to render one yourself.")


def frame_at(frames: dict[str, Any] | None, step: Any) -> str | None:
    """The frame image of a traversal (``{"frames": [...], "steps": [...]}``) at ``step``; None when absent."""
    if not frames or not frames.get("frames"):
        return None
    try:
        return frames["frames"][frames["steps"].index(int(step))]
    except (ValueError, TypeError):
        return None


def _seconds(value: Any) -> float | None:
    """A number of seconds, or None when ``value`` is missing, not a number, infinite or negative."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        return None
    return s if math.isfinite(s) and s >= 0 else None


def human_eta(seconds: Any) -> str:
    """485.4 → "about 8 min"; 40 → "about 40 s"; 4900 → "about 1 h 22 min"; unknown or negative → ""."""
    s = _seconds(seconds)
    if s is None:
        return ""
    if s < 10:
        return "a few seconds"
    tens = int(s / 10 + 0.5) * 10
    if tens < 60:
        return f"about {tens} s"
    minutes = int(s / 60 + 0.5)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"about {int(hours / 24 + 0.5)} days"
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")



def loss_svg(points: Sequence[tuple[int, float]], width: int = 240, height: int = 56) -> str:
    """A small inline SVG line plot of a loss curve (iteration → loss), with its range written beside it;
    "" when there are fewer than two points."""
    if len(points) < 2:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = 3
    sx = (width - 2 * pad) / max(x1 - x0, 1)
    sy = (height - 2 * pad) / (y1 - y0) if y1 > y0 else 0.0
    coords = " ".join(f"{pad + (x - x0) * sx:.1f},{height - pad - (y - y0) * sy if sy else height / 2:.1f}"
                      for x, y in points)
    title = f"loss from {ys[0]:.4f} (iteration {xs[0]}) to {ys[-1]:.4f} (iteration {xs[-1]})"
    return (f'<svg class="loss-curve" role="img" aria-label="{title}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" style="max-width:100%;background:rgba(127,127,127,.08);'
            f'border-radius:4px"><title>{title}</title>'
            f'<polyline fill="none" stroke="#ea580c" stroke-width="1.5" points="{coords}"/></svg>'
            f'<span class="loss-range" style="font-size:.8em;opacity:.75;margin-left:.5em">loss {y1:.3g} … '
            f'{y0:.3g}</span>')


def duration(seconds: Any) -> str:
    """How long something took: 14.2 → "14 s"; 200 → "3 min 20 s"; 3900 → "1 h 5 min"; unknown → ""."""
    known = _seconds(seconds)
    if known is None:
        return ""
    s = int(known + 0.5)
    if s < 60:
        return f"{s} s"
    minutes, s = divmod(s, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {s} s" if s else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def gpu_estimate(seconds: Any) -> str:
    """On a CPU, what the rest of the job would take on a GPU, said as the estimate it is (contraclip_core/costs.py:
    the job's counted FLOPs at an assumed rate until a GPU has been measured): " (a GPU: about 4 min, estimated)"."""
    eta = human_eta(seconds)
    if not eta:
        return ""
    return f" ({GPU.name}: {eta}, {'measured rate' if GPU.measured else 'estimated'})"


def job_summary(row: dict[str, Any]) -> str:
    """One line on where a job stands: "iteration 9 of 600 · about 8 min left · loss 0.9765", "done · 600
    iterations in 14 s · loss 0.6487"."""
    status, it, total = row.get("status"), row.get("iteration") or 0, row.get("total") or 0
    loss = row.get("loss")
    loss_text = "" if loss is None else f" · loss {loss:.4f}"
    if status == "queued":
        return "waiting in the queue" + (f" · resumes at iteration {it} of {total}" if it else "")
    if status == "running":
        eta = human_eta(row.get("eta_s"))
        gpu = gpu_estimate(row.get("gpu_eta_s"))
        return (f"iteration {it} of {total}" + (f" · {eta} left{' here' if gpu else ''}" if eta else " · starting…")
                + gpu + loss_text)
    if status == "done":
        took = duration(row.get("seconds"))
        return f"done · {total} iterations" + (f" in {took}" if took else "") + loss_text
    if status == "failed":
        return f"failed at iteration {it} of {total}: {row.get('error') or 'unknown error'}"
    if status == "cancelled":
        return f"cancelled at iteration {it} of {total}"
    return str(status)


def fraction_done(row: dict[str, Any]) -> float:
    total = row.get("total") or 0
    if row.get("status") == "done":
        return 1.0
    return min(max((row.get("iteration") or 0) / total, 0.0), 1.0) if total else 0.0


def job_card(row: dict[str, Any], points: Sequence[tuple[int, float]] = ()) -> str:
    """One job as HTML: its sentences, status (and "shared"), a progress bar with the human ETA, and its loss
    curve. Everything from the job is HTML-escaped."""
    status = str(row.get("status", ""))
    colour = STATUS_COLOURS.get(status, "#6b7280")
    percent = 100 * fraction_done(row)
    label = html.escape(str(row.get("dipoles", "")))
    summary = html.escape(job_summary(row))
    job_id = html.escape(str(row.get("id", "")))
    shared = ' <span class="job-shared" style="color:#2563eb">· shared</span>' if row.get("shared") else ""
    mark = ' data-shared="1"' if row.get("shared") else ""
    note = f'<div class="job-note" style="font-size:.9em">{html.escape(str(row["note"]))}</div>' \
        if row.get("note") else ""  # where a waiting job stands (ZeroGPU: waiting for GPU time)
    return (
        f'<div class="job-card" data-job="{job_id}" data-status="{html.escape(status)}"{mark} style="border:1px solid '
        f'rgba(127,127,127,.35);border-radius:8px;padding:.6em .8em;margin:.4em 0">'
        f'<div style="display:flex;flex-wrap:wrap;justify-content:space-between;gap:.5em">'
        f'<strong class="job-label" style="overflow-wrap:anywhere">{label}</strong>'
        f'<span class="job-status" style="color:{colour};font-weight:600">{html.escape(status)}{shared}</span></div>'
        f'<div class="job-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
        f'aria-valuenow="{percent:.0f}" style="height:10px;border-radius:5px;background:rgba(127,127,127,.2);'
        f'margin:.4em 0;overflow:hidden"><div style="width:{percent:.1f}%;height:100%;background:{colour}"></div>'
        f'</div><div class="job-summary" style="font-size:.9em">{summary} '
        f'<span style="opacity:.6">· job {job_id}</span></div>{note}'
        f'<div class="job-curve" style="margin-top:.3em">{loss_svg(points)}</div></div>')


def jobs_html(rows: Sequence[dict[str, Any]], curve: Callable[[str], Sequence[tuple[int, float]]]) -> str:
    """Every job as a card (newest first, as ``rows`` come); ``curve(job_id)`` gives its loss points."""
    if not rows:
        return '<div class="job-card-empty" style="opacity:.7">No training jobs yet.</div>'
    return "".join(job_card(r, curve(str(r["id"]))) for r in rows)


def job_choice_label(row: dict[str, Any]) -> str:
    """How a job reads in the job picker: "running · a triangle ↔ a square · 1a2b3c" (stable while it runs, so
    the picker is not redrawn every second); a typed "[…]" shows as "(…)", so no label carries a fake tag."""
    label = str(row.get("dipoles", "")).translate(str.maketrans("[]", "()"))
    return f"{row.get('status')} · {label} · {str(row.get('id', ''))[:6]}"


def job_choices(rows: Sequence[dict[str, Any]], current: str | None) -> tuple[list[tuple[str, str]], str | None]:
    """The job picker's (label, id) choices, running and queued jobs first, and which to select: ``current``
    while it still exists, else the first running or queued job, else the newest job."""
    ordered = [r for r in rows if r.get("status") in ("running", "queued")] + \
              [r for r in rows if r.get("status") not in ("running", "queued")]
    choices = [(job_choice_label(r), str(r["id"])) for r in ordered]
    ids = [c[1] for c in choices]
    return choices, (current if current in ids else (ids[0] if ids else None))


def confirmation(action: str, row: dict[str, Any] | None) -> tuple[str, bool]:
    """The question asked (Markdown, the job's sentences escaped) before an action on the job ``row``:
    ``"cancel"``, ``"delete"``, ``"share"`` (show its result to every visitor) or ``"unshare"``; and whether the
    action applies (False: the text says why not, and there is nothing to confirm)."""
    if row is None:
        return "Pick a job first.", False
    what = (f"“{escape(row.get('dipoles', ''))}” ({escape(row.get('status'))}, iteration "
            f"{escape(row.get('iteration'))} of {escape(row.get('total'))})")
    active = row.get("status") in ("queued", "running")
    if action == "cancel":
        if not active:
            return f"Job {what} is not queued or running: there is nothing to cancel.", False
        return f"Cancel job {what}? Its progress so far will not become a path.", True
    if action in ("share", "unshare"):
        if row.get("status") != "done":
            return f"Job {what} has not finished: only a finished job's result can be shared.", False
        if action == "unshare":
            return (f"Stop sharing the result of job {what}? Other visitors will no longer see it.", True) \
                if row.get("shared") else (f"Job {what} is not shared.", False)
        if row.get("shared"):
            return f"The result of job {what} is shared already: every visitor sees it, marked *shared*.", False
        question = (f"Share the result of job {what} with every visitor of this app? They will see it in their "
                    "pickers, marked *shared*, with these sentences.")
        return question, True
    if active:
        return f"Job {what} is still {escape(row.get('status'))}: cancel it first, then delete it.", False
    return f"Delete job {what} and its trained path set? This cannot be undone.", True
