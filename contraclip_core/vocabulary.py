"""Words a generator's CLIP never learned: named before training, so a user knows why a path may not move."""
from __future__ import annotations

from . import registry


def vocabulary_warning(generator: str, *sentences: str) -> str:
    """A sentence naming the words the generator's CLIP never learned ("" when all are known or it is no tiny CLIP).

    The Shapes CLIP learned a fixed caption vocabulary: a dipole with other words ("purple", "a star") still trains,
    but toward whatever those unknown tokens happen to embed as.
    """
    preset = registry.GENERATORS.get(generator)
    if preset is None or preset.clip != "shapes-clip":
        return ""
    from .shapes_clip.captions import unknown_words, vocabulary

    unknown = unknown_words(" ".join(str(s) for s in sentences))
    if not unknown:
        return ""
    return (f"The Shapes CLIP never saw the word{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            f"it only knows {', '.join(sorted(vocabulary()))}. The path will still train, but may not move what "
            "you mean.")
