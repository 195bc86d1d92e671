"""Training objectives: what CLIP-space shift Δt a latent step should cause, and an optional off-target penalty.

The Trainer asks its objective for ``target_shift(e, paths, eps)`` and ``penalty(delta_e, paths)``; the objective's
name and everything it was built from (``record()``) go into the path set's ``paths.json``.

- ``plain``: ContraCLIP's own target, ε · u^T_k(e), the normalised gradient of the CLIP-space dipole field.
- ``pae``: CLIP-PAE's target (contraclip_core/pae.py), |ε| · normalise(PAE(e, t±_k) − e), t⁺ for ε > 0 and t⁻ for
  ε < 0, with the subspace of the dipole's attribute family (contraclip_core/pae_corpora.py).
- ``pae-mixed``: the unit mean of the two (``MixedObjective``).
- ``zero-shot``: toward the first sentence as the CLIP's zero-shot classifier over the dipole's attribute family
  reads it, and on the negative side toward the second and away from the first (``ZeroShotObjective``).
- ``zero-shot-circle``: zero-shot, and where the dipole's family is a circle of classes (hues) a negative side that
  heads for the first class's opposite (``ZeroShotCircleObjective``).
- ``by-family``: per dipole, the objective its attribute family measured best with (``FAMILY_RULES``).
- Any can add ``off_target_weight`` · mean ‖Δe's unit component outside span(S_k ∪ {t⁺_k, t⁻_k})‖², which asks the
  image embedding to move only within the dipole's attribute subspace.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ... import registry
from ...clip import ClipModel, cached_text_embeddings
from . import pae, pae_corpora
from .model import CorpusSupportSets


def domain_of(generator: str) -> str:
    """The PAE domain (pae_corpora) of a registry generator; ValueError if it has none (a user's checkpoint, say)."""
    preset = registry.GENERATORS.get(generator)
    domain = pae_corpora.DOMAIN_OF_CORPUS.get(preset.corpus) if preset is not None else None
    if domain is None:
        raise ValueError(f"no attribute-family corpora are known for the generator {generator!r}, so the PAE "
                         "objective and the off-target penalty cannot be used; choose the plain objective.")
    return domain


class FamilySubspaces:
    """Per dipole: its attribute family, that family's corpus and PCA basis (k, E) in unit-normalised CLIP space."""

    def __init__(self, clip: ClipModel, generator: str, pos: torch.Tensor, neg: torch.Tensor,
                 components: int, family: str = ""):
        self.domain = domain = domain_of(generator)
        self.corpora = pae_corpora.families(domain, registry.GENERATORS[generator].template)
        if family and family not in self.corpora:
            raise ValueError(f"unknown attribute family {family!r} for {domain}; choose one of {sorted(self.corpora)}")
        self.embeddings = {name: cached_text_embeddings(clip, prompts).float().cpu()
                           for name, prompts in self.corpora.items()}
        self.bases = {name: pae.pca_basis(emb, components) for name, emb in self.embeddings.items()}
        self.family_of = [family or pae.choose_family(p.cpu(), n.cpu(), self.bases) for p, n in zip(pos, neg)]
        device = pos.device
        self.basis = [self.bases[f].to(device) for f in self.family_of]  # per dipole, (k_f, E)
        # span(S ∪ {t⁺, t⁻}) per dipole: what the penalty lets Δe move in.
        self.span = [pae.gram_schmidt(torch.cat([b, pae.unit(p)[None], pae.unit(n)[None]]))
                     for b, p, n in zip(self.basis, pos, neg)]

    def record(self) -> dict[str, Any]:
        used = sorted(set(self.family_of))
        return {
            "domain": self.domain,
            "family_of_dipole": list(self.family_of),
            "families": {f: {"corpus": self.corpora[f],
                             "basis": [[round(x, 6) for x in row] for row in self.bases[f].tolist()]} for f in used},
        }


class PlainObjective:
    name = "plain"

    def __init__(self, clip: ClipModel, css: CorpusSupportSets, pos: torch.Tensor, neg: torch.Tensor, *,
                 generator: str, off_target_weight: float = 0.0, components: int = pae.DEFAULT_COMPONENTS,
                 family: str = "", alpha: float = pae.DEFAULT_ALPHA, families: FamilySubspaces | None = None):
        self.css, self.pos, self.neg = css, pos.float(), neg.float()
        self.off_target_weight, self.alpha, self.components = float(off_target_weight), float(alpha), components
        needs = self.off_target_weight > 0 or self.name != "plain"
        if families is None and needs:  # ``families``: built once for the same dipoles by a caller (by-family)
            families = FamilySubspaces(clip, generator, self.pos, self.neg, components, family)
        self.families = families if needs else None

    @classmethod
    def check(cls, generator: str) -> None:
        """Raise the ValueError training would fail with if this objective cannot train paths for ``generator``
        (every objective but plain needs the generator's attribute-family corpora)."""
        if cls.name != "plain":
            domain_of(generator)

    def target_shift(self, e: torch.Tensor, paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Δt (B, E) for image embeddings e (B, E), path indices (B,) and signed step sizes ε (B,)."""
        return eps.unsqueeze(1) * self.css.direction(e, paths)

    def penalty(self, delta_e: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
        """off_target_weight · mean ‖unit(Δe) − P_{span(S ∪ {t⁺, t⁻})}(unit(Δe))‖² (0 when the weight is 0)."""
        if self.off_target_weight <= 0 or self.families is None:
            return delta_e.new_zeros(())
        d = pae.unit(delta_e)
        out = torch.zeros_like(d[:, 0])
        for k in paths.unique().tolist():
            mask = paths == k
            out[mask] = pae.outside(d[mask], self.families.span[k]).square().sum(-1)
        return self.off_target_weight * out.mean()

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"name": self.name, "off_target_weight": self.off_target_weight}
        if self.families is not None:
            rec.update(alpha=self.alpha, components=self.components, **self.families.record())
        return rec


class PaeObjective(PlainObjective):
    name = "pae"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        assert self.families is not None
        for k, basis in enumerate(self.families.basis):
            pae.check_texts(torch.stack([self.pos[k], self.neg[k]]), basis,
                            names=[f"the first sentence of path {k + 1}", f"the second sentence of path {k + 1}"])

    def target_shift(self, e: torch.Tensor, paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(e, dtype=torch.float32)
        for k in paths.unique().tolist():
            mask = paths == k
            pole = torch.where((eps[mask] > 0).unsqueeze(1), self.pos[k], self.neg[k])  # (b, E)
            out[mask] = pae.shift(e[mask].float(), pole, self.families.basis[k], self.alpha)
        return eps.abs().unsqueeze(1) * out


class SubspaceObjective(PlainObjective):
    name = "pae-subspace"

    def target_shift(self, e: torch.Tensor, paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(e, dtype=torch.float32)
        for k in paths.unique().tolist():
            mask = paths == k
            pole = torch.where((eps[mask] > 0).unsqueeze(1), self.pos[k], self.neg[k])  # (b, E)
            out[mask] = pae.subspace_shift(e[mask].float(), pole, self.families.basis[k])
        return eps.abs().unsqueeze(1) * out


class MixedObjective(SubspaceObjective):
    """Half ContraCLIP's target, half PAE's: unit(½·unit(sign ε · u_k(e)) + ½·unit(PAE-subspace shift)) · |ε|.
    On the Shapes world the plain target keeps shape paths from turning the shape (PAE drags rotation there) and
    the PAE one keeps size and position paths from dimming it (plain drags brightness); docs/PATHS.md measures it."""

    name = "pae-mixed"

    def target_shift(self, e: torch.Tensor, paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        plain = pae.unit(torch.sign(eps).unsqueeze(1) * self.css.direction(e, paths).float())  # (B, E)
        toward = pae.unit(super().target_shift(e, paths, eps))  # (B, E)
        return eps.abs().unsqueeze(1) * pae.unit(0.5 * plain + 0.5 * toward)


class ZeroShotObjective(PlainObjective):
    """Toward the first sentence as the CLIP's own zero-shot classifier over the dipole's attribute family reads it
    (classes: the two sentences and the family's prompts). ε > 0: ∇ log p(t⁺ | e), which stops at the first
    sentence's class; ε < 0: unit(∇ log p(t⁻ | e)) + unit(−∇ log p(t⁺ | e)), toward the second sentence and away
    from the first, so that past the second class the path keeps leaving the first instead of turning back to it.
    ContraCLIP's target is the gradient of a difference of two similarities, which has no stop at the first class
    (between red and blue it is largest 30° past red) — the hue paths overshot the first colour (docs/PATHS.md)."""

    name = "zero-shot"
    tau = 0.05  # the classifier's temperature (the tiny CLIP's logit scale is learned at ~1/0.05 … 1/0.01)
    same = 0.9999  # a family prompt this close (cosine) to one of the two sentences is that sentence

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        assert self.families is not None
        self.classes = []  # per dipole: (C, E), rows 0 and 1 the two sentences
        self.class_prompts: list[list[int]] = []  # per dipole and class: the family prompt it is, or is nearest
        for k, family in enumerate(self.families.family_of):
            poles = pae.unit(torch.stack([self.pos[k], self.neg[k]]).cpu())
            prompts = pae.unit(self.families.embeddings[family])
            similarity = prompts @ poles.t()  # (P, 2)
            keep = similarity.amax(dim=1) < self.same
            self.classes.append(torch.cat([poles, prompts[keep]]).to(self.pos.device))
            self.class_prompts.append(similarity.argmax(dim=0).tolist() + keep.nonzero().flatten().tolist())

    def target_shift(self, e: torch.Tensor, paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(e, dtype=torch.float32)
        for k in paths.unique().tolist():
            mask = paths == k
            toward_first, toward_second = pae.unit(pae.zero_shot_gradient(e[mask], self.classes[k], [0, 1], self.tau))
            negative = eps[mask] < 0
            toward_first[negative] = self.negative_side(k, e[mask][negative], toward_first[negative],
                                                        toward_second[negative])
            out[mask] = toward_first
        return eps.abs().unsqueeze(1) * out

    def negative_side(self, k: int, e: torch.Tensor, toward_first: torch.Tensor,
                      toward_second: torch.Tensor) -> torch.Tensor:
        """The unit target of dipole ``k``'s rows with ε < 0: toward the second sentence and away from the first."""
        return pae.unit(toward_second - toward_first)

    def record(self) -> dict[str, Any]:
        return {**super().record(), "tau": self.tau}


class ZeroShotCircleObjective(ZeroShotObjective):
    """Zero-shot, and where the dipole's attribute family is a circle of classes (pae_corpora.CIRCLES: the Shapes
    colour words at their hue centres) a negative side that leaves the first class for the one opposite it:
    ε < 0: −∇ Σ_c p(c | e) cos(angle_c − angle_first), the score the CLIP's classifier expects for the image falling
    as the hue turns from the first colour to its antipode. The zero-shot negative side heads for the second
    sentence's colour, which from a hue beyond it turns the image back toward the first (red ↔ green from cyan);
    and "away from the first" alone ends where this CLIP reads the first colour least, which is not its opposite (its
    least green is pink, not magenta) — docs/PATHS.md measures both. A class's angle comes from the family's table
    (the colour names' hue centres), each sentence's from the family prompt its text embedding is nearest. A dipole
    trains as zero-shot if its family is no circle, if its first sentence is nearer another family's prompt than
    any of this one's (it names no colour: "a big shape", which the tiny CLIP's word-blind family choice puts with
    the colours), or if it is nearest a class without an angle (grey)."""

    name = "zero-shot-circle"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        assert self.families is not None
        self.scores: list[torch.Tensor | None] = []  # per dipole: s_c for its classes, or None (zero-shot's target)
        self.first_angle: list[float | None] = []
        for k, family in enumerate(self.families.family_of):
            angles = pae_corpora.circle_angles(self.families.domain, family)
            names_it = self.nearest_family(self.pos[k]) == family  # "a big shape" may pick colour, naming none
            row = [angles[i] for i in self.class_prompts[k]] if angles and names_it else [None]
            first = row[0]  # the first sentence's class: its angle, if it has one
            self.first_angle.append(first)
            self.scores.append(None if first is None else torch.tensor(
                [0.0 if a is None else math.cos(a - first) for a in row], device=self.pos.device))

    def nearest_family(self, text: torch.Tensor) -> str:
        """The family holding the prompt nearest ``text`` (cosine) among all of the domain's families' prompts."""
        t = pae.unit(text.float().cpu())
        return max(self.families.embeddings, key=lambda f: float((pae.unit(self.families.embeddings[f]) @ t).max()))

    def negative_side(self, k: int, e: torch.Tensor, toward_first: torch.Tensor,
                      toward_second: torch.Tensor) -> torch.Tensor:
        """Down the closeness to the first class the classifier expects, where the dipole has a circle."""
        if self.scores[k] is None:
            return super().negative_side(k, e, toward_first, toward_second)
        return pae.unit(-pae.expected_score_gradient(e, self.classes[k], self.scores[k], self.tau))

    def record(self) -> dict[str, Any]:
        return {**super().record(), "first_angle_degrees": [None if a is None else round(math.degrees(a), 3)
                                                            for a in self.first_angle]}


class DipoleSubspaceObjective(PlainObjective):
    name = "pae-dipole"

    def target_shift(self, e: torch.Tensor, paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(e, dtype=torch.float32)
        for k in paths.unique().tolist():
            mask = paths == k
            out[mask] = pae.dipole_shift(self.pos[k], self.neg[k], self.families.basis[k]).expand(int(mask.sum()), -1)
        return eps.unsqueeze(1) * out


# Per PAE domain, the objective each attribute family's dipoles train with under ``by-family`` ("*": every family
# not named), chosen per family on the Shapes side-by-side (docs/PATHS.md: median of three training seeds per dipole)
# and checked on the held-out list nobody tuned for (docs/HELDOUT.md). Shapes: PAE keeps a size path from dimming the
# shape (0.16 × its change; zero-shot 0.49 ×), plain ContraCLIP keeps a shape path's full change (zero-shot stops
# short of the first shape's class and its Δ falls to 1.41 on triangle/square), and a colour path's negative side
# turns the hue to the first colour's opposite (zero-shot-circle: each of the seven colour dipoles clean on two or
# three of its three training runs, 20 of 21 runs; zero-shot five of seven dipoles, 17 runs).
FAMILY_RULES: dict[str, dict[str, str]] = {
    "shapes": {"*": "zero-shot", "shape": "plain", "size": "pae-subspace", "colour": "zero-shot-circle"},
}


class ByFamilyObjective(PlainObjective):
    """Each dipole trains with the objective its attribute family's rule names (``FAMILY_RULES`` of the generator's
    domain): one objective per family where the families measure differently, as a user would pick per dipole if
    they had the ground truth. paths.json records the rule and each dipole's objective."""

    name = "by-family"

    def __init__(self, clip: ClipModel, css: CorpusSupportSets, pos: torch.Tensor, neg: torch.Tensor, **kwargs: Any):
        super().__init__(clip, css, pos, neg, **kwargs)
        assert self.families is not None
        self.rule = rule = self.rule_of(self.families.domain)
        self.objective_of = [rule.get(family, rule["*"]) for family in self.families.family_of]
        self.parts = {name: OBJECTIVES[name](clip, css, pos, neg, families=self.families, **kwargs)
                      for name in dict.fromkeys(self.objective_of)}  # one family choice, corpus and basis for all
        self.paths_of = {name: torch.tensor([k for k, n in enumerate(self.objective_of) if n == name])
                         for name in self.parts}

    @classmethod
    def rule_of(cls, domain: str) -> dict[str, str]:
        if domain not in FAMILY_RULES:
            raise ValueError(f"no per-family rule has been measured for {domain} generators; choose one objective "
                             f"of {sorted(set(OBJECTIVES) - {cls.name})}")
        return dict(FAMILY_RULES[domain])

    @classmethod
    def check(cls, generator: str) -> None:
        cls.rule_of(domain_of(generator))

    def target_shift(self, e: torch.Tensor, paths: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(e, dtype=torch.float32)
        for name, part in self.parts.items():
            mask = torch.isin(paths, self.paths_of[name].to(paths.device))
            if mask.any():
                out[mask] = part.target_shift(e[mask], paths[mask], eps[mask]).float()
        return out

    def record(self) -> dict[str, Any]:
        rec = super().record()
        extra = {name: {k: v for k, v in part.record().items() if k not in rec} for name, part in self.parts.items()}
        return {**rec, "rule": self.rule, "objective_of_dipole": list(self.objective_of),
                "settings_of": {name: values for name, values in extra.items() if values}}


OBJECTIVES: dict[str, type[PlainObjective]] = {"plain": PlainObjective, "pae": PaeObjective,
                                                  "pae-subspace": SubspaceObjective, "pae-mixed": MixedObjective,
                                                  "zero-shot": ZeroShotObjective,
                                                  "zero-shot-circle": ZeroShotCircleObjective,
                                                  "pae-dipole": DipoleSubspaceObjective,
                                                  "by-family": ByFamilyObjective}
def build(name: str, clip: ClipModel, css: CorpusSupportSets, pos: torch.Tensor, neg: torch.Tensor,
          **kwargs: Any) -> PlainObjective:
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {name!r}")
    return OBJECTIVES[name](clip, css, pos, neg, **kwargs)


# How a path's or a job's label names an objective other than plain ContraCLIP and its generator's usual one.
SUFFIXES = {"pae": "PAE (authors' augmentation)", "pae-subspace": "PAE", "pae-mixed": "half PAE",
            "zero-shot": "zero-shot", "zero-shot-circle": "zero-shot, hue circle", "by-family": "per family"}


def label_suffix(objective: Any, linear: bool = False, usual: str = "plain") -> str:
    """What a path's or a job's label adds after its sentences: " (PAE)", " (linear)", " (linear, PAE)"; nothing
    for ContraCLIP with the plain objective or with ``usual``, the one its generator's quick preset trains with
    (presets.quick_objective: by-family on the Shapes world). The path picker and the job cards say it the same
    way; the path's record (paths.json, its model card) names the objective whatever the label says."""
    named = "" if str(objective) in ("plain", usual) else SUFFIXES.get(str(objective), "")
    how = [x for x in ("linear" if linear else "", named) if x]
    return f" ({', '.join(how)})" if how else ""


def describe(settings: dict[str, Any]) -> str:
    """The CLIP-space objective a path set trained with, in words (its model card, the CLI): the objective, and for
    ``by-family`` each path's attribute family and objective, from paths.json's ``objective_record``."""
    name, record = settings.get("objective", "plain"), settings.get("objective_record")
    record = record if isinstance(record, dict) else {}  # a set from before objectives, or a damaged record
    families, chosen = (v if isinstance(v, list) else [] for v in (record.get("family_of_dipole"),
                                                                     record.get("objective_of_dipole")))
    if name == ByFamilyObjective.name and families and len(families) == len(chosen):
        return "per attribute family — " + "; ".join(
            f"path {k}: {family} → {objective}" for k, (family, objective) in enumerate(zip(families, chosen)))
    if families:
        return f"{name} (attribute family: " + ", ".join(f"path {k} {f}" for k, f in enumerate(families)) + ")"
    return str(name)
