"""Resolve a weights *source* to a local file or folder, downloading through ``huggingface_hub`` when needed.

A source is one of:

- ``hf://org/repo/path/to/file`` (optionally ``hf://org/repo@revision/path/to/file``): one file of a Hub repo,
  fetched with ``hf_hub_download`` — so ``HF_HOME``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` are respected and a
  cached file is used without the network;
- a local file or folder path (absolute, or relative to the working directory, or to the project root).

Nothing here downloads at import time.
"""
from __future__ import annotations

import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .errors import ContraCLIPError, HubUnavailableError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class HubFile:
    """A parsed ``hf://`` source."""

    repo_id: str  # "org/repo"
    filename: str  # path inside the repo
    revision: str | None = None  # branch, tag or commit; None = the repo's default branch

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"hf://{self.repo_id}{rev}/{self.filename}"


def parse_hf_url(source: str) -> HubFile:
    """Parse ``hf://org/repo[@revision]/path/to/file``."""
    if not source.startswith("hf://"):
        raise ValueError(f"not an hf:// source: {source!r}")
    parts = source[len("hf://") :].split("/")
    if len(parts) < 3 or not all(parts):
        raise ContraCLIPError(
            f"{source!r} is not a valid Hub source; write it as hf://org/repo/path/to/file "
            "(optionally hf://org/repo@revision/path/to/file)"
        )
    org, repo, filename = parts[0], parts[1], "/".join(parts[2:])
    revision = None
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    return HubFile(repo_id=f"{org}/{repo}", filename=filename, revision=revision)


_REACHABLE: dict[str, tuple[float, bool]] = {}  # endpoint → (checked at, reachable)


def endpoint_reachable(timeout: float = 3.0, ttl: float = 60.0) -> bool:
    """Whether a TCP connection to the Hub endpoint (``HF_ENDPOINT``) opens within ``timeout`` s; cached ``ttl`` s.

    huggingface_hub retries failed connections with back-off for ~30 s; probing first lets an offline laptop
    fail in a moment with a clear message instead.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    endpoint = constants.ENDPOINT
    checked = _REACHABLE.get(endpoint)
    if checked and time.monotonic() - checked[0] < ttl:
        return checked[1]
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
        ok = True
    except OSError:
        ok = False
    _REACHABLE[endpoint] = (time.monotonic(), ok)
    return ok


@contextmanager
def _hub_errors(what: str, source: str, revision: str | None, repo_id: str, filename: str | None = None):
    """Turn huggingface_hub's failures into one ``HubUnavailableError`` sentence each."""
    from huggingface_hub import errors as hf_errors

    try:
        yield
    except hf_errors.LocalEntryNotFoundError as e:
        raise HubUnavailableError(
            f"{what} needs {source} from the Hugging Face Hub, which cannot be reached (or HF_HUB_OFFLINE is set) "
            "and it is not in the local cache. Connect to the internet once, or point to a local copy; "
            "the built-in Shapes world works offline."
        ) from e
    except hf_errors.RepositoryNotFoundError as e:
        raise HubUnavailableError(
            f"{what}: the Hub repository {repo_id!r} does not exist or is private (set HF_TOKEN for a private repo)."
        ) from e
    except hf_errors.RevisionNotFoundError as e:
        raise HubUnavailableError(f"{what}: the revision {revision!r} does not exist in {repo_id!r}.") from e
    except hf_errors.EntryNotFoundError as e:
        raise HubUnavailableError(f"{what}: the file {filename!r} is not in {repo_id!r}.") from e
    except (OSError, hf_errors.HfHubHTTPError) as e:  # connection refused, DNS failure, HTTP 5xx…
        raise HubUnavailableError(
            f"{what} needs {source} from the Hugging Face Hub, which could not be reached ({type(e).__name__}). "
            "The built-in Shapes world works offline."
        ) from e


def download(hub_file: HubFile, *, what: str = "this model") -> Path:
    """Download (or find in the local HF cache) one file; raise ``HubUnavailableError`` with advice on failure.

    When the Hub cannot be reached, a cached copy is used (``local_files_only``) and a missing one fails at once.
    """
    from huggingface_hub import hf_hub_download

    with _hub_errors(what, str(hub_file), hub_file.revision, hub_file.repo_id, hub_file.filename):
        return Path(hf_hub_download(hub_file.repo_id, hub_file.filename, revision=hub_file.revision,
                                    local_files_only=not endpoint_reachable()))


def snapshot(repo_id: str, revision: str | None, patterns: list[str], *, what: str) -> Path:
    """The files of one repo revision matching ``patterns``, downloaded (or found in the cache) in one snapshot
    folder, so files that belong together come from the same commit. Same offline rules as ``download``."""
    from huggingface_hub import snapshot_download

    source = f"hf://{repo_id}{'@' + revision if revision else ''} ({', '.join(patterns)})"
    with _hub_errors(what, source, revision, repo_id):
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns,
                                      local_files_only=not endpoint_reachable()))


def resolve(source: str | Path, *, what: str = "this model") -> Path:
    """Turn a source (``hf://…`` or a local path) into an existing local path."""
    if isinstance(source, str) and source.startswith("hf://"):
        return download(parse_hf_url(source), what=what)
    path = Path(source).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, PROJECT_ROOT / path]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ContraCLIPError(f"{what}: no file or folder at {str(source)!r}")
