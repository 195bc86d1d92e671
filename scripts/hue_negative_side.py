"""Where the negative side of the stored hue runs takes a shape that starts beyond the second colour (issue 29 item 3).

For each hue run of the side-by-side (``scripts/shapes_compare.py``; its path sets are saved under runs/compare/,
which is local), take the anchors of seeds 0…255 whose hue lies strictly between the second colour and the first
colour's opposite, on the second colour's side of the circle (red/green: 120°…180°), and count those whose negative
end (8 steps of η = 0.25) is farther from the first colour than the anchor — what the first-colour target asks of
them. Heading for the second colour instead brings them back toward the first. Prints one line per run, with the
machine and date.

    python scripts/hue_negative_side.py                       # every stored hue run
    python scripts/hue_negative_side.py --only "a red shape__a green"   # runs whose key contains this
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import shapes_compare as compare  # noqa: E402
from contraclip_core.colour_names import HUES  # noqa: E402
from contraclip_core.groundtruth import hue_closeness  # noqa: E402

ANCHORS = range(256)
STEPS, STEP_SIZE = 8, 0.25


def colour_word(text: str) -> str | None:
    found = [name for name in HUES if f" {name} " in f" {text.lower()} "]
    return found[0] if len(found) == 1 else None


def beyond_second(hue: torch.Tensor, first: float, second: float) -> torch.Tensor:
    """Which hues (radians) lie strictly between ``second`` and the opposite of ``first``, on second's side."""
    side = 1.0 if math.sin(second - first) > 0 else -1.0  # the way round from first that reaches second first
    offset = torch.remainder(side * (hue - first), 2 * math.pi)  # 0 at first, growing toward second
    return (offset > torch.remainder(torch.tensor(side * (second - first)), 2 * math.pi)) & (offset < math.pi)


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = [l.split(":", 1)[1].strip() for l in cpuinfo.read_text().splitlines()
             if l.startswith("model name")] if cpuinfo.exists() else []
    return names[0] if names else platform.processor() or "CPU"


def main() -> None:
    from contraclip_core.generators import from_pretrained
    from contraclip_core.methods.contraclip.artefact import PathSet
    from contraclip_core.methods.contraclip.evaluate import traversal_attributes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="runs whose measurement key contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = from_pretrained("shapes-128")
    print(f"{datetime.date.today()} · {platform.machine()} · {cpu_name()} · anchors "
          f"{ANCHORS[0]}…{ANCHORS[-1]}, {STEPS} steps of η = {STEP_SIZE}")
    for path in sorted(compare.MEASUREMENTS.glob("*.json")):
        result = json.loads(path.read_text())
        first, second = (colour_word(s) for s in result["dipole"])
        saved = compare.PATH_SETS / path.stem
        if args.only not in path.stem or not (first and second) or not (saved / "paths.json").exists():
            continue
        path_set = PathSet.load(saved, generator=generator)
        anchor = generator.encode(generator.sample_z(list(ANCHORS)), path_set.view.space, path_set.truncation)
        hue = traversal_attributes(generator, path_set, 0, anchor, STEPS, STEP_SIZE)["hue"]  # (S, 2T+1)
        chosen = beyond_second(hue[:, STEPS], HUES[first], HUES[second])
        closeness = hue_closeness(hue[chosen], HUES[first])
        away = int((closeness[:, 0] < closeness[:, STEPS]).sum())
        print(f"{path.stem}: {away} of {int(chosen.sum())} anchors beyond {second} end farther from {first}", flush=True)


if __name__ == "__main__":
    main()
