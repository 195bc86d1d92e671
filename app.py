"""ContraCLIP Studio — the Space's entry point: parse the flags, open the service, build the page, launch it.

The page is ``contraclip_ui.build_demo`` (one module per tab, driven by the method registry); the work is in
``contraclip_core.service``. Run ``python app.py [--host 127.0.0.1] [--port 7860] [--data DIR] [--public]``. On a
Hugging Face Space the same file runs, public: strangers share the process (``contraclip_core/visitors.py``).
Only files made for download are served: the outputs folder and the shipped example, never jobs or trained results.
"""
from __future__ import annotations

import os
import sys

from starlette.middleware import Middleware

from contraclip_core import allocator
from contraclip_core.datadir import LOCK_NAME
from contraclip_core.errors import ContraCLIPError
from contraclip_core.methods.contraclip.service import PRERENDERED
from contraclip_core.methods.registry import METHODS
from contraclip_core.service import Service
from contraclip_core.visitors import PUBLIC_ENV
from contraclip_ui import build_demo, options
from contraclip_ui.layout import CSS, QUEUE_MAX_SIZE
from contraclip_ui.upload_guard import UploadGuard


def main() -> None:
    args = options.parser().parse_args()
    if args.public:
        os.environ[PUBLIC_ENV] = "1"
    allocator.tune()  # before the first render: see contraclip_core/allocator.py
    try:
        service = Service(args.data)
    except ContraCLIPError as e:  # e.g. the data folder is a file, read-only, or in use by another app
        sys.exit(f"ContraCLIP Studio cannot start: {e}")
    for source, clip in args.generator:  # loaded now: a bad file is a sentence here, not in the page
        try:
            service.add_generator(source, clip=clip)
        except ContraCLIPError as e:
            service.close()
            sys.exit(f"ContraCLIP Studio cannot add the generator {source}: {e}")
    demo = build_demo(service)
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_MAX_SIZE)
    data = service.data_dir
    # jobs (records, checkpoints, previews), what they trained, the lock and the anchors' latents are never served
    blocked = [data / "jobs", data / LOCK_NAME, service.outputs_dir / "anchors",
               *(data / m.results for m in METHODS.values())]
    # ≤ 1 file and ≤ 21 MB per upload request, 200 MB per client address per 10 minutes (contraclip_ui/upload_guard.py)
    guard = Middleware(UploadGuard, behind_proxy=bool(os.environ.get("SPACE_ID")))
    demo.launch(server_name=args.host, server_port=args.port, max_file_size="20mb", footer_links=["api", "gradio"],
                css=CSS, allowed_paths=[str(service.outputs_dir), str(PRERENDERED)],
                blocked_paths=[str(p) for p in blocked], app_kwargs={"middleware": [guard]})


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    main()
