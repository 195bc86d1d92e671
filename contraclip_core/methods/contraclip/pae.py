"""CLIP-PAE (Zhou et al., SIGGRAPH 2023): the projection-augmentation embedding, as pure functions of tensors.

An attribute family (colours, shapes, facial expressions …) is a corpus of prompts; their CLIP text embeddings span
a subspace S with an orthonormal basis B (rows b_1…b_k). The PAE of an image embedding e toward a text embedding t
removes α times e's own component along each b_k and puts the same total amount back along t:

    c_k = α · |⟨e, b_k⟩|,    PAE(e, t) = e − Σ_k c_k b_k + (Σ_k c_k / Σ_k ⟨t, b_k⟩) · t

(the authors' "PCA+" / "GS+" targets, re-derived from their description in METHODS.md). In ContraCLIP the target
shift of a step toward pole t is normalise(PAE(e, t) − e): it asks the image to lose its own attribute and gain the
target's, and nothing else — unlike the plain RBF direction, which also pulls e toward everything t leaves unsaid.
α scales both terms of PAE(e, t) − e alike, so that *direction* does not depend on α (α > 0); it is recorded anyway.

Every embedding is unit-normalised before use (cosine geometry, as CLIP is trained). Basis rows are orthonormal.
"""
from __future__ import annotations

from typing import Mapping

import torch

EPS = 1e-12
DEFAULT_ALPHA = 8.0  # the authors' default augmentation power
DEFAULT_COMPONENTS = 10  # the authors' default number of principal components for "PCA+"
MIN_TEXT_COEFF = 1e-3  # |Σ_k ⟨t, b_k⟩| below this: t lies (almost) outside S and the division is refused


class OutsideSubspaceError(ValueError):
    """A target text has (almost) no component along the subspace's basis, so PAE cannot scale it."""


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(EPS)


def _orient(basis: torch.Tensor) -> torch.Tensor:
    """Fix each row's sign so its largest-magnitude coordinate is positive (SVD signs are arbitrary)."""
    idx = basis.abs().argmax(dim=1, keepdim=True)
    sign = torch.sign(basis.gather(1, idx)).clamp_min(0) * 2 - 1
    return basis * sign


def pca_basis(embeddings: torch.Tensor, k: int = DEFAULT_COMPONENTS, rel_tol: float = 1e-6) -> torch.Tensor:
    """Top-k principal directions of the centred, unit-normalised embeddings (n, e) → (k', e), orthonormal rows.

    k' = min(k, rank of the centred corpus): directions with singular value below ``rel_tol`` × the largest are
    dropped (a corpus of n prompts spans at most n − 1 centred directions).
    """
    if embeddings.ndim != 2 or embeddings.shape[0] < 2:
        raise ValueError(f"a PCA basis needs at least two embeddings (n, e), got shape {tuple(embeddings.shape)}")
    x = unit(embeddings.double())
    x = x - x.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    keep = int((s > rel_tol * s[0].clamp_min(EPS)).sum().clamp_max(k))
    if keep == 0:
        raise ValueError("the corpus embeddings are all the same: they span no subspace")
    return _orient(vh[:keep]).to(embeddings.dtype)


def gram_schmidt(vectors: torch.Tensor, rel_tol: float = 1e-6) -> torch.Tensor:
    """Orthonormal basis of span{rows} by (modified) Gram–Schmidt, in row order; dependent rows are skipped."""
    out: list[torch.Tensor] = []
    for v in unit(vectors.double()):
        for b in out:
            v = v - (v @ b) * b
        if v.norm() > rel_tol:
            out.append(v / v.norm())
    if not out:
        raise ValueError("the vectors span no subspace")
    return torch.stack(out).to(vectors.dtype)


def project(v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """P_S(v) = B Bᵀ v for each row of v (…, e); basis (k, e) with orthonormal rows."""
    return (v @ basis.t()) @ basis


def outside(v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """v − P_S(v): the part of v that S does not hold."""
    return v - project(v, basis)


def subspace_fraction(v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """‖P_S(v)‖ / ‖v‖ per row, in [0, 1]."""
    return project(v, basis).norm(dim=-1) / v.norm(dim=-1).clamp_min(EPS)


def text_coefficient(t: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Σ_k ⟨unit(t), b_k⟩ per row of t: the denominator of the augmentation."""
    return (unit(t) @ basis.t()).sum(-1)


def check_texts(texts: torch.Tensor, basis: torch.Tensor, names: list[str] | None = None) -> None:
    """Raise ``OutsideSubspaceError`` (one sentence) for a text whose Σ_k ⟨t, b_k⟩ is too small to divide by."""
    coeff = text_coefficient(texts, basis)
    for i, c in enumerate(coeff.tolist()):
        if abs(c) < MIN_TEXT_COEFF:
            name = repr(names[i]) if names else f"text {i}"
            raise OutsideSubspaceError(
                f"{name} has almost no component in the attribute subspace (Σ⟨t, b⟩ = {c:.1e}), so its PAE target "
                "is undefined; choose another attribute family or the plain objective.")


def augment(e: torch.Tensor, t: torch.Tensor, basis: torch.Tensor, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """PAE(e, t) for image embeddings e (B, E) and text embeddings t (B, E) or (E,); unit-normalised inside.

    Raises ``OutsideSubspaceError`` when some t has |Σ_k ⟨t, b_k⟩| < ``MIN_TEXT_COEFF``.
    """
    e, t = unit(e), unit(t).expand_as(e)
    coeff_t = (t @ basis.t()).sum(-1, keepdim=True)  # (B, 1)
    if bool((coeff_t.abs() < MIN_TEXT_COEFF).any()):
        check_texts(t, basis)
    c = alpha * (e @ basis.t()).abs()  # (B, k)
    return e - c @ basis + (c.sum(-1, keepdim=True) / coeff_t) * t


def shift(e: torch.Tensor, t: torch.Tensor, basis: torch.Tensor, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """normalise(PAE(e, t) − unit(e)): the unit CLIP-space direction a step toward t should take, (B, E)."""
    return unit(augment(e, t, basis, alpha) - unit(e))


def subspace_shift(e: torch.Tensor, t: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """normalise(P_S(unit(t)) − P_S(unit(e))), (B, E): replace the image's component in S by the text's, and
    nothing else — PAE's intent without its augmentation (the authors' "dpe" idea: compare inside S only)."""
    return unit(project(unit(t).expand_as(e) - unit(e), basis))


def dipole_shift(t_pos: torch.Tensor, t_neg: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """normalise(P_S(unit(t⁺) − unit(t⁻))), (…, E): what tells the two sentences apart, inside S only.

    Unlike ``subspace_shift`` it holds no image term, so the modality gap between image and text embeddings (the
    image's component in S is not on the same scale as any text's) cannot swamp the contrast between the poles.
    """
    return unit(project(unit(t_pos) - unit(t_neg), basis))


def zero_shot_gradient(e: torch.Tensor, classes: torch.Tensor, index: int | list[int], tau: float) -> torch.Tensor:
    """∇_e log p(c = index | e), (B, E) — or (n, B, E) for a list of n indices, from one softmax: the gradient of a
    CLIP zero-shot classifier's log-probability, p = softmax_c(cos(e, t_c) / τ) over the class texts ``classes``
    (C, E), at image embeddings e (B, E): (1/(τ‖e‖)) · (d − ⟨d, ê⟩ ê) with d = t̂_index − Σ_c p_c t̂_c. It vanishes
    as p(index) → 1: a step along it moves the image toward the class and no further (the difference of two
    classes' similarities has no such stop: between red and blue it is largest 30° past red, toward orange)."""
    e = e.float()
    norm = e.norm(dim=-1, keepdim=True).clamp_min(EPS)
    u, t = e / norm, unit(classes.float().to(e.device))
    p = torch.softmax(u @ t.t() / tau, dim=-1)  # (B, C)
    d = t[index].unsqueeze(-2) - p @ t  # (B, E), or (n, B, E)
    return (d - (d * u).sum(-1, keepdim=True) * u) / (tau * norm)


def expected_score_gradient(e: torch.Tensor, classes: torch.Tensor, scores: torch.Tensor, tau: float) -> torch.Tensor:
    """∇_e Σ_c p_c s_c, (B, E): the gradient of the score the same zero-shot classifier as ``zero_shot_gradient``
    (p = softmax_c(cos(e, t_c) / τ)) expects for the image, each class c scored s_c (C,):
    (1/(τ‖e‖)) · (d − ⟨d, ê⟩ ê) with d = Σ_c p_c (s_c − Σ_c' p_c' s_c') t̂_c. With s_c = cos(angle_c − angle_first)
    on a circle of classes (hues) it leads away from the first class toward the one opposite it and stops there."""
    e = e.float()
    norm = e.norm(dim=-1, keepdim=True).clamp_min(EPS)
    u, t = e / norm, unit(classes.float().to(e.device))
    p = torch.softmax(u @ t.t() / tau, dim=-1)  # (B, C)
    s = scores.float().to(e.device)
    d = (p * (s - (p @ s).unsqueeze(-1))) @ t  # (B, E)
    return (d - (d * u).sum(-1, keepdim=True) * u) / (tau * norm)


def choose_family(t_pos: torch.Tensor, t_neg: torch.Tensor, bases: Mapping[str, torch.Tensor]) -> str:
    """The family whose subspace holds the largest fraction of the dipole's difference unit(t⁺) − unit(t⁻)."""
    if not bases:
        raise ValueError("no attribute families to choose from")
    diff = unit(t_pos) - unit(t_neg)
    scores = {name: float(subspace_fraction(diff, b)) for name, b in bases.items()}
    return max(scores, key=scores.get)
