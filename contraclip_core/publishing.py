"""The Hub upload step every method's ``publish`` shares: folder names, validation of every artefact before anything
is written, staging beside a generated model card, and one commit to the Hub (``huggingface_hub``; tests pass a
stand-in API). Knows no method: each ``methods/<name>/publish.py`` says what its artefact's card and files are.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from . import registry
from .errors import ContraCLIPError

T = TypeVar("T")


def slug(text: str) -> str:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in text.strip().lower())
    slug = "-".join(filter(None, slug.split("-"))).strip(".")
    if not slug:
        raise ContraCLIPError(f"{text!r} gives an empty folder name; name the path set (its folder) with letters")
    return slug[:96]


def generator_folder(name: str) -> str:
    """The repo folder of a generator: its canonical registry name (aliases resolved), else a slug of its source."""
    preset = registry.GENERATORS.get(name)
    if preset is not None:
        return next(k for k, v in registry.GENERATORS.items() if v is preset)
    return slug(name)


def destinations(folders: Sequence[str | Path], load: Callable[[Path], T], where: Callable[[Path, T], str],
                 what: str) -> list[tuple[str, Path, T]]:
    """Load (and so validate) every folder first; (repo folder, local folder, loaded object) for each. Two that would
    land in the same repo folder are refused before anything is written."""
    loaded: list[tuple[str, Path, T]] = []
    for folder in map(Path, folders):
        obj = load(folder)
        dest = where(folder, obj)
        if any(dest == w for w, _, _ in loaded):
            raise ContraCLIPError(f"two {what} would both be uploaded to {dest}: rename one (its folder)")
        loaded.append((dest, folder, obj))
    return loaded


def copy_files(folder: Path, dest: Path, names: Sequence[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(folder / name, dest / name)


def stage_with_cards(folders: Sequence[str | Path], out: str | Path, load: Callable[[Path], T],
                     where: Callable[[Path, T], str], card: Callable[[T, str], str], names: Sequence[str],
                     what: str) -> list[str]:
    """The staging of a file set without examples (edit models, mappers): validate all, then copy each one's
    ``names`` to ``out/<where>/`` beside its ``README.md`` card; returns the repo folders."""
    loaded = destinations(folders, load, where, what)
    for dest, folder, item in loaded:
        copy_files(folder, Path(out) / dest, names)
        (Path(out) / dest / "README.md").write_text(card(item, dest))
    return [w for w, _, _ in loaded]


def hub_api(api: Any = None) -> Any:
    """``api`` if given (tests pass a stand-in), else ``huggingface_hub.HfApi`` with the write token of the
    environment; one sentence if there is none."""
    if api is not None:
        return api
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if not token:
        raise ContraCLIPError("publishing needs a Hugging Face write token: set HF_TOKEN (or run `hf auth login`)")
    return HfApi(token=token)


def check_repo_id(repo_id: str) -> None:
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ContraCLIPError(f"the repo must be org/name (or user/name), got {repo_id!r}")


def upload(api: Any, repo_id: str, stage_into: Callable[[Path], list[str]], title: str, *, message: str | None = None,
           revision: str | None = None, private: bool = False) -> Any:
    """Stage into a temporary folder (which validates everything first), then create the repo if missing and
    upload the folder in one commit — ``message``, or ``<title>: <staged folders>``; returns huggingface_hub's
    CommitInfo."""
    from huggingface_hub.errors import HfHubHTTPError

    with tempfile.TemporaryDirectory(prefix="contraclip-publish-") as tmp:
        staged = stage_into(Path(tmp))
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            return api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=tmp, revision=revision,
                                     commit_message=message or f"{title}: {', '.join(staged)}")
        except (OSError, HfHubHTTPError) as e:
            raise ContraCLIPError(f"uploading to {repo_id} failed ({type(e).__name__}: {e}); check that HF_TOKEN "
                                  "can write there and that the Hub can be reached") from e


def add_publish_command(commands: Any, what: str, stage: Callable[..., list[str]], publish: Callable[..., Any]) -> None:
    """A method's ``publish`` CLI sub-command (``commands``: its ``argparse`` sub-parsers) for artefacts that stage
    with ``stage(folders, out, repo_id=…)`` and upload with ``publish(folders, repo_id)``; ``what``: "mappers"…"""
    p = commands.add_parser("publish", help=f"upload {what} with a model card")
    p.add_argument("folders", nargs="+")
    p.add_argument("--repo", required=True)
    p.add_argument("--dry-run", metavar="DIR", help="stage the upload in DIR, no network")

    def run(args: Any) -> int:
        if args.dry_run:
            print("\n".join(stage(args.folders, args.dry_run, repo_id=args.repo)))
        else:
            print(publish(args.folders, args.repo))
        return 0

    p.set_defaults(run=run)
