"""The data folder the app owns: the sub-folders its owner names (the service: ``jobs/``, ``outputs/`` and each
method's results folder from the method registry — ``paths/``, ``edits/``, ``mappers/``) and ``.lock``.

``DataDir.open`` checks the layout and that each folder can really be written (by creating a file, since
permission bits say nothing to root), so a file where a folder belongs, or a read-only folder, is named in one
sentence rather than a traceback. One process owns a data folder at a time: an exclusive ``flock`` on ``.lock``,
which the kernel releases when the process ends, even on ``kill -9``; a second process is refused with a sentence
naming the first one's pid. With the lock held, temp files that a killed process left behind are swept.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

from .errors import DataDirError

LOCK_NAME = ".lock"
HINT = "choose another data folder with --data or CONTRACLIP_DATA"


def _first_file_above(folder: Path) -> Path | None:
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _make_folder(folder: Path, root: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = _first_file_above(folder) or folder
        what = "is a file, not a folder" if blocker == folder else f"is a file, so {folder} cannot be created"
        raise DataDirError(f"the data folder {root} cannot be used: {blocker} {what} (move it away, or {HINT})") from None
    except OSError as e:
        raise DataDirError(f"the data folder {root} cannot be used: {folder} cannot be created "
                           f"({e.strerror or e}); {HINT}") from None


def _check_writable(folder: Path, root: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise DataDirError(f"the data folder {root} is not writable: no file can be created in {folder} "
                           f"({e.strerror or e}); make it writable, or {HINT}") from None


def _lock(root: Path) -> IO[str] | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, one process per folder is then up to the user
        return None
    f = open(root / LOCK_NAME, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        owner = f.read().strip()
        f.close()
        who = f" (pid {owner})" if owner.isdigit() else ""
        raise DataDirError(f"the data folder {root} is already in use by another ContraCLIP Studio process{who}; "
                           f"stop that one, or {HINT}") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


class DataDir:
    """An opened, checked and locked data folder; ``close()`` releases the lock."""

    def __init__(self, root: Path, lock: IO[str] | None, swept: int):
        self.root, self._lock, self.swept = root, lock, swept

    @classmethod
    def open(cls, root: str | Path, subfolders: tuple[str, ...]) -> "DataDir":
        """Create the folder and its ``subfolders`` if needed, check they are folders and writable, take the lock,
        sweep stale temp files in them. Raises ``DataDirError`` with one sentence saying what is wrong and where."""
        root = Path(root).expanduser().absolute()
        for folder in (root, *(root / name for name in subfolders)):
            _make_folder(folder, root)
        for folder in (root, *(root / name for name in subfolders)):
            _check_writable(folder, root)
        lock = _lock(root)
        swept = 0
        for name in subfolders:  # left by a process killed mid-write (atomic writes)
            for tmp in root.glob(f"{name}/*/.*.tmp"):
                tmp.unlink(missing_ok=True)
                swept += 1
        return cls(root, lock, swept)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None
