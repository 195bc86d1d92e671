"""Training presets: the ContraCLIP paper's settings, and the project's quick settings per generator.

``paper``: D = 64 pairs, 20,000 iterations, batch = K, Adam lr 1e-4 (×0.1 at 90%), contrastive loss τ = 0.07,
ε ∈ ±[0.1, 0.2] (StyleGAN2 W+ ℓ = 11, ψ = 0.7; ProgGAN Z).
``quick``: what the app uses for a new dipole — a few hundred iterations at a higher learning rate with the cosine
loss, which measured better than the contrastive loss on the Shapes world both for a single new dipole (where the
contrastive loss has no in-batch negatives and takes the corpus's other dipoles instead) and for four paths trained
together: same target change, far smaller off-target change (docs/PATHS.md, scripts/shapes_quality.py).
"""
from __future__ import annotations

from ... import registry
from .train import TrainConfig

# Per-generator overrides of the quick preset (the generator's own latent scale lives in the registry).
QUICK = {
    # batch 16 from a pool of 256 anchors (each rendered and embedded once): the shape paths met the quality bars
    # on 3 of 3 training seeds, where batch 8 with fresh anchors met them on 1 of 3, in half the time (issue 13);
    # paths in whitened W: the largest off-target change fell to 0.26–0.47 × the target's (0.72–1.10 × in W itself)
    # on triangle/circle, circle/square, red/blue and left/right (issue 14, docs/PATHS.md)
    # per dipole the objective its attribute family measured best with (objectives.FAMILY_RULES: zero-shot — toward
    # the first sentence by the CLIP's own classifier — but plain for shape dipoles and PAE for size): median clean on
    # 9 of the 11 side-by-side dipoles and on all 3 with the new colour words, size dragging brightness 0.16 × its
    # change (zero-shot alone: 8 of 11, 0.49 ×; plain 4 of 11), no run backwards (issue 29, docs/PATHS.md)
    "shapes": dict(iterations=600, lr=0.05, num_pairs=16, loss="cosine", batch_size=16, anchor_pool=256, whiten=True,
                   objective="by-family"),
    # anchors from a pool of 256, each rendered and embedded once (lazily, 32 at a time), as the Shapes preset: a
    # step then renders and embeds only its shifted images — one of the levers that made a real-size iteration
    # several times cheaper on the CPU (issue 28; bench/training_cost.py, docs/TRAINING_COST.md)
    "default": dict(iterations=3000, lr=1e-3, num_pairs=64, loss="cosine", anchor_pool=256),
}
# A contrastive loss needs negatives; with fewer paths than this, the generator corpus's other dipoles serve.
MIN_PATHS_WITHOUT_NEGATIVES = 4


def dipole_sentences(generator: str, dipoles: list[tuple[str, str]] | None, corpus: str | None) -> list[tuple[str, str]]:
    """Dipoles as sentences: given ones as they are, or a corpus with the generator's template."""
    if dipoles:
        return [(str(a), str(b)) for a, b in dipoles]
    if corpus:
        preset = registry.GENERATORS.get(generator)
        return registry.corpus_sentences(corpus, preset.template if preset else registry.SENTENCE_TEMPLATE)
    raise ValueError("give at least one dipole (two sentences) or a corpus name")


def default_negatives(generator: str, dipoles: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The generator corpus's dipoles that are not being trained (and share no sentence with those that are)."""
    preset = registry.GENERATORS.get(generator)
    if preset is None or preset.corpus not in registry.CORPORA:
        return []
    used = {s.lower() for d in dipoles for s in d}
    corpus = registry.corpus_sentences(preset.corpus, preset.template)
    return [d for d in corpus if d[0].lower() not in used and d[1].lower() not in used]


def quick_key(generator: str) -> str:
    """Which of ``QUICK``'s settings the generator trains with."""
    gen_preset = registry.GENERATORS.get(generator)
    return "shapes" if gen_preset is not None and gen_preset.arch == "shapes" else "default"


def quick_objective(generator: str) -> str:
    """The objective a new dipole of this generator trains with when none is asked for (``TrainConfig``'s default
    where its quick settings name none)."""
    return QUICK[quick_key(generator)].get("objective", TrainConfig.objective)


def train_config(generator: str, preset: str = "quick", *, dipoles: list[tuple[str, str]] | None = None,
                 corpus: str | None = None, method: str = "contraclip", seed: int = 0) -> TrainConfig:
    """A full ``TrainConfig`` for the generator and preset."""
    sentences = dipole_sentences(generator, dipoles, corpus)
    if preset == "paper":
        values = dict(iterations=20_000, lr=1e-4, num_pairs=64, batch_size=len(sentences), loss="contrastive")
    elif preset == "quick":
        values = dict(QUICK[quick_key(generator)])
    else:
        raise ValueError(f"unknown preset {preset!r}; choose 'quick' or 'paper'")
    config = TrainConfig(dipoles=sentences, generator=generator, method=method, seed=seed, **values)
    if len(sentences) < MIN_PATHS_WITHOUT_NEGATIVES and config.loss == "contrastive":
        config.negatives = default_negatives(generator, sentences)
    return config
