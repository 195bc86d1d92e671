"""ContraCLIP Studio — Gradio front end (layout and wiring only; the work is in contraclip_core).

Run: ``python app.py [--host 127.0.0.1] [--port 7860]``. The explorer and the training tab arrive with the app issue;
until then this page lists the generators and whether their weights can be had here.
"""
from __future__ import annotations

import argparse
import os

import gradio as gr

from contraclip_core import registry


def generator_table() -> list[list[str]]:
    rows = []
    for name, preset in registry.GENERATORS.items():
        if name == "shapes":  # alias of shapes-128
            continue
        where = "built in (offline)" if not preset.needs_hub else preset.source
        rows.append([name, preset.description, preset.arch, where])
    return rows


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="ContraCLIP Studio") as demo:
        gr.Markdown(
            "# ContraCLIP Studio\n"
            "Interpretable, text-driven non-linear paths in the latent space of pretrained GANs. "
            "The path explorer and background training arrive in the next release; the generators below load "
            "today through `contraclip_core.generators.from_pretrained`."
        )
        table = gr.Dataframe(headers=["name", "description", "architecture", "weights"], interactive=False)
        demo.load(generator_table, outputs=table, api_name="generators")
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args()
    build_demo().launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    main()
