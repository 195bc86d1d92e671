"""Publish CF-CLIP edit models to a Hugging Face Hub repo with a model card: ``<generator>/edits/<name>/``
holding ``edit.json``, ``edit.safetensors`` and ``README.md``. ``stage`` builds the folder offline; ``publish``
uploads it in one commit (same token and error rules as path sets, ``contraclip_core.methods.contraclip.publish``)."""
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
from .artefact import META_NAME, WEIGHTS_NAME, EditSet

PAPER = "https://arxiv.org/abs/2207.02812"
CARD_TAGS = ["cf-clip", "contraclip-studio", "gan", "latent-space", "clip", "image-editing"]


def edit_card(edit_set: EditSet, where: str, repo_id: str) -> str:
    """Markdown model card: generator, space, CLIP, sentences, settings, measured quality, how to load it."""
    s, m = edit_set.settings, edit_set.metrics
    shown = edit_set.targets[:12]
    lines = [
        "---", "library_name: contraclip-studio", "license: mit", "tags:", *[f"- {t}" for t in CARD_TAGS], "---", "",
        f"# CF-CLIP edit model: {edit_set.name or where}", "",
        f"A text-conditioned latent mapper ([CF-CLIP]({PAPER})) trained in ContraCLIP Studio: give it a target "
        "sentence and a latent code, it returns the edited code in one forward pass.", "",
        f"- generator: `{edit_set.generator}`, latent space `{edit_set.space}`, truncation ψ = {edit_set.truncation}",
        f"- CLIP: `{edit_set.clip}`; source class “{edit_set.source_class}”; {len(edit_set.templates)} template(s)",
        f"- trained on {len(edit_set.targets)} target sentence(s), {edit_set.iterations} iterations: "
        + ", ".join(f"“{t}”" for t in shown) + (" …" if len(edit_set.targets) > len(shown) else ""),
        f"- losses: CLIP-NCE ×{s.get('nce_lambda')} (τ {s.get('tau')}), latent L2 ×{s.get('l2_lambda')}, "
        f"{s.get('clip_loss', 'cosine')} CLIP loss ×{s.get('clip_lambda')}"
        + (f", keep loss ×{s.get('keep_lambda')}" if s.get("keep_lambda") else "")
        + f"; λ = {s.get('residual_scale')}, text input {edit_set.text_input}, Adam lr {s.get('lr')}"
        + (" (cosine-decayed)" if s.get("lr_schedule") == "cosine" else "")
        + ("; mapper with a linear text → residual term" if s.get("text_skip") else "")
        + (f" and a text-gated linear map of the code (rank {s.get('gate_rank')})" if s.get("gate_rank") else ""),
    ]
    if m.get("edited_reached") is not None:
        lines += ["", "## Quality (Shapes world, exact ground truth, held-out sentences)", "",
                  f"named attributes reached {m['edited_reached']:.1%} (unedited: {m.get('unedited_reached', 0):.1%}); "
                  f"unnamed attributes moved {m['edited_unnamed']:.2f} std on average."]
    lines += ["", "## Use", "", "```python", "from contraclip_core.methods.cfclip.artefact import EditSet",
              f'edit = EditSet.from_pretrained("hf://{repo_id}/{where}")', "```", ""]
    return "\n".join(lines)


def stage(folders: Sequence[str | Path], out: str | Path, *, repo_id: str) -> list[str]:
    """Validate every edit model, then copy each to ``out/<generator>/edits/<name>/`` with its card."""
    return stage_with_cards(folders, out, EditSet.load,
                            lambda f, s: f"{generator_folder(s.generator)}/edits/{slug(f.resolve().name)}",
                            lambda item, where: edit_card(item, where, repo_id),
                            (META_NAME, WEIGHTS_NAME), "edit models")


def publish(folders: Sequence[str | Path], repo_id: str, *, revision: str | None = None, private: bool = False,
            api: Any = None) -> Any:
    """Upload edit models to ``repo_id`` (created if missing) in one commit; returns huggingface_hub's CommitInfo."""
    check_repo_id(repo_id)
    return upload(hub_api(api), repo_id, lambda tmp: stage(folders, tmp, repo_id=repo_id), "Add CF-CLIP edit models",
                  revision=revision, private=private)
