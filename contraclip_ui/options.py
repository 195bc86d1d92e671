"""The app's command-line options (``python app.py --help``)."""
from __future__ import annotations

import argparse
import os


class AddGenerator(argparse.Action):
    """``--generator SOURCE``: one more (source, clip) pair; its CLIP is the ``--clip`` that follows, if any."""

    def __call__(self, parser, namespace, value, option_string=None):
        setattr(namespace, self.dest, [*getattr(namespace, self.dest), [value, None]])


class ClipOfLastGenerator(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        pairs = getattr(namespace, self.dest)
        if not pairs or pairs[-1][1] is not None:
            parser.error("--clip belongs to the --generator just before it")
        pairs[-1][1] = value


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="ContraCLIP Studio")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--data", default=None, help="folder for jobs, trained paths and outputs "
                        "(default: $CONTRACLIP_DATA or checkpoints/local)")
    parser.add_argument("--public", action="store_true", help="serve strangers as a Space does: each visitor sees "
                        "only their own and shared work, within quotas (sets $CONTRACLIP_PUBLIC=1)")
    parser.add_argument("--generator", action=AddGenerator, default=[], metavar="SOURCE",
                        help="add your own generator to the picker (repeatable): any checkpoint the CLI reads — our "
                             "folder, a rosinality .pt, an NVIDIA .pkl, a genforce ProgGAN — local or hf://…")
    parser.add_argument("--clip", action=ClipOfLastGenerator, dest="generator", metavar="SOURCE",
                        help="the CLIP of the --generator before it (default ViT-B-32/openai): a registry name, an "
                             "open_clip model folder, an OpenAI ViT-B/32 weights file, or hf://…")
    return parser
