"""Prompt corpora of attribute families, for the CLIP-PAE objective (contraclip_core/pae.py). Plain data.

Each family's prompts vary one attribute and keep everything else neutral, so their text embeddings span the
subspace of that attribute. A generator's domain (``DOMAIN_OF_CORPUS`` maps its registry corpus to one) selects the
families; a dipole trains against the family whose subspace holds most of its two sentences' difference
(``pae.choose_family``), unless one is named. Prompts are phrases; the generator's template turns them into
sentences, as for the dipole corpora in ``registry.CORPORA``.
"""
from __future__ import annotations

from ...colour_names import HUES
from ...shapes_clip.captions import FACTOR_NAMES, prompts


def _shapes() -> dict[str, list[str]]:
    """The Shapes world: the tiny CLIP's own caption wording (it knows no other), one factor per family and
    nothing else in each prompt (a family's subspace must not hold another factor's directions) — every factor the
    captions name, brightness, saturation and rotation included. Horizontal and vertical are two families, not one
    "position": with both axes in one subspace, a left/right path trained against it was as free to move the shape
    up or down (PAE moved y 0.51-0.61 x as far as x, three training runs)."""
    families = {factor: prompts(factor) for factor in FACTOR_NAMES}
    families["shape"].append("a shape")
    return families


PAE_CORPORA: dict[str, dict[str, list[str]]] = {
    "shapes": _shapes(),
    "faces": {
        "expression": ["a happy face", "a sad face", "an angry face", "a fearful face", "a surprised face",
                       "a disgusted face", "a neutral face", "a smiling face", "a crying face", "a laughing face",
                       "a frowning face", "a worried face", "a calm face", "a bored face", "a proud face",
                       "a shocked face", "a grinning face", "a confused face"],
        "age": ["a baby's face", "a child's face", "a teenager's face", "a young face", "a young adult's face",
                "a middle-aged face", "an old face", "an elderly face", "a face in its twenties",
                "a face in its forties", "a face in its sixties", "a face in its eighties", "a wrinkled old face"],
        "hair": ["a bald man", "a man with hair", "a face with blonde hair", "a face with black hair",
                 "a face with brown hair", "a face with red hair", "a face with grey hair", "a face with curly hair",
                 "a face with straight hair", "a face with long hair", "a face with short hair",
                 "a face with wavy hair", "a face with a fringe", "a face with a ponytail"],
        "facial hair": ["a man with a beard", "a shaved man", "a man with a moustache", "a man with stubble",
                        "a man with a goatee", "a man with a long beard", "a clean-shaven face"],
        "gender": ["a female face", "a male face", "a woman's face", "a man's face", "a girl's face", "a boy's face"],
        "makeup": ["a face with makeup", "a face without makeup", "a face with lipstick", "a face with eye shadow",
                   "a face with heavy makeup", "a face with natural makeup"],
        "eyes and mouth": ["a face with closed eyes", "a face with open eyes", "a face with open lips",
                           "a face with closed lips", "a face with large eyes", "a face with small eyes",
                           "a face with a large mouth", "a face with a small mouth"],
        "skin": ["a face with tanned skin", "a face with pale skin", "a face with dark skin", "a face with fair skin",
                 "a face with freckles", "a face with smooth skin"],
    },
    "animals": {
        "expression": ["a happy animal", "a sad animal", "a friendly animal", "an aggressive animal", "a calm animal",
                       "a scared animal", "a curious animal", "a sleepy animal", "an angry animal", "a playful animal"],
        "fur": ["an animal with long hair", "an animal with short hair", "an animal with curly fur",
                "an animal with fluffy fur", "an animal with white fur", "an animal with black fur",
                "an animal with brown fur", "an animal with grey fur", "an animal with spotted fur",
                "an animal with striped fur"],
        "face parts": ["an animal with big eyes", "an animal with small eyes", "an animal with big ears",
                       "an animal with small ears", "an animal with pointed ears", "an animal with floppy ears",
                       "an animal with a long nose", "an animal with a short nose"],
        "looks": ["a cute animal", "an ugly animal", "a beautiful animal", "a young animal", "an old animal",
                  "a fat animal", "a thin animal"],
    },
    "cars": {
        "body": ["a jeep", "a low car", "a sports car", "a city car", "a van", "a pickup truck", "a convertible",
                 "a sedan", "a hatchback", "an SUV", "a limousine", "a station wagon", "a coupe"],
        "era": ["a modern car", "a car from the sixties", "a car from the seventies", "a car from the eighties",
                "a car from the nineties", "a vintage car", "a futuristic car", "an antique car"],
        "colour": ["a red car", "a blue car", "a black car", "a white car", "a silver car", "a green car",
                   "a yellow car", "a grey car"],
        "condition": ["a new car", "an old car", "a rusty car", "a shiny car", "a dirty car", "a damaged car"],
    },
}

# A generator's dipole corpus (registry.GeneratorPreset.corpus) → its PAE domain.
DOMAIN_OF_CORPUS = {"shapes": "shapes", "attributes": "faces", "expressions": "faces", "complex": "faces",
                    "cats": "animals", "dogs": "animals", "cars": "cars"}


def families(domain: str, template: str = "{}") -> dict[str, list[str]]:
    """The domain's families as sentences (template applied)."""
    if domain not in PAE_CORPORA:
        raise KeyError(f"no PAE corpora for domain {domain!r}; choose one of {sorted(PAE_CORPORA)}")
    return {name: [template.format(p) for p in prompts] for name, prompts in PAE_CORPORA[domain].items()}


# Families whose classes lie on a circle, per domain: family → {prompt: angle in radians}; a prompt of the family that
# is not listed (a grey shape) has no angle. The Shapes world's colour words sit at their hue centres (colour_names,
# where each colour's hue range is defined once): "cyan" is as far from "red" as a hue can be, which the tiny CLIP's
# own embeddings do not show (docs/PATHS.md, the hue analysis). Used by the zero-shot-circle objective.
CIRCLES: dict[str, dict[str, dict[str, float]]] = {
    "shapes": {"colour": {p: HUES[name] for p in PAE_CORPORA["shapes"]["colour"] for name in HUES
                          if f" {name} " in f" {p} "}},
}


def circle_angles(domain: str, family: str) -> list[float | None] | None:
    """Per prompt of the family (in ``families`` order) its angle on the family's circle (None: no angle), or None
    if the family is not a circle."""
    circle = CIRCLES.get(domain, {}).get(family)
    if circle is None:
        return None
    return [circle.get(p) for p in PAE_CORPORA[domain][family]]
