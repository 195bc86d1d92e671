"""Words a generator's CLIP never learned: named before training, so a user knows why a path may not move."""
from __future__ import annotations

from . import registry


def vocabulary_warning(generator: str, *sentences: str) -> str:
    """A sentence naming the words the generator's CLIP never learned ("" when all are known or it is no tiny CLIP).

    The Shapes CLIP learned a fixed caption vocabulary: a dipole with other words ("turquoise", "a star") still trains,
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


def sentence_warning(generator: str, dipoles: list[tuple[str, str]]) -> str:
    """What the generator's CLIP reads of typed dipoles: ``ServiceError`` when the two sentences of a dipole encode
    to the same tokens (the path would have no direction); else a sentence naming the words past the CLIP's context,
    which it never reads ("" when there are none)."""
    from .clip import encoded
    from .inputs import ServiceError

    preset = registry.GENERATORS.get(generator)
    if preset is None or not dipoles:
        return ""
    past: list[str] = []
    for first, second in dipoles:
        (a, past_a), (b, past_b) = encoded(preset.clip, first), encoded(preset.clip, second)
        if a == b:
            raise ServiceError(f"the two sentences read the same to this generator's CLIP ({preset.clip}): it reads "
                               "only the start of a sentence and ignores case and punctuation; make them differ there")
        past += past_a + past_b
    if not past:
        return ""
    return (f"This generator's CLIP reads only the first words of a sentence; it ignores "
            f"{', '.join(map(repr, dict.fromkeys(past)))}.")
