"""Tuning runs of the Shapes edit model for three-factor sentences (issue #29 item 4): train one setting, print its
scores. Every row of docs/EDITS.md's "Composing three factors" table is one invocation of this script.

    python scripts/cfclip_tuning.py NAME '{"gate_rank": 32, "text_input": "offset"}' [--seed 0] [--threads 1]
    python scripts/cfclip_tuning.py --gradients
    python scripts/cfclip_tuning.py --typed [--threads 1]

``--typed`` trains, as the app does for sentences a user types (at most 32: 2000 iterations), one mapper per TYPED set
with today's settings and with the settings shipped before issue #29 item 4 (normalised direction, no gate, constant
step), and prints each one's score on its own sentences (tuning seeds).

``--gradients`` trains nothing: on 64 seeded codes (4000–4063) it takes the gradient of the rivals loss of "a shape
in the centre" (among the three horizontal captions) and of "a medium shape" with respect to w, and prints how often
a descent step moves the head toward the middle class, by how far the code is from the middle (docs/EDITS.md,
departure 12).

The setting is ``edit_config("shapes-128", training_sentences())`` with the JSON's fields changed. Scored on the
tuning seeds 3000–3047 (never the seeds of the docs' tables, 0–63, of the tests, 1000–1047, or of the held-out
measurement, 5100000…): the ten middle-class sentences below (one and two factors: in training), the eight held-out
two-factor sentences (``vocab.HELD_OUT``), and TUNING_THREE, 24 three-factor sentences drawn (random.Random(0)) from
the caption grammar's three-factor captions outside the held-out list of issue #29 item 5, written here so that this
script never reads that list. One JSON line per run is appended to ``runs/cfclip_tuning.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contraclip_core.clip import load_clip  # noqa: E402
from contraclip_core.generators import from_pretrained  # noqa: E402
from contraclip_core.methods.cfclip.evaluate import evaluate_edits, reached_by_class, summary  # noqa: E402
from contraclip_core.methods.cfclip.train import EditTrainer, edit_config  # noqa: E402
from contraclip_core.methods.cfclip.vocab import HELD_OUT, training_sentences  # noqa: E402

TUNING_SEEDS = range(3000, 3048)
MIDDLE_SENTENCES = ["a medium shape", "a shape in the centre", "a shape in the middle", "a medium red shape",
                    "a medium square", "a red shape in the centre", "a square in the middle",
                    "a medium shape in the centre", "a shape in the centre at the top", "a small shape in the middle"]
TUNING_THREE = [
    "a yellow triangle at the top", "an orange circle on the left", "a grey square in the middle",
    "a medium purple shape on a light background", "a green circle on the right", "an orange triangle in the centre",
    "a medium pink shape at the bottom", "a small pink shape in the middle", "a medium yellow shape on the right",
    "a medium cyan shape on a light background", "a large orange square", "a small magenta shape on a dark background",
    "a shape on the right at the bottom on a light background", "a large red shape in the middle",
    "a small circle at the top", "a yellow shape on the right at the bottom",
    "a medium shape at the bottom on a light background", "an orange square in the middle",
    "a shape in the centre at the top on a dark background", "a large yellow shape at the top",
    "a green shape on the right in the middle", "a square on the right on a dark background",
    "an orange triangle on the right", "a blue circle on a dark background",
]


def configured(targets: list[str], changes: dict, seed: int = 0):
    """``edit_config("shapes-128", targets, seed)`` with ``changes`` applied; an unknown setting stops the script."""
    config = edit_config("shapes-128", targets, seed=seed)
    for key, value in changes.items():
        if not hasattr(config, key):
            raise SystemExit(f"no setting {key!r}")
        setattr(config, key, value)
    return config


TYPED = [["a medium shape"], ["a green square", "a shape in the centre"], ["a large red circle"],
         ["a small shape in the middle", "a blue triangle", "a shape on a dark background"]]
BEFORE = {"text_input": "direction", "gate_rank": 0, "lr_schedule": "constant"}  # the settings shipped before item 4


def typed_check(generator, clip) -> None:
    """Print, per TYPED set, named reached · unnamed change of a mapper trained with today's settings and before."""
    for sentences in TYPED:
        cells = []
        for changes in ({}, BEFORE):
            config = configured(sentences, changes)
            edit_set = EditTrainer(config, generator, clip).train()
            m = summary(evaluate_edits(generator, edit_set, clip, sentences, TUNING_SEEDS))
            cells.append(f"{m['edited_reached']:.1%} · {m['edited_unnamed']:.2f}")
        print(f"| {' / '.join(sentences)} | {config.iterations} | {cells[0]} | {cells[1]} |", flush=True)


def gradient_check(generator, clip) -> None:
    """Print, per band of |head| (whitened, std units), how often the rivals loss's descent direction moves the head
    toward 0 (the middle class) and how much of the gradient lies along the head."""
    import torch.nn.functional as F

    from contraclip_core.generators.shapes import HEADS
    from contraclip_core.methods.cfclip.model import text_table
    from contraclip_core.methods.cfclip.train import render_generator
    from contraclip_core.shapes_clip.captions import FACTORS, caption

    render = render_generator(generator, clip.image_size)
    heads = generator.head_whiten @ generator.heads.weight  # (12, w_dim): whitened head outputs per unit of w
    w = generator.encode(generator.sample_z(list(range(4000, 4064))), "w", 1.0).detach().requires_grad_(True)
    for factor, attribute, middle in (("horizontal", "x", "centre"), ("size", "size", "medium")):
        table = F.normalize(text_table(clip, [caption({factor: c}) for c in FACTORS[factor]], ["{}"]), dim=-1)
        e = F.normalize(clip.encode_images(render.synthesis(w, "w")).float(), dim=-1)
        target = torch.full((len(w),), FACTORS[factor].index(middle))
        grad, = torch.autograd.grad(F.cross_entropy(e @ table.T / 0.07, target, reduction="sum"), w)
        row = heads[HEADS[attribute]]
        h = ((generator.heads(w.detach()) - generator.head_mean) @ generator.head_whiten.T)[:, HEADS[attribute]]
        toward = torch.sign(-(grad @ row)) == -torch.sign(h)  # a descent step shrinks |h|
        along = (grad @ row).abs() / row.norm() / grad.norm(dim=1)
        print(f"{caption({factor: middle})!r}: descent moves {attribute} toward the middle on "
              f"{toward.float().mean():.0%} of {len(w)} codes")
        for lo, hi in ((0, 0.5), (0.5, 1), (1, 2), (2, 9)):
            band = (h.abs() >= lo) & (h.abs() < hi)
            if band.any():
                print(f"  |h| in [{lo}, {hi}): {int(band.sum())} codes, toward {toward[band].float().mean():.0%}, "
                      f"share of the gradient along the head {along[band].mean():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("changes", nargs="?", help="JSON object of EditTrainConfig fields to change")
    parser.add_argument("--gradients", action="store_true", help="print the middle-class gradient check and stop")
    parser.add_argument("--typed", action="store_true", help="compare today's and the earlier settings on typed sets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator, clip = from_pretrained("shapes-128"), load_clip("shapes-clip")
    if args.gradients:
        gradient_check(generator, clip)
        return
    if args.typed:
        typed_check(generator, clip)
        return
    if not args.name or args.changes is None:
        parser.error("give a NAME and the JSON of changes (or --gradients)")
    changes = json.loads(args.changes)
    config = configured(training_sentences(), changes, args.seed)
    start = time.monotonic()
    edit_set = EditTrainer(config, generator, clip).train()
    record = {"name": args.name, "changes": changes, "seed": args.seed,
              "train_s": round(time.monotonic() - start), "threads": args.threads, "date": time.strftime("%Y-%m-%d")}
    for key, sentences in (("middle", MIDDLE_SENTENCES), ("held_out_two", list(HELD_OUT)), ("three", TUNING_THREE)):
        m = summary(evaluate_edits(generator, edit_set, clip, sentences, TUNING_SEEDS))
        record[key] = [round(m["edited_reached"], 3), round(m["edited_unnamed"], 3)]
    record["middle_in_three"] = {key.split(" = ")[1]: round(value, 3) for key, value in
                                 reached_by_class(generator, edit_set, clip, TUNING_THREE, TUNING_SEEDS).items()}
    print(json.dumps(record), flush=True)
    out = ROOT / "runs" / "cfclip_tuning.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
