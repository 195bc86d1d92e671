"""Publish trained path sets to a Hugging Face Hub repo, with a generated model card and example GIFs.

The repo is laid out as the app reads it (``registry.hub_paths_folder``): one folder per generator, one sub-folder
per path set::

    README.md                              the repo's model card: every set of this upload, links to the others
    <generator>/<set>/paths.json           metadata (dipoles, generator, space, settings, metrics, …)
    <generator>/<set>/paths.safetensors    the paths
    <generator>/<set>/example_<k>.gif      path k traversed from seed 0
    <generator>/<set>/README.md            the set's own card

``publish`` needs a write token (``HF_TOKEN``, or a stored ``hf auth login``); ``stage`` builds the same folder
locally without the network (``python -m contraclip_core publish … --dry-run DIR``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ... import registry
from ...publishing import (
    check_repo_id,
    copy_files,
    destinations,
    generator_folder,
    hub_api,
    slug,
    upload,
)
from . import objectives, orientation
from .artefact import META_NAME, WEIGHTS_NAME, PathSet

CARD_TAGS = ["contraclip", "contraclip-studio", "gan", "latent-space", "clip", "interpretability"]
PAPER = "https://arxiv.org/abs/2206.02104"

def _metric_cell(evaluation: dict[str, Any] | None, k: int) -> str:
    if not evaluation:
        return "—"
    r = evaluation["per_path"][k]
    if r.get("target_rho") is None:
        return "no ground-truth target"
    mark = "✓✓" if r.get("clean") else ("✓" if r["passes"] else "✗")
    return (f"ρ {r['target_rho']:.2f} · Δ {r['target_change']:.2f} · off {r['off_target_max']:.2f} "
            f"({r['off_target_worst']}) {mark}")


def set_card(path_set: PathSet, where: str, repo_id: str, examples: Sequence[str]) -> str:
    """Markdown describing one set: generator, settings, dipoles with metrics and example GIFs, how to use it."""
    s, m = path_set.settings, path_set.metrics
    evaluation = m.get("shapes_eval")
    lines = [
        f"## `{where}`",
        "",
        f"- **Generator**: `{path_set.generator}` — latent space `{path_set.space}`"
        + (f" (style inputs 0…{path_set.layers})" if path_set.space == "w+" else "")
        + f", truncation ψ = {path_set.truncation:g}",
        f"- **Method**: {path_set.method}"
        + (f", CLIP `{s['clip']}`" if "clip" in s else "")
        + (f", {s['loss']} loss" if "loss" in s else "")
        + (f" (τ = {s['tau']:g})" if s.get("loss") == "contrastive" and "tau" in s else ""),
        f"- **Training**: {path_set.iterations} iterations"
        + (f", batch {s['batch_size']}" if "batch_size" in s else "")
        + (f", Adam lr {s['lr']:g}" if "lr" in s else "")
        + (f", {s['num_pairs']} support-vector pairs per path" if "num_pairs" in s else "")
        + (f", ε ∈ ±[{s['eps_min']:g}, {s['eps_max']:g}]" if "eps_min" in s else "")
        + (f", seed {s['seed']}" if "seed" in s else "")
        + (f"; {m['train_seconds']:g} s" if "train_seconds" in m else "")
        + (f"; created {path_set.created}" if path_set.created else ""),
    ]
    if evaluation:
        lines.append(f"- **Evaluation** (Shapes world, exact ground truth, {evaluation['seeds']} seeds, "
                     f"{evaluation['steps']} steps of η = {evaluation['step_size']:g} each way): ρ = mean Spearman "
                     "ρ(step, target), Δ = target change and off = largest other change, in population std; "
                     "✓ = ρ ≥ 0.9, Δ ≥ 1, off < Δ; ✓✓ = clean: ρ ≥ 0.95, Δ ≥ 1.5, off ≤ 0.5 Δ")
    else:
        lines.append("- **Evaluation**: none recorded (only the Shapes world has exact ground truth)")
    lines.append(f"- **Objective**: {objectives.describe(s)}")
    checks = [orientation.record_of(m, k) for k in range(len(path_set.dipoles))]
    if any(checks):  # sets trained before the check have none
        flipped = [str(k) for k, r in enumerate(checks) if r and r.get("flipped")]
        lines.append(f"- **Orientation check** (after training, each path's CLIP-space movement along its dipole; one "
                     f"going the wrong way is flipped): {sum(r is not None for r in checks)} of {len(checks)} paths "
                     "checked, " + (f"flipped: path {', '.join(flipped)}" if flipped else "none flipped"))
    lines += ["", "| # | positive steps toward | negative steps toward | metrics | example (seed 0) |",
              "|---|---|---|---|---|"]
    for k, (first, second) in enumerate(path_set.dipoles):
        gif = f"![path {k}]({examples[k]})" if k < len(examples) else "—"
        lines.append(f"| {k} | {first} | {second} | {_metric_cell(evaluation, k)} | {gif} |")
    lines += [
        "",
        "```python",
        "from contraclip_core.methods.contraclip.artefact import PathSet",
        f'paths = PathSet.from_pretrained("hf://{repo_id}/{where}")',
        "```",
    ]
    return "\n".join(lines)


def repo_card(repo_id: str, sections: list[str], others: Sequence[str]) -> str:
    """The repo's model card (YAML front matter + every section)."""
    tags = "\n".join(f"- {t}" for t in CARD_TAGS)
    lines = [
        "---", "library_name: contraclip-studio", "license: mit", "tags:", tags, "---", "",
        f"# ContraCLIP paths: {repo_id}", "",
        f"Interpretable, text-driven non-linear paths in GAN latent spaces, trained with "
        f"[ContraCLIP]({PAPER}) in ContraCLIP Studio. Each path is named by two contrasting sentences (a dipole): "
        "positive steps move toward the first.", "",
        f"To see them in ContraCLIP Studio: `CONTRACLIP_PATHS_REPO={repo_id} python app.py` — they are listed in "
        "the path picker marked *Hub*.", "",
    ]
    lines += [section + "\n" for section in sections]
    if others:
        lines += ["## Other path sets in this repo", ""] + [f"- `{o}`" for o in others] + [""]
    return "\n".join(lines)


def stage(folders: Sequence[str | Path], out: str | Path, *, repo_id: str, examples: bool = True,
          device: str = "cpu", existing: Sequence[str] = ()) -> list[str]:
    """Build the upload folder in ``out``; returns the repo folders (``<generator>/<set>``) of the staged sets.

    Every set is validated first (loads, and fits its generator when examples are rendered); nothing is written
    for an upload that would fail half-way.
    """
    from ...media import save_gif
    from .traversal import traverse

    out = Path(out)
    loaded = destinations(folders, lambda f: PathSet.load(f, device=device),
                          lambda f, ps: f"{generator_folder(ps.generator)}/{slug(ps.name or f.resolve().name)}",
                          "path sets")
    generators: dict[str, Any] = {}
    if examples:
        from ...generators import from_pretrained

        for where, folder, path_set in loaded:
            if path_set.generator not in generators:
                generators[path_set.generator] = from_pretrained(path_set.generator, device=device)
            path_set.check_fits(generators[path_set.generator], str(folder), path_set.generator)
    sections = []
    for where, folder, path_set in loaded:
        dest = out / where
        copy_files(folder, dest, (META_NAME, WEIGHTS_NAME))
        gifs: list[str] = []
        if examples:
            g = generators[path_set.generator]
            for k in range(len(path_set.dipoles)):
                t = traverse(g, path_set, k, [0], steps=6, step_size=registry.step_size_for(path_set.generator))
                save_gif(t, dest / f"example_{k}.gif", thumb=min(g.resolution, 192))
                gifs.append(f"example_{k}.gif")
        (dest / "README.md").write_text(set_card(path_set, where, repo_id, gifs) + "\n")
        sections.append(set_card(path_set, where, repo_id, [f"{where}/{gif}" for gif in gifs]))
    others = sorted(set(existing) - {w for w, _, _ in loaded})
    (out / "README.md").write_text(repo_card(repo_id, sections, others))
    return [w for w, _, _ in loaded]


def existing_sets(api: Any, repo_id: str, revision: str | None) -> list[str]:
    """``<generator>/<set>`` folders already in the repo (none if it does not exist yet)."""
    try:
        files = api.list_repo_files(repo_id, revision=revision)
    except Exception:  # noqa: BLE001 - a new repo, or no read access yet: nothing to link to
        return []
    return sorted(f[: -len(META_NAME) - 1] for f in files if f.endswith(f"/{META_NAME}") and f.count("/") == 2)


def publish(folders: Sequence[str | Path], repo_id: str, *, revision: str | None = None, private: bool = False,
            message: str | None = None, examples: bool = True, device: str = "cpu", api: Any = None) -> Any:
    """Upload path sets to ``repo_id`` (created if missing) in one commit; returns huggingface_hub's CommitInfo.

    ``api`` defaults to ``huggingface_hub.HfApi`` with the token from the environment; anything with the same
    ``create_repo``/``list_repo_files``/``upload_folder`` methods can stand in for it.
    """
    check_repo_id(repo_id)
    api = hub_api(api)
    existing = existing_sets(api, repo_id, revision)
    return upload(api, repo_id, lambda tmp: stage(folders, tmp, repo_id=repo_id, examples=examples, device=device,
                                                  existing=existing),
                  "Add ContraCLIP path sets", message=message, revision=revision, private=private)
