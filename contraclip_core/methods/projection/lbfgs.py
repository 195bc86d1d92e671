"""L-BFGS for a batch of independent problems: one row per picture, each with its own history, direction and step.

The projection's loss is a sum of per-picture terms, so each picture is its own small optimisation problem.
``torch.optim.LBFGS`` treats the batch as one problem with one line search, which stalls as soon as one picture needs
a short step while the others need a long one (docs/PROJECTION.md). Here every row keeps its own curvature pairs and
its own step length, and a step is one evaluation of the loss and its gradient at every row's trial point: a row whose
trial point lowers its loss enough (Armijo) moves there and takes a new quasi-Newton direction; a row whose trial
point does not halves its step and tries again at the next evaluation. A row that stops descending starts over from
its gradient.
"""
from __future__ import annotations

import torch


class BatchLBFGS:
    """Minimises rows (N, P) of a flat parameter, ``memory`` curvature pairs per row.

    Drive it with ``trial()`` (the point to evaluate next, (N, P)) and ``tell(loss, grad)`` (each row's loss (N,) and
    gradient (N, P) at that point); ``x`` is every row's best accepted point. ``first_step``: the length of the first
    step (a row with no curvature pairs moves that far along its negative gradient).
    """

    def __init__(self, x: torch.Tensor, first_step: float, memory: int = 10, armijo: float = 1e-4):
        n, p = x.shape
        self.x = x.detach().clone()
        self.first_step, self.armijo = first_step, armijo
        self.s = x.new_zeros(n, memory, p)  # curvature pairs, newest first
        self.y = x.new_zeros(n, memory, p)
        self.valid = torch.zeros(n, memory, dtype=torch.bool, device=x.device)
        self.f: torch.Tensor | None = None  # (N,) loss at x, once told
        self.g = x.new_zeros(n, p)
        self.d = x.new_zeros(n, p)  # direction from x
        self.t = x.new_zeros(n)  # step along d of the pending trial

    FIELDS = ("x", "s", "y", "valid", "f", "g", "d", "t")

    def state_dict(self) -> dict[str, torch.Tensor | float]:
        return {**{k: getattr(self, k) for k in self.FIELDS if getattr(self, k) is not None},
                "first_step": self.first_step, "armijo": self.armijo}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor | float]) -> BatchLBFGS:
        x = state["x"]
        out = cls(x, float(state["first_step"]), memory=state["s"].shape[1], armijo=float(state["armijo"]))
        for k in cls.FIELDS:
            if k in state:
                setattr(out, k, state[k].clone())
        return out

    def trial(self) -> torch.Tensor:
        return self.x + self.t[:, None] * self.d

    @torch.no_grad()
    def tell(self, loss: torch.Tensor, grad: torch.Tensor) -> None:
        loss, grad = loss.detach(), grad.detach()
        if self.f is None:  # the first evaluation is at x itself
            accept = torch.ones_like(loss, dtype=torch.bool)
        else:
            slope = (self.g * self.d).sum(1)  # < 0 along a descent direction
            accept = torch.isfinite(loss) & (loss <= self.f + self.armijo * self.t * slope)
        if self.f is not None and accept.any():
            s, y = self.t[:, None] * self.d, grad - self.g
            curved = accept & ((s * y).sum(1) > 1e-12 * (s.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-30))
            self.s[curved] = torch.roll(self.s[curved], 1, dims=1)
            self.y[curved] = torch.roll(self.y[curved], 1, dims=1)
            self.valid[curved] = torch.roll(self.valid[curved], 1, dims=1)
            self.s[curved, 0], self.y[curved, 0], self.valid[curved, 0] = s[curved], y[curved], True
        trial = self.trial()
        self.x = torch.where(accept[:, None], trial, self.x)
        self.f = torch.where(accept, loss, self.f) if self.f is not None else loss.clone()
        self.g = torch.where(accept[:, None], grad, self.g)
        direction = self.direction()
        self.d = torch.where(accept[:, None], direction, self.d)
        fresh = accept & ~self.valid[:, 0]  # no curvature yet: a step of first_step along the gradient
        self.t = torch.where(accept, torch.where(fresh, self.first_step / self.d.norm(dim=1).clamp_min(1e-30),
                                                 torch.ones_like(self.t)), self.t * 0.5)
        stuck = ~accept & (self.t * self.d.norm(dim=1) < 1e-9 * (1 + self.x.norm(dim=1)))
        if stuck.any():  # no decrease along this direction: forget the history, start again from the gradient
            self.valid[stuck] = False
            self.d[stuck] = -self.g[stuck]
            self.t[stuck] = self.first_step / self.g[stuck].norm(dim=1).clamp_min(1e-30)

    def direction(self) -> torch.Tensor:
        """−H·g per row by the two-loop recursion over its valid pairs (the gradient where it has none)."""
        q = self.g.clone()
        sy = (self.s * self.y).sum(2)  # (N, m)
        rho = torch.where(self.valid, 1.0 / sy.clamp_min(1e-30), torch.zeros_like(sy))
        alpha = torch.zeros_like(sy)
        for i in range(self.s.shape[1]):
            alpha[:, i] = rho[:, i] * (self.s[:, i] * q).sum(1)
            q = q - alpha[:, i, None] * self.y[:, i]
        yy = (self.y[:, 0] ** 2).sum(1)
        gamma = torch.where(self.valid[:, 0], sy[:, 0] / yy.clamp_min(1e-30), torch.ones_like(yy))
        r = gamma[:, None] * q
        for i in reversed(range(self.s.shape[1])):
            beta = rho[:, i] * (self.y[:, i] * r).sum(1)
            r = r + (alpha[:, i] - beta)[:, None] * self.s[:, i]
        descent = (r * self.g).sum(1) > 0
        return torch.where(descent[:, None], -r, -self.g)
