"""Named presets: generators, CLIP models, corpora. Plain data; the UI and the CLI read the keys.

Hub repo ids come from public pages and could not be verified by download from the machines this project is built
on; each can be overridden by passing any ``hf://org/repo/path`` or local path instead of a registry name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .catalogue import ALIASES, DEFAULT_GENERATOR, DOMAIN_CORPORA, DOMAINS, GENERATORS, GeneratorPreset  # noqa: F401
from .catalogue import add_generator, canonical_names, generator_label, step_size_for  # noqa: F401
from .catalogue import ENCODERS, EncoderPreset  # noqa: F401

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".pkl", ".bin", ".ckpt")


# --- generators: the catalogue (names, domains, sources, defaults) lives in catalogue.py --------------------------
for _alias, _name in ALIASES.items():
    GENERATORS[_alias] = GENERATORS[_name]

# Pre-trained path sets on the Hub: one repo, one folder per generator, one sub-folder per path set
# (<generator>/<set>/paths.json + paths.safetensors + example GIFs + README.md), as `publish` writes them.
# A Space owner points the app at their own repo with CONTRACLIP_PATHS_REPO=org/repo (or org/repo@revision);
# CONTRACLIP_PATHS_REPO=none turns Hub path sets off.
PATHS_REPO = "contraclip-studio/pretrained-paths"
PATHS_REPO_ENV = "CONTRACLIP_PATHS_REPO"


def paths_repo() -> str | None:
    """The Hub repo (``org/repo[@revision]``) pre-trained path sets come from; None when turned off."""
    repo = os.environ.get(PATHS_REPO_ENV, PATHS_REPO).strip().strip("/")
    return None if repo.lower() in ("", "none", "off") else repo


def hub_paths_folder(name: str) -> str | None:
    """``hf://org/repo[@rev]/folder`` holding the generator's pre-trained path sets (None: none configured)."""
    preset = GENERATORS[name]
    if preset.paths:
        return preset.paths.rstrip("/")
    repo = paths_repo()
    canonical = next(k for k, v in GENERATORS.items() if v is preset)  # aliases share their preset's folder
    return f"hf://{repo}/{canonical}" if repo else None


@dataclass(frozen=True)
class ClipPreset:
    model_name: str  # open_clip model name (or our own config name for the Shapes CLIP)
    source: str  # hf://… or local folder
    description: str
    needs_hub: bool = True


CLIP_MODELS: dict[str, ClipPreset] = {
    "ViT-B-32/openai": ClipPreset(
        model_name="ViT-B-32",
        source="hf://timm/vit_base_patch32_clip_224.openai/open_clip_model.safetensors",
        description="OpenAI CLIP ViT-B/32 (the ContraCLIP paper's model)",
    ),
    "shapes-clip": ClipPreset(
        model_name="shapes-clip",
        source="checkpoints/shapes/clip",
        description="tiny CLIP trained on the Shapes world (built in, offline)",
        needs_hub=False,
    ),
}

SENTENCE_TEMPLATE = "a photo of {}."


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(items) for b in items[i + 1 :]]


# Dipoles are (positive, negative) phrases; the template turns them into sentences. Positive steps go toward the first.
CORPORA: dict[str, list[tuple[str, str]]] = {
    "attributes": [
        ("a female face", "a male face"),
        ("an old face", "a young face"),
        ("a smiling face", "a sad face"),
        ("a bald man", "a man with hair"),
        ("a man with a beard", "a shaved man"),
        ("a face with makeup", "a face without makeup"),
        ("a face with closed eyes", "a face with open eyes"),
        ("a face with open lips", "a face with closed lips"),
        ("a face with tanned skin", "a face with pale skin"),
    ],
    "expressions": _pairs(
        ["a happy face", "a sad face", "a fearful face", "a disgusted face", "an angry face",
         "a face in surprise", "a neutral face"]
    ),
    "complex": [
        ("a man with a beard crying", "an angry shaved man"),
        ("a man with a beard crying", "a happy shaved man"),
        ("a man with a beard crying", "a shaved man with makeup"),
    ],
    "dogs": [
        ("a happy dog", "a sad dog"),
        ("a long haired dog", "a short haired dog"),
        ("a friendly dog", "an aggressive dog"),
        ("a dog with big eyes", "a dog with small eyes"),
    ],
    "cats": [
        ("a long haired cat", "a short haired cat"),
        ("a cute cat", "an ugly cat"),
        ("a cat with big ears", "a cat with small ears"),
    ],
    # The Shapes world (its CLIP was trained on captions like these; template "{}"). Shipped trained jointly as
    # `shapes-corpus`, and each alone as a set of its own with five more dipoles (docs/PATHS.md, "Shipped path sets").
    "shapes": [
        ("a red shape", "a blue shape"),
        ("a large shape", "a small shape"),
        ("a circle", "a square"),
        ("a shape on the left", "a shape on the right"),
        ("a shape at the top", "a shape at the bottom"),
        ("a shape on a light background", "a shape on a dark background"),
    ],
    "cars": [
        ("a jeep", "a low car"),
        ("a sports car", "a city car"),
        ("a modern car", "a car from the sixties"),
    ],
}


# --- corpora for the catalogue's domains (issue 18; defined in catalogue.py) -------------------------------------
CORPORA.update(DOMAIN_CORPORA)


def corpus_sentences(corpus: str, template: str) -> list[tuple[str, str]]:
    """A pre-defined corpus as (positive, negative) sentences with the template applied."""
    if corpus not in CORPORA:
        raise KeyError(f"unknown corpus {corpus!r}; choose one of {sorted(CORPORA)}")
    return [(template.format(a), template.format(b)) for a, b in CORPORA[corpus]]
