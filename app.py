"""ContraCLIP Studio — the Space's entry point: parse the flags, open the service, build the page, launch it.

The page is ``contraclip_ui.build_demo`` (one module per tab, driven by the method registry); the work is in
``contraclip_core.service``. Run ``python app.py [--host 127.0.0.1] [--port 7860] [--data DIR]``. On a Hugging Face
Space the same file runs.
"""
from __future__ import annotations

import argparse
import os
import sys

from contraclip_core import allocator
from contraclip_core.errors import ContraCLIPError
from contraclip_core.service import Service
from contraclip_ui import build_demo
from contraclip_ui.layout import CSS


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
