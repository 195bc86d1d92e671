"""The Train tab's ZeroGPU controls (built only when the service trains in GPU chunks, ``service.gpu_chunks``).

On ZeroGPU a job trains only inside a request of its owner (``contraclip_core/zerogpu.py``): a *Continue on GPU*
button runs one chunk of the picked job (or the visitor's oldest waiting one), and while the Train tab is open its
own timer runs the next chunk of the visitor's oldest waiting job — an inactive tab is not mounted, so a visitor who
leaves the tab stops spending their GPU quota. api_name: ``/continue_on_gpu``.
"""
from __future__ import annotations

from typing import Any, Callable

import gradio as gr

from contraclip_core import zerogpu
from contraclip_core.inputs import LIMITS, ServiceError
from contraclip_core.service import Service

from .presentation import escape

TICK_S = 5.0  # how often the open tab asks for the next chunk (a chunk in flight is not asked for twice)


def build(service: Service, visitor: Callable[..., Any], job_pick: gr.Dropdown, status: gr.Markdown,
          who: list[Any]) -> None:
    """Add the button and the chunk timer inside the Train tab; ``visitor(token, secret, request, profile)`` is the
    tab's way of knowing who asks."""
    run_chunk = zerogpu.chunk_runner(service)

    def waiting(v, job_id: str) -> dict[str, Any] | None:
        queued = [r for r in service.jobs(v) if r["status"] == "queued"]
        return next((r for r in queued if r["id"] == job_id), None) or (queued[-1] if queued else None)

    def on_continue(job_id, token=None, secret=None, request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None):
        try:
            v = visitor(token, secret, request, profile)
            row = waiting(v, (job_id or "").strip())
            if row is None:
                return "No job of yours is waiting for GPU time."
            row = run_chunk(row["id"], v)
        except ServiceError as e:
            return f"⚠️ {escape(e)}"
        where = f"iteration {row['iteration']} of {row['total']}"
        return f"Job `{row['id']}`: {escape(row['status'])}, {where}. {escape(row.get('note', ''))}".strip()

    gr.Markdown(f"This Space trains on ZeroGPU: a job advances in chunks of {LIMITS['gpu_chunk_s']} s of GPU time "
                "while this tab is open (or press **Continue on GPU**), each taken from your GPU quota.")
    button = gr.Button("Continue on GPU", elem_id="continue-gpu")
    button.click(on_continue, [job_pick, *who], status, api_name="continue_on_gpu")
    gr.Timer(TICK_S).tick(on_continue, [job_pick, *who], status, api_visibility="private", show_progress="hidden",
                          trigger_mode="once")
