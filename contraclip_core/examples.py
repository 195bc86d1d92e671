"""The one-click examples of the Explore tab: a generator, a shipped path and seeds each. All on the built-in Shapes
world with its shipped paths, so they work offline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Example:
    """A one-click example on the Explore tab."""

    generator: str
    path_id: str  # a PathChoice id, e.g. "shipped:shapes-corpus:0"
    seeds: str
    truncation: float = 1.0
    steps: int = 8
    step_size: float = 0.25

    @property
    def row(self) -> list[Any]:
        return [self.generator, self.path_id, self.seeds, self.truncation, self.steps, self.step_size]


EXAMPLES = [  # all on the built-in Shapes world with its shipped paths, so they work offline
    Example("shapes-128", "shipped:shapes-corpus:0", "0, 1, 2"),
    Example("shapes-128", "shipped:shapes-corpus:1", "3"),
    Example("shapes-128", "shipped:shapes-corpus:2", "4-5"),
    Example("shapes-128", "shipped:shapes-corpus:3", "7", steps=6),
    Example("shapes-128", "shipped:triangle-circle:0", "0, 1"),
]
