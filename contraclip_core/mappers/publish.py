"""Publish trained mappers to a Hugging Face Hub repo with a model card, laid out like path sets::

    <generator>/mappers/<name>/mapper.json           metadata (objective, generator, space, CLIP, settings, metrics)
    <generator>/mappers/<name>/mapper.safetensors    the weights
    <generator>/mappers/<name>/README.md             the mapper's card

They load back with ``MapperSet.from_pretrained("hf://<repo>/<generator>/mappers/<name>")``. ``stage`` builds the
folder without the network; ``publish`` uploads it in one commit (write token from ``HF_TOKEN``).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from ..errors import ContraCLIPError
from ..publish import _slug, generator_folder
from .mapperset import META_NAME, WEIGHTS_NAME, MapperSet

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
    lines += ["```python", "from contraclip_core.mappers.mapperset import MapperSet",
              f'mapper = MapperSet.from_pretrained("hf://{repo_id}/{where}")', "```", ""]
    return "\n".join(lines)


def stage(folders: Sequence[str | Path], out: str | Path, *, repo_id: str) -> list[str]:
    """Validate every mapper, then copy each with its card into ``out``; returns their repo folders."""
    loaded = []
    for folder in folders:
        ms = MapperSet.load(folder)
        where = f"{generator_folder(ms.generator)}/mappers/{_slug(ms.name or Path(folder).resolve().name)}"
        if any(where == w for w, _, _ in loaded):
            raise ContraCLIPError(f"two mappers would both be uploaded to {where}: rename one")
        loaded.append((where, Path(folder), ms))
    for where, folder, ms in loaded:
        dest = Path(out) / where
        dest.mkdir(parents=True, exist_ok=True)
        for name in (META_NAME, WEIGHTS_NAME):
            shutil.copyfile(folder / name, dest / name)
        (dest / "README.md").write_text(card(ms, where, repo_id))
    return [w for w, _, _ in loaded]


def publish(folders: Sequence[str | Path], repo_id: str, *, revision: str | None = None, private: bool = False,
            api: Any = None) -> Any:
    """Upload mappers to ``repo_id`` (created if missing) in one commit; returns huggingface_hub's CommitInfo."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ContraCLIPError(f"the repo must be org/name, got {repo_id!r}")
    if api is None:
        from huggingface_hub import HfApi, get_token

        if not get_token():
            raise ContraCLIPError("publishing needs a Hugging Face write token: set HF_TOKEN (or `hf auth login`)")
        api = HfApi(token=get_token())
    with tempfile.TemporaryDirectory(prefix="contraclip-mappers-") as tmp:
        staged = stage(folders, tmp, repo_id=repo_id)
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            return api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=tmp, revision=revision,
                                     commit_message=f"Add mappers: {', '.join(staged)}")
        except OSError as e:
            raise ContraCLIPError(f"uploading to {repo_id} failed ({type(e).__name__}: {e})") from e
