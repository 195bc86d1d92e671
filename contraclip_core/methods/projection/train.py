"""The projector: optimise a code so that its render reproduces a picture.

Three phases:

1. **Search** (``search_steps`` of Adam, skipped with one start): ``starts`` codes per picture — the start given (a
   mapper's guess, else the mean code), jittered copies of it (Gaussian, ``jitter`` prior standard deviations) and
   ``prior_starts`` samples of the prior — are optimised side by side at ``search_size`` pixels (cheaper: the Shapes
   world draws natively at that size), optionally through code noise (``search_noise``); then each picture keeps the
   ``keep`` starts whose full-size renders are closest. The Shapes world's shape blend and hue wrap-around have local
   minima a single start falls into (docs/PROJECTION.md).
2. **Refine** (``steps`` of Adam at full resolution, the learning rate decaying to 0 on a cosine, Adam's moments
   carried over from the search): the kept starts side by side for ``keep_steps``, then the best one alone.
3. **Polish** (``polish_steps``): per-picture L-BFGS (``lbfgs.BatchLBFGS``: each picture its own line search), which
   converges far past Adam's noise floor, so codes near a class boundary land on the picture's side of it.

The learning rates are in prior standard deviations of the space (``model.prior_spread``), so one setting fits
generators whose codes have different scales. ``Projector`` has the trainer interface ``training_loop.run`` drives
(``step``, ``iteration``, ``losses``, checkpoints); ``project_iter`` yields progress and the current reconstruction
for the app, ``project`` returns the result.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from ...clip import ClipModel
from ...generators.base import Generator, seeded_normal
from ...training_loop import Progress, cosine_lr, read_checkpoint, save_checkpoint_file
from .lbfgs import BatchLBFGS
from .losses import Perceptual, ProjectionError, pixel_loss, psnr
from .lpips import MIN_SIZE, LpipsLoss, load_lpips
from .model import LatentCode, default_space, mean_code, prior_spread, resize


@dataclass
class ProjectionConfig:
    space: str | None = None  # None: the generator's richest style space (W+, W for the Shapes world, else Z)
    steps: int = 150  # refinement steps at full resolution
    search_steps: int = 60  # steps of the multi-start search (0, or starts = 1: no search)
    starts: int = 32  # codes per picture in the search: the start and starts − 1 jittered copies
    jitter: float = 1.0  # the copies' spread, in prior standard deviations of the space
    prior_starts: int = 12  # of the starts − 1 copies, this many are prior samples instead (seeded, per picture)
    search_size: int = 64  # pixels the search compares at
    lr: float = 0.05  # refinement learning rate (×prior std), decaying to 0 on a cosine
    search_lr: float = 0.05  # search learning rate (×prior std) at its start
    search_lr_end: float | None = None  # …at its end, on a cosine (None: constant at search_lr)
    search_noise: float = 0.0  # Gaussian noise added to the codes while searching (×prior std), fading out (below)
    keep: int = 4  # starts per picture the search hands on to the refinement…
    keep_steps: int = 30  # …which refines them side by side for this many steps, then keeps the best
    warmup: int = 0  # refinement steps over which its learning rate rises linearly from 0 to lr
    polish_steps: int = 60  # last steps: per-picture L-BFGS at full size (lbfgs.BatchLBFGS), after the refinement
    polish_step: float = 0.01  # the L-BFGS's first step length (×prior std × √dimensions)
    perceptual: float = 0.0  # weight of 1 − cos of CLIP image features (needs the generator's CLIP)
    noise: bool = False  # also optimise StyleGAN2's per-layer noise maps
    noise_reg: float = 1e5  # weight of the noise regulariser when noise is optimised
    lpips: float = 0.0  # weight of LPIPS (VGG16; refused above 0 when its weights are not on the machine)
    seed: int = 0  # seed of the jitter

    def check(self) -> None:
        for name in ("steps", "search_steps", "starts", "search_size", "warmup", "polish_steps", "keep", "prior_starts",
                     "keep_steps"):
            value, least = getattr(self, name), 1 if name in ("starts", "keep") else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ProjectionError(f"{name} must be a whole number ≥ {least}, got {value!r}")
        if self.steps + self.search_steps + self.polish_steps == 0:
            raise ProjectionError("a projection needs at least one step (steps or search_steps)")
        for name in ("lr", "search_lr", "jitter", "perceptual", "noise_reg", "lpips", "polish_step", "search_noise") + (
                ("search_lr_end",) if self.search_lr_end is not None else ()):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ProjectionError(f"{name} must be a finite number ≥ 0, got {value!r}")
        if self.lpips > 0 and self.search_steps > 0 and self.starts > 1 and self.search_size < MIN_SIZE:
            raise ProjectionError(f"LPIPS compares at least {MIN_SIZE} pixels: search_size must be ≥ {MIN_SIZE}")


@dataclass
class ProjectionResult:
    """What a projection found, per picture (B of them)."""

    latent: torch.Tensor  # (B, *shape) codes of ``space``, on the CPU
    space: str
    image: torch.Tensor  # (B, 3, R, R) their renders in [-1, 1], on the CPU
    psnr_db: torch.Tensor  # (B,) PSNR of each render against its picture
    noise: list[torch.Tensor] | None = None  # per-layer noise maps (B, 1, r, r) when optimised (render with them)
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProjectionUpdate:
    """One report of ``project_iter``: how far it is, and the current reconstruction; ``result`` on the last."""

    progress: Progress
    phase: str  # "search", "refine" or "polish" ("done" on the last)
    image: torch.Tensor  # (B, 3, R, R) current reconstruction (the best start per picture while searching)
    psnr_db: torch.Tensor  # (B,)
    result: ProjectionResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None


def check_pictures(images: Any, generator: Generator) -> torch.Tensor:
    """Pictures as the generator draws them, (B, 3, R, R) in [-1, 1]; a ``ProjectionError`` sentence otherwise."""
    r = generator.resolution
    if not isinstance(images, torch.Tensor):
        raise ProjectionError(f"the picture must be an image tensor (B, 3, {r}, {r}) in [-1, 1], not a "
                              f"{type(images).__name__}; read a file with load_picture")
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ProjectionError(f"the picture must be a float RGB image tensor (B, 3, {r}, {r}), got shape "
                              f"{tuple(images.shape)} of {images.dtype}")
    if tuple(images.shape[-2:]) != (r, r):
        raise ProjectionError(f"the picture is {images.shape[-1]}×{images.shape[-2]} pixels but the generator draws "
                              f"{r}×{r}; read files with load_picture, which crops and resizes")
    if len(images) == 0 or not torch.isfinite(images).all():
        raise ProjectionError("the picture is empty or holds NaN/Inf values")
    if images.abs().amax() > 1.5:
        raise ProjectionError("the picture's values must lie in [-1, 1] (got values up to "
                              f"{float(images.abs().amax()):.3g}); map 0…255 pixels with x / 127.5 − 1")
    return images.clamp(-1, 1)


def load_picture(path: str | Path, generator: Generator) -> torch.Tensor:
    """An image file → (1, 3, R, R) in [-1, 1], centre-cropped and resized (``uploads.read_image``'s checks)."""
    from ...uploads import read_image

    return read_image(path, generator.resolution)


class Projector:
    """Optimises codes for a batch of pictures; the trainer interface of ``training_loop.run``."""

    def __init__(self, generator: Generator, pictures: torch.Tensor, config: ProjectionConfig | None = None,
                 start: torch.Tensor | None = None, clip: ClipModel | None = None):
        self.config = config = config or ProjectionConfig()
        config.check()
        self.generator = generator
        self.targets = check_pictures(pictures, generator).to(generator.device, torch.float32)
        self.lpips = LpipsLoss(load_lpips(generator.device), self.targets) if config.lpips > 0 else None
        space = config.space or default_space(generator)
        if space not in generator.spaces:
            raise ProjectionError(f"{type(generator).__name__} has the latent spaces {list(generator.spaces)}, "
                                  f"not {space!r}")
        self.space, b = space, len(self.targets)
        shape = tuple(generator.latent_shape(space))
        if start is None:
            start = mean_code(generator, space)
        if not isinstance(start, torch.Tensor) or tuple(start.shape[1:]) != shape or len(start) not in (1, b):
            raise ProjectionError(f"the start must be {space!r} codes shaped (1 or {b}, {', '.join(map(str, shape))})")
        start = start.float().to(generator.device).expand(b, *shape)
        self.spread = prior_spread(generator, space)  # (1, *shape)
        self.scale = float(self.spread.mean())
        self.starts = config.starts if config.search_steps > 0 else 1
        codes = start.repeat_interleave(self.starts, 0)
        if self.starts > 1:
            eps = seeded_normal(range(config.seed, config.seed + len(codes)), math.prod(shape)).reshape(codes.shape)
            eps.reshape(b, self.starts, -1)[:, 0] = 0  # the start itself is one of them
            codes = codes + config.jitter * eps.to(codes) * self.spread
            drawn = min(config.prior_starts, self.starts - 1)
            if drawn:  # the last `drawn` starts of each picture: samples of the prior, away from the start's basin
                z = seeded_normal(range(config.seed + len(codes), config.seed + len(codes) + b * drawn),
                                  generator.z_dim).to(generator.device, generator.dtype)
                with torch.no_grad():
                    prior = generator.encode(z, space).float().reshape(b, drawn, *shape)
                codes.reshape(b, self.starts, *shape)[:, self.starts - drawn:] = prior
        self.code = LatentCode(generator, space, codes, noise=config.noise)
        self.perceptual = Perceptual(clip, self.targets) if clip is not None and config.perceptual > 0 else None
        self.search_total = config.search_steps if self.starts > 1 else 0
        self.polish_from = self.search_total + config.steps
        self.total = self.polish_from + config.polish_steps
        self.iteration, self.losses, self.resumed_from = 0, [], 0
        self.optimiser = self._optimiser()
        self.polisher: BatchLBFGS | None = None

    @property
    def phase(self) -> str:
        i = self.iteration
        return "search" if i < self.search_total else ("refine" if i < self.polish_from else "polish")

    def _optimiser(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.code.parameters(), lr=self._lr(), betas=(0.9, 0.999))

    def _lr(self) -> float:
        c = self.config
        if self.phase == "search":
            if c.search_lr_end is None:
                return c.search_lr * self.scale
            return self.scale * cosine_lr(c.search_lr, c.search_lr_end, self.iteration / max(self.search_total, 1))
        t = self.iteration - self.search_total
        warm = min(1.0, (t + 1) / c.warmup) if c.warmup else 1.0
        return warm * self.scale * cosine_lr(c.lr, 0.0, t / max(c.steps, 1))

    def per_picture_loss(self, size: int | None, offset: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of every code (N,), its render (of the code + ``offset``) compared at ``size`` pixels (None: full
        size)."""
        rows = torch.arange(len(self.code.code), device=self.targets.device) // self.starts_now
        images = self.code.render(self.generator, size, offset)
        loss = pixel_loss(images, resize(self.targets, size)[rows])
        if self.perceptual is not None:
            loss = loss + self.config.perceptual * self.perceptual(images, rows)
        if self.lpips is not None:
            loss = loss + self.config.lpips * self.lpips(images, rows)
        if len(self.code.noise):
            loss = loss + self.config.noise_reg * self.code.noise_regulariser()
        return loss

    @property
    def starts_now(self) -> int:
        return len(self.code.code) // len(self.targets)

    def step(self) -> float:
        if self.phase == "polish":
            return self._polish_step()
        searching = self.phase == "search"
        for group in self.optimiser.param_groups:
            group["lr"] = self._lr()
        offset = self.code_noise() if searching and self.config.search_noise > 0 else None
        loss = self.per_picture_loss(self.config.search_size if searching else None, offset)
        self.optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.optimiser.step()
        if len(self.code.noise):
            self.code.normalise_noise()
        self.iteration += 1
        self.losses.append(float(loss.detach().mean()))
        keep = min(self.config.keep, self.starts_now) if self.config.keep_steps else 1
        if searching and self.iteration == self.search_total:  # the search is over: keep `keep` starts per picture
            self._narrow(keep)
        elif self.starts_now > 1 and self.iteration >= self.search_total + self.config.keep_steps:
            self._narrow(1)
        return self.losses[-1]

    def _narrow(self, k: int) -> None:
        """Keep the ``k`` starts per picture whose full-size renders are closest, with their optimiser state."""
        with torch.no_grad():
            scores = self.per_picture_loss(None)
        old, rows = self.optimiser, self.code.keep_best(scores, self.starts_now, k)
        self.optimiser = self._optimiser()
        carry_state(old, self.optimiser, rows)

    def code_noise(self) -> torch.Tensor:
        """The search's perturbation of the codes at this step: prior-scaled Gaussian noise whose strength falls from
        ``search_noise`` to 0 (quadratically) over the first three quarters of the search, as StyleGAN2's projector
        perturbs w (Karras et al. 2020): the loss averaged over the noise is smooth where the generator saturates
        (a softmax shape blend), so starts can cross plateaus a plain gradient sees as flat."""
        t = self.iteration / max(self.search_total, 1)
        strength = self.config.search_noise * max(0.0, 1.0 - t / 0.75) ** 2
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.iteration)
        eps = torch.randn(self.code.code.shape, generator=gen).to(self.code.code)
        return strength * eps * self.spread

    def _set_code(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            self.code.code.copy_(x.reshape(self.code.code.shape))

    def _polish_step(self) -> float:
        """One evaluation of the per-picture L-BFGS on the codes (noise maps, if any, stay as the refinement left
        them, normalised): loss and gradient at every picture's trial point."""
        code = self.code.code
        if self.polisher is None:
            x = code.detach().reshape(len(code), -1)
            self.polisher = BatchLBFGS(x, self.config.polish_step * self.scale * math.sqrt(x.shape[1]))
        self._set_code(self.polisher.trial())
        loss = self.per_picture_loss(None)
        grad, = torch.autograd.grad(loss.sum(), [code])
        self.polisher.tell(loss.detach(), grad.reshape(len(code), -1))
        self._set_code(self.polisher.x)  # the code shown and returned: each picture's best point so far
        self.iteration += 1
        self.losses.append(float(self.polisher.f.mean()))
        return self.losses[-1]

    @torch.no_grad()
    def current(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current reconstruction (B, 3, R, R) — the best start per picture while searching — and its PSNR."""
        images = self.code.render(self.generator).float()
        rows = torch.arange(len(images), device=images.device) // self.starts_now
        p = psnr(images, self.targets[rows]).reshape(-1, self.starts_now)
        best = p.argmax(1)
        keep = torch.arange(len(best), device=best.device) * self.starts_now + best
        return images[keep].cpu(), p.amax(1).cpu()

    def result(self, seconds: float = 0.0) -> ProjectionResult:
        image, quality = self.current()
        if self.starts_now > 1:  # stopped during the search: keep the best start
            with torch.no_grad():
                self.code.keep_best(self.per_picture_loss(None), self.starts_now)
        noise = [n.detach().cpu() for n in self.code.noise] or None
        return ProjectionResult(self.code.code.detach().cpu(), self.space, image, quality, noise, seconds,
                                asdict(self.config))

    # --- checkpoints (training_loop.run) ------------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path) -> None:
        save_checkpoint_file({"iteration": self.iteration, "losses": self.losses, "code": self.code.state_dict(),
                              "optimiser": self.optimiser.state_dict(),
                              "polisher": self.polisher.state_dict() if self.polisher is not None else {}}, path)

    def load_checkpoint(self, path: str | Path) -> None:
        def restore(state: dict[str, Any]) -> None:
            rows = state["code"]["code"].shape[0]
            if rows != len(self.code.code):  # saved after the search: `keep` starts per picture, or one
                self.code.keep_best(torch.zeros(len(self.code.code)), self.starts_now, rows // len(self.targets))
            self.code.load_state_dict(state["code"])
            self.iteration = state["iteration"]
            self.optimiser = self._optimiser()
            self.optimiser.load_state_dict(state["optimiser"])
            if state.get("polisher"):
                self.polisher = BatchLBFGS.from_state(state["polisher"])

        self.iteration, self.losses = read_checkpoint(path, self.total, restore)

    def train(self, checkpoint: str | Path | None = None, callback: Callable[[Progress], bool | None] | None = None,
              progress_bar: bool = False) -> ProjectionResult:
        """Run to the end (or until ``callback`` returns False) through ``training_loop.run``."""
        from ...training_loop import run

        start = time.monotonic()
        run(self, self.total, checkpoint_every=50, checkpoint=checkpoint, callback=callback,
            progress_bar=progress_bar, desc="project")
        return self.result(time.monotonic() - start)



def carry_state(old: torch.optim.Optimizer, new: torch.optim.Optimizer, rows: torch.Tensor) -> None:
    """Give ``new`` the per-row state of ``old`` for the rows kept (Adam's moments of the starts that won), so the
    refinement goes on from the search's estimates instead of restarting with sign-sized steps."""
    for p_old, p_new in zip(old.param_groups[0]["params"], new.param_groups[0]["params"]):
        state = old.state.get(p_old)
        if state:
            new.state[p_new] = {k: (v[rows].clone() if v.dim() and v.shape[0] == len(p_old) else v.clone())
                                for k, v in state.items()}


def project_iter(generator: Generator, pictures: torch.Tensor, config: ProjectionConfig | None = None,
                 start: torch.Tensor | None = None, clip: ClipModel | None = None,
                 preview_every: int = 10) -> Iterator[ProjectionUpdate]:
    """Project ``pictures`` (B, 3, R, R) in [-1, 1]: yields a ``ProjectionUpdate`` (progress with a time estimate, the
    current reconstruction) every ``preview_every`` steps and a last one holding the ``ProjectionResult``.

    ``start``: codes of the space to start from, (1 or B, *shape) — a mapper's guess (``starts.mapper_guess``);
    None: the mean code. ``clip``: the generator's CLIP, for the perceptual term (``config.perceptual`` > 0). Bad
    input raises ``ProjectionError`` (one sentence) before the first step."""
    return updates(Projector(generator, pictures, config, start, clip), preview_every)


def updates(projector: Projector, preview_every: int = 10, every_s: float | None = None,
            deadline_s: float | None = None) -> Iterator[ProjectionUpdate]:
    """Step ``projector`` to its end, reporting every ``preview_every`` steps (and, with ``every_s``, whenever that
    many seconds have passed since the last report: slow steps) and at the end, with the result. ``deadline_s``:
    stop once that many seconds have passed (checked after every step), reporting the result so far."""
    begin, first = time.monotonic(), projector.iteration
    last = begin
    while projector.iteration < projector.total:
        loss = projector.step()
        i, total = projector.iteration, projector.total
        now = time.monotonic()
        over = deadline_s is not None and now - begin > deadline_s and i < total
        if i % max(1, preview_every) and i < total and not over and (every_s is None or now - last < every_s):
            continue
        elapsed = now - begin
        recent = projector.losses[-50:]
        eta = elapsed / max(i - first, 1) * (total - i)
        progress = Progress(i, total, loss, sum(recent) / len(recent), elapsed, eta)
        result = projector.result(elapsed) if i == total or over else None
        image, quality = (result.image, result.psnr_db) if result else projector.current()
        yield ProjectionUpdate(progress, projector.phase if result is None else "done", image, quality, result)
        last = time.monotonic()
        if over:
            return


def project(generator: Generator, pictures: torch.Tensor, config: ProjectionConfig | None = None,
            start: torch.Tensor | None = None, clip: ClipModel | None = None,
            callback: Callable[[ProjectionUpdate], bool | None] | None = None,
            preview_every: int = 10) -> ProjectionResult:
    """``project_iter`` run to the end; ``callback(update)`` returning False stops early with the result so far."""
    projector = Projector(generator, pictures, config, start, clip)
    begin = time.monotonic()
    for update in updates(projector, preview_every):
        if update.result is not None:
            return update.result
        if callback is not None and callback(update) is False:
            break
    return projector.result(time.monotonic() - begin)
