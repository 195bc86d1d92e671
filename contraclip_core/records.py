"""Typed reading of JSON records from disk: every field is checked before use, none is trusted.

``Fields(obj, source)`` wraps one decoded JSON object; each accessor returns a value of the promised type and range
or raises ``RecordError`` with one sentence naming the file and the field, e.g.
``jobs/abc/job.json: 'created' must be a number, got str``. ``read_json`` reads a bounded file first.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from .errors import RecordError

MAX_RECORD_BYTES = 4 * 1024 * 1024  # a job or path-set description is a few kB; refuse anything near this
MAX_TEXT_CHARS = 100_000  # one string field (error messages are the longest)
_MISSING = object()


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def read_json(path: Path, source: str | None = None) -> Any:
    """The decoded JSON in ``path``; ``RecordError`` when it is too large, not UTF-8 or not JSON."""
    source = source or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            raise RecordError(f"{source} is {size} bytes, more than a record may be ({MAX_RECORD_BYTES})")
        data = path.read_bytes()
    except OSError as e:
        raise RecordError(f"{source} cannot be read: {e.strerror or e}") from e
    try:
        return json.loads(data)
    except UnicodeDecodeError as e:
        raise RecordError(f"{source} is not text (binary or not UTF-8 at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise RecordError(f"{source} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e
    except (ValueError, RecursionError) as e:
        raise RecordError(f"{source} is not valid JSON ({type(e).__name__})") from e


class Fields:
    """Checked access to the fields of one JSON object read from ``source``."""

    def __init__(self, obj: Any, source: str, what: str = "a JSON object"):
        if not isinstance(obj, dict):
            raise RecordError(f"{source} must hold {what}, got {_kind(obj)}")
        self.obj, self.source = obj, source

    def fail(self, key: str, must: str, value: Any = _MISSING) -> RecordError:
        got = "it is missing" if value is _MISSING else f"got {_kind(value)}"
        if value is not _MISSING and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            got += f" {value!r:.60}"
        return RecordError(f"{self.source}: {key!r} must be {must}, {got}")

    def _get(self, key: str, default: Any) -> Any:
        value = self.obj.get(key, _MISSING)
        if value is _MISSING and default is _MISSING:
            raise self.fail(key, "present")
        return default if value is _MISSING else value

    def number(self, key: str, lo: float = -math.inf, hi: float = math.inf, *, integer: bool = False,
               default: Any = _MISSING, nullable: bool = False, finite: bool = True) -> Any:
        """An int (``integer``) or float in [lo, hi]; None allowed when ``nullable``; NaN/inf refused if ``finite``."""
        value = self._get(key, default)
        if value is None and nullable:
            return None
        kind = "a whole number" if integer else "a number"
        must = f"{kind} in [{lo:g}, {hi:g}]" + (" or null" if nullable else "")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, must, value)
        if integer and not isinstance(value, int):
            if not (math.isfinite(value) and value == int(value)):
                raise self.fail(key, must, value)
            value = int(value)
        if math.isnan(value) or math.isinf(value):
            if finite:
                raise self.fail(key, must, value)
            return float(value)
        if not lo <= value <= hi:
            raise self.fail(key, must, value)
        return int(value) if integer else float(value)

    def text(self, key: str, *, choices: Sequence[str] | None = None, max_chars: int = MAX_TEXT_CHARS,
             default: Any = _MISSING, nonempty: bool = False) -> str:
        value = self._get(key, default)
        if choices is not None:
            if value not in choices:
                raise self.fail(key, f"one of {list(choices)}", value)
            return value
        if not isinstance(value, str) or len(value) > max_chars or (nonempty and not value.strip()):
            must = f"{'non-empty ' if nonempty else ''}text of at most {max_chars} characters"
            raise self.fail(key, must, value)
        return value

    def flag(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def mapping(self, key: str, default: Any = _MISSING) -> dict[str, Any]:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self.fail(key, "a JSON object", value)
        return value

    def sub(self, key: str, default: Any = _MISSING) -> "Fields":
        """The nested object ``key``, checked the same way (its fields are named ``key.field``)."""
        return Fields(self.mapping(key, default), f"{self.source}: {key!r}")

    def sequence(self, key: str, *, min_len: int = 0, max_len: int, default: Any = _MISSING) -> list[Any]:
        value = self._get(key, default)
        if not isinstance(value, list) or not min_len <= len(value) <= max_len:
            raise self.fail(key, f"a list of {min_len} to {max_len} items", value)
        return value

    def sentences(self, key: str, *, min_len: int = 0, max_len: int, max_chars: int = 1000,
                  default: Any = _MISSING) -> list[str]:
        """A list of non-empty sentences."""
        items = self.sequence(key, min_len=min_len, max_len=max_len, default=default)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not 0 < len(item) <= max_chars:
                raise RecordError(f"{self.source}: {key!r} item {i} must be a sentence of 1 to {max_chars} "
                                  f"characters, got {_kind(item)}")
        return list(items)

    def sentence_pairs(self, key: str, *, min_len: int = 0, max_len: int, max_chars: int = 1000,
                       default: Any = _MISSING) -> list[tuple[str, str]]:
        """A list of [first, second] sentence pairs (dipoles)."""
        pairs = []
        for i, item in enumerate(self.sequence(key, min_len=min_len, max_len=max_len, default=default)):
            if (not isinstance(item, list) or len(item) != 2
                    or not all(isinstance(s, str) and 0 < len(s) <= max_chars for s in item)):
                shown = f"{len(item)} items" if isinstance(item, list) else _kind(item)
                raise RecordError(f"{self.source}: {key!r} item {i} must be two sentences [first, second], "
                                  f"got {shown}")
            pairs.append((item[0], item[1]))
        return pairs
