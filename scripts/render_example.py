"""Pre-render the first one-click example (``presentation.EXAMPLES[0]``) into checkpoints/shapes/example/, which
the app shows on its first screen before anything is clicked. Rerun it when the Shapes world or its shipped
paths change.

    python scripts/render_example.py
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contraclip_core.examples import EXAMPLES  # noqa: E402
from contraclip_core.methods.contraclip.service import PRERENDERED  # noqa: E402
from contraclip_core.service import Service  # noqa: E402


def main() -> None:
    example = EXAMPLES[0]
    with tempfile.TemporaryDirectory() as data:
        service = Service(data, device="cpu", start_worker=False)
        r = service.method("contraclip").traverse(*example.row)
        PRERENDERED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(r["gif"], PRERENDERED / "example.gif")
        shutil.copyfile(r["strip"], PRERENDERED / "example.png")
        service.close()
    for f in sorted(PRERENDERED.iterdir()):
        print(f, f.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
