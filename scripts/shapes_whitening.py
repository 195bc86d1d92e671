"""Issue 14's conditioning lever, measured: train Shapes paths in a whitened W (w = μ + L u, u ~ N(0, I), L the
Cholesky factor of W's covariance: eigenvalue ratio 289 → 1) and compare with the same training in W itself.

The images, the CLIP and the attributes are unchanged (only the coordinates of W are), so the ground-truth
measures compare directly. Each dipole trained alone with the quick preset, seed 0, evaluated from seeds 0…31
with 8 steps of η = 0.25 each way (as scripts/shapes_compare.py).

    python scripts/shapes_whitening.py            # prints a Markdown table
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contraclip_core import presets  # noqa: E402
from contraclip_core.clip import load_clip  # noqa: E402
from contraclip_core.evaluate import evaluate_shapes  # noqa: E402
from contraclip_core.generators import from_pretrained  # noqa: E402
from contraclip_core.generators.shapes import ShapesGenerator  # noqa: E402
from contraclip_core.trainer import Trainer  # noqa: E402

DIPOLES = [("a triangle", "a circle"), ("a circle", "a square"), ("a red shape", "a blue shape"),
           ("a shape on the left", "a shape on the right")]


class WhitenedShapes(ShapesGenerator):
    """The Shapes world with W re-expressed in whitened coordinates u = L⁻¹(w − μ)."""

    def whiten(self, samples: int = 20000) -> "WhitenedShapes":
        z = torch.randn(samples, self.z_dim, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            w = super()._map(z)
        self.mu, cov = w.mean(0), torch.cov(w.T)
        self.chol = torch.linalg.cholesky(cov)
        self.chol_inv = torch.linalg.inv(self.chol)
        eig = torch.linalg.eigvalsh(cov)
        self.eigen_ratio = float(eig.max() / eig.min())
        return self

    def _map(self, z: torch.Tensor) -> torch.Tensor:
        return (super()._map(z) - self.mu) @ self.chol_inv.T

    def w_avg(self) -> torch.Tensor:
        return (self.w_average - self.mu) @ self.chol_inv.T

    def _attributes_from_w(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        return super()._attributes_from_w(self.mu + w @ self.chol.T)


def run(generator, clip, dipole) -> tuple[object, float]:
    config = presets.train_config("shapes-128", "quick", dipoles=[dipole])
    start = time.monotonic()
    path_set = Trainer(config, generator, clip).train()
    seconds = time.monotonic() - start
    return evaluate_shapes(generator, path_set, seeds=range(32), step_size=0.25)[0], seconds


def cell(r) -> str:
    return f"ρ {r.target_rho:.2f} · Δ {r.target_change:.2f} · off {r.off_target_max:.2f} {r.off_target_worst} · " \
           f"**{r.off_target_max / r.target_change:.2f}×**"


def main() -> None:
    torch.set_num_threads(1)
    plain = from_pretrained("shapes-128")
    whitened = WhitenedShapes(plain.config)
    whitened.load_state_dict(plain.state_dict())
    whitened = whitened.eval().requires_grad_(False).whiten()
    clip = load_clip("shapes-clip")
    print(f"W covariance eigenvalue ratio {whitened.eigen_ratio:.0f} → 1 after whitening\n")
    print("| dipole | W (as shipped) | whitened W |\n|---|---|---|")
    for dipole in DIPOLES:
        (a, _), (b, _) = run(plain, clip, dipole), run(whitened, clip, dipole)
        print(f"| {dipole[0]} / {dipole[1]} | {cell(a)} | {cell(b)} |", flush=True)


if __name__ == "__main__":
    main()
