"""Publish trained mappers to a Hugging Face Hub repo with a model card, laid out like path sets::

    <generator>/mappers/<name>/mapper.json           metadata (objective, generator, space, CLIP, settings, metrics)
    <generator>/mappers/<name>/mapper.safetensors    the weights
    <generator>/mappers/<name>/README.md             the mapper's card

They load back with ``MapperSet.from_pretrained("hf://<repo>/<generator>/mappers/<name>")``. ``stage`` builds the
folder without the network; ``publish`` uploads it in one commit (write token from ``HF_TOKEN``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ...publishing import (
    check_repo_id,
    generator_folder,
    hub_api,
    slug,
    stage_with_cards,
    upload,
)
from .artefact import META_NAME, WEIGHTS_NAME, MapperSet

PAPERS = {"clip2gan": "https://arxiv.org/abs/2211.15045", "csla": "https://arxiv.org/abs/2210.04506"}


def card(ms: MapperSet, where: str, repo_id: str) -> str:
    """Markdown for one mapper: what it maps, how it was trained, what it measured, how to load it."""
    s, evaluation = ms.settings, ms.metrics.get("shapes_eval", {})
    lines = [
        "---", "library_name: contraclip-studio", "license: mit", "tags:", "- contraclip-studio", "- clip", "- gan",
        "- gan-inversion", "- text-to-image", "---", "",
        f"# `{where}`: CLIP → {ms.space} mapper ({ms.objective})", "",
        f"Maps a `{ms.clip}` embedding to a `{ms.space}` code {tuple(ms.latent_shape)} of `{ms.generator}`, trained "
        f"data-free on the generator's own samples with the [{ms.objective}]({PAPERS.get(ms.objective, '')}) "
        f"objective: {ms.iterations} iterations, batch {s.get('batch_size', '—')}, lr {s.get('lr', '—')}, "
        f"losses {s.get('losses', {})}, embedding noise {s.get('noise', '—')}; created {ms.created}.", "",
    ]
    if evaluation:
        t2i, inv = evaluation.get("text_to_image", {}), evaluation.get("inversion", {})
        lines += [f"Shapes-world evaluation: text → image accuracy {t2i.get('accuracy', float('nan')):.1%} on "
                  f"{t2i.get('captions')} held-out captions; inversion recovers {inv.get('per_factor')} "
                  f"(PSNR {inv.get('psnr_db', float('nan')):.1f} dB).", ""]
    lines += ["```python", "from contraclip_core.methods.mappers.artefact import MapperSet",
              f'mapper = MapperSet.from_pretrained("hf://{repo_id}/{where}")', "```", ""]
    return "\n".join(lines)


def stage(folders: Sequence[str | Path], out: str | Path, *, repo_id: str) -> list[str]:
    """Validate every mapper, then copy each with its card into ``out``; returns their repo folders."""
    return stage_with_cards(folders, out, MapperSet.load,
                            lambda f, s: f"{generator_folder(s.generator)}/mappers/{slug(s.name or f.resolve().name)}",
                            lambda item, where: card(item, where, repo_id),
                            (META_NAME, WEIGHTS_NAME), "mappers")


def publish(folders: Sequence[str | Path], repo_id: str, *, revision: str | None = None, private: bool = False,
            api: Any = None) -> Any:
    """Upload mappers to ``repo_id`` (created if missing) in one commit; returns huggingface_hub's CommitInfo."""
    check_repo_id(repo_id)
    return upload(hub_api(api), repo_id, lambda tmp: stage(folders, tmp, repo_id=repo_id), "Add mappers",
                  revision=revision, private=private)
