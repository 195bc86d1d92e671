"""CF-CLIP's losses: pure functions of tensors (every embedding argument is unit-normalised by the caller).

CLIP-NCE: the query is the image-embedding change q = n(e′ − e). Two positives: the global text direction
p₁ = n(mean_templates(t_target) − mean_templates(t_source)) and the direction from the source image to the target
text p₂ = n(t̄_target − e). Negatives: the directions from the source image to the source-class text under each
template, n_j = n(t_source,j − e), e being each row's own source image ("own"); the authors' code builds every row's
negatives from the batch's first source image instead, n_j = n(t_source,j − e₀) ("first"; docs/EDITS.md measures
both). InfoNCE of q against each positive with the negatives (the query used once per positive), averaged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_nce_loss(
    e_source: torch.Tensor,
    e_edited: torch.Tensor,
    target_text: torch.Tensor,
    global_direction: torch.Tensor,
    source_texts: torch.Tensor,
    tau: float = 0.1,
    min_norm: float = 0.0,
    negatives: str = "own",
) -> torch.Tensor:
    """CLIP-NCE, mean over the batch and the two positives.

    Args:
        e_source: (B, E) normalised CLIP embeddings of the unedited images.
        e_edited: (B, E) the same for the edited images.
        target_text: (B, E) template-averaged normalised target text embedding of each row's sentence.
        global_direction: (B, E) p₁ of each row's sentence (already normalised).
        source_texts: (M, E) normalised source-class text embeddings, one per template.
        tau: InfoNCE temperature (0.1 in the authors' code).
        min_norm: 0 (the authors'): q = n(e′ − e). Above 0: q = (e′ − e) / max(‖e′ − e‖, min_norm), so an image
            CLIP sees barely change gives a short query and soft logits. The authors' q is undefined at e′ = e and
            its gradient grows as 1/‖e′ − e‖: with a mapper that starts at the identity edit it drowns every other
            loss (docs/EDITS.md).
        negatives: "own": row i's negatives are n(t_source,j − e_i), from its own source image. "first": every row's
            are n(t_source,j − e_0), from the batch's first source image, as the authors' criteria/nce_loss.py
            (``source_text - src_img[:1]``); the two agree at batch 1.
    """
    if negatives not in ("own", "first"):
        raise ValueError(f"negatives must be 'own' or 'first', got {negatives!r}")
    diff = e_edited - e_source  # (B, E)
    query = diff / diff.norm(dim=-1, keepdim=True).clamp_min(min_norm) if min_norm > 0 else F.normalize(diff, dim=-1)
    p1 = F.normalize(global_direction, dim=-1)  # (B, E)
    p2 = F.normalize(target_text - e_source, dim=-1)  # (B, E)
    anchors = e_source if negatives == "own" else e_source[:1].expand_as(e_source)  # (B, E)
    keys = F.normalize(source_texts.unsqueeze(0) - anchors.unsqueeze(1), dim=-1)  # (B, M, E)
    neg_logits = torch.einsum("be,bme->bm", query, keys) / tau  # (B, M)
    losses = []
    for positive in (p1, p2):
        pos_logit = (query * positive).sum(-1, keepdim=True) / tau  # (B, 1)
        logits = torch.cat([pos_logit, neg_logits], dim=1)  # (B, 1 + M)
        target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        losses.append(F.cross_entropy(logits, target))
    return torch.stack(losses).mean()


def latent_l2(original: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """Mean squared change of the latent code (the paper's L2 regulariser on the residual)."""
    return (edited - original).pow(2).mean()


def clip_similarity_loss(e_edited: torch.Tensor, target_text: torch.Tensor) -> torch.Tensor:
    """1 − cos(E_I(G(w′)), t̄_target), StyleCLIP's global CLIP loss; an optional extra term (weight 0 = CF-CLIP)."""
    return (1.0 - (F.normalize(e_edited, dim=-1) * F.normalize(target_text, dim=-1)).sum(-1)).mean()


def clip_batch_contrastive_loss(e_edited: torch.Tensor, target_text: torch.Tensor, which: torch.Tensor,
                                tau: float = 0.07) -> torch.Tensor:
    """CLIP's own contrastive objective over the batch's sentences: edited image i should match its sentence more
    than the other rows' sentences (rows with the same sentence are masked: not negatives). What every sentence
    shares (e.g. "a clearer shape") cancels, so only what tells the sentences apart drives the edit.

    e_edited (B, E), target_text (B, E) row i's sentence, which (B,) sentence ids; an optional term, not CF-CLIP's.
    """
    logits = F.normalize(e_edited, dim=-1) @ F.normalize(target_text, dim=-1).T / tau  # (B, B)
    same = which.unsqueeze(0) == which.unsqueeze(1)
    same.fill_diagonal_(False)
    logits = logits.masked_fill(same, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def clip_rival_loss(e_edited: torch.Tensor, table: torch.Tensor, which: torch.Tensor, rivals: torch.Tensor,
                    tau: float = 0.07) -> torch.Tensor:
    """Zero-shot classification of the edited image among its sentence's rivals: edited image i should match its
    sentence ``which[i]`` more than every sentence ``rivals[which[i]]`` marks (for Shapes captions: those naming the
    same factors with other classes, so "a green square" is contrasted with "a red square", "a green circle", …, and
    what the sentence does not name is in no logit). A row whose sentence has no rival gets 1 − cos(e′, t̄) instead.
    An optional term, not CF-CLIP's.

    e_edited (B, E); table (P, E) the embedded pool, its first N rows the targets; which (B,) row → target;
    rivals (N, P) bool.
    """
    e = F.normalize(e_edited, dim=-1)
    logits = e @ F.normalize(table, dim=-1).T / tau  # (B, P)
    keep = rivals[which].clone()  # (B, P)
    has = keep.any(1)  # (B,)
    keep[torch.arange(len(which), device=which.device), which] = True
    ce = F.cross_entropy(logits.masked_fill(~keep, float("-inf")), which, reduction="none")  # (B,)
    cosine = 1.0 - (e * F.normalize(table[which], dim=-1)).sum(-1)  # (B,)
    return torch.where(has, ce, cosine).mean()


def clip_keep_loss(e_source: torch.Tensor, e_edited: torch.Tensor, prompts: list[torch.Tensor],
                   unnamed: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """Keep what the sentence does not name, as CLIP sees it: for each factor f the sentence leaves unnamed, the
    zero-shot distribution of the edited image over f's class prompts should stay the source image's,
    KL(p_source ‖ p_edited), averaged over the (row, unnamed factor) pairs. The Shapes analogue of CF-CLIP's identity
    loss (which keeps a face's identity); an optional term, not CF-CLIP's.

    e_source, e_edited (B, E); prompts: one (K_f, E) table per factor; unnamed (B, F) bool.
    """
    a, b = F.normalize(e_source, dim=-1), F.normalize(e_edited, dim=-1)
    terms = []
    for f, table in enumerate(prompts):
        table = F.normalize(table, dim=-1)
        log_p = F.log_softmax(a @ table.T / tau, dim=-1)  # (B, K)
        log_q = F.log_softmax(b @ table.T / tau, dim=-1)
        terms.append((log_p.exp() * (log_p - log_q)).sum(-1))  # (B,)
    kl = torch.stack(terms, dim=1)  # (B, F)
    weight = unnamed.to(kl)
    return (kl * weight).sum() / weight.sum().clamp_min(1.0)
