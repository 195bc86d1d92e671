"""Which arithmetic a device renders and trains in: chosen per device, measured rather than assumed, overridable.

The rules (``choose``, a pure function of the device's properties and of measured trials):

- **CPU** → fp32, or bf16 where the CPU computes bf16 natively (``avx512_bf16``: AMD Zen 4, Intel Cooper Lake and
  later; ``amx_bf16``: Sapphire Rapids and later) and bf16 measures ≥ 1.1× faster at PSNR ≥ 35 dB. Without native
  bf16 it is emulated and measured ~2× *slower* (an AVX-512 Xeon without either, issue 13), so it is not tried. The
  rule used to ask for AMX; an AMD EPYC with ``avx512_bf16`` measured bf16 1.6–2.1× fp32 and stayed in fp32
  (issue 28). The Shapes world, which renders in its own dtype under any autocast, measured "1.02×" on an AMX
  machine: noise, which the rule took for a win before the margin.
- **NVIDIA Ampere or newer** (compute capability ≥ 8.0) → bf16 if measured ≥ 1.1× fp32-with-TF32 and PSNR ≥ 35 dB
  against strict fp32; otherwise fp32 with TF32 on (TF32 is on for every fp32 matmul/conv on these GPUs).
- **Turing / Volta** (7.x, e.g. the T4 of ``t4-small``: no bf16 units) → fp16 with StyleGAN2's conv clamping
  (``generators/fast_ops.py``, as NVIDIA's fp16 layers) if measured ≥ 1.1× fp32 at PSNR ≥ 35 dB; otherwise fp32.
- Older GPUs → fp32.

``CONTRACLIP_PRECISION`` (or ``--precision``, or ``Service(precision=…)``) overrides: ``auto`` (default), ``fp32``
(strict: TF32 off), ``tf32``, ``bf16``, ``fp16``. The chosen mode and its reason are a sentence the app and the
bench print.
"""
from __future__ import annotations

import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

ENV = "CONTRACLIP_PRECISION"
MODES = ("fp32", "tf32", "bf16", "fp16")
MIN_PSNR_DB = 35.0  # a reduced precision must render within this PSNR of strict fp32
MIN_SPEEDUP = 1.10  # …and be at least this much faster: a smaller "win" of three timed batches is timing noise
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceProps:
    """What the choice depends on; ``of(device)`` reads it from the machine, tests build it by hand."""

    kind: str  # "cpu" or "cuda"
    name: str  # e.g. "Tesla T4", "AMD EPYC …"
    capability: tuple[int, int] | None = None  # CUDA compute capability, e.g. (7, 5) for a T4
    cpu_flags: frozenset[str] = field(default_factory=frozenset)  # /proc/cpuinfo flags, e.g. {"amx_bf16"}

    @property
    def has_amx(self) -> bool:
        return "amx_bf16" in self.cpu_flags

    @property
    def native_bf16(self) -> bool:
        """bf16 arithmetic in hardware: AVX-512 BF16 dot products or AMX tiles (without either torch emulates it)."""
        return self.has_amx or "avx512_bf16" in self.cpu_flags

    @classmethod
    def of(cls, device: str | torch.device) -> "DeviceProps":
        device = torch.device(device)
        if device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            p = torch.cuda.get_device_properties(index)
            return cls("cuda", p.name, (p.major, p.minor))
        if device.type != "cpu":
            return cls(device.type, device.type)
        name, flags = "CPU", frozenset()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key.strip() == "model name" and name == "CPU":
                        name = value.strip()
                    elif key.strip() == "flags":
                        flags = frozenset(value.split())
                        break
        except OSError:  # not Linux: no flags, so no AMX assumed (fp32)
            pass
        return cls("cpu", name, None, flags)


@dataclass(frozen=True)
class Trial:
    """One measured mode: speed and fidelity against strict fp32 on the same inputs."""

    mode: str
    images_per_s: float
    psnr_db: float


@dataclass(frozen=True)
class Precision:
    mode: str  # "fp32" | "tf32" | "bf16" | "fp16"
    tf32: bool  # TF32 for the fp32 work (matmuls and convs outside autocast) on NVIDIA Ampere+
    reason: str  # one sentence: why this mode here

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return AUTOCAST_DTYPES.get(self.mode)

    def describe(self) -> str:
        return f"{self.mode}{' + TF32' if self.tf32 and self.mode != 'tf32' else ''}: {self.reason}"

    @contextmanager
    def context(self, device: str | torch.device) -> Iterator[None]:
        """Run the enclosed work in this precision on ``device`` (TF32 flags restored afterwards)."""
        device = torch.device(device)
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = self.tf32
        try:
            if self.autocast_dtype is not None:
                with torch.autocast(device.type, dtype=self.autocast_dtype):
                    yield
            else:
                yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def parse_override(value: str | None) -> str | None:
    """``None``/``""``/``"auto"`` → None (choose automatically); a mode name → itself; anything else → ValueError."""
    if value is None or not str(value).strip() or str(value).strip().lower() == "auto":
        return None
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise ValueError(f"precision must be auto or one of {', '.join(MODES)}, got {value!r}")
    return mode


def candidates(props: DeviceProps) -> tuple[str, str | None]:
    """(baseline mode, the reduced mode worth measuring against it or None) for this device."""
    if props.kind == "cuda" and props.capability is not None:
        if props.capability >= (8, 0):
            return "tf32", "bf16"
        if props.capability >= (7, 0):
            return "fp32", "fp16"
        return "fp32", None
    if props.kind == "cpu" and props.native_bf16:
        return "fp32", "bf16"
    return "fp32", None


def choose(props: DeviceProps, trials: dict[str, Trial] | None = None, override: str | None = None) -> Precision:
    """The precision for this device: the override if given, else the measured candidate if it is ≥ ``MIN_SPEEDUP``
    × the baseline's speed at PSNR ≥ ``MIN_PSNR_DB``, else the baseline. Pure: same inputs, same answer."""
    tf32_hw = props.kind == "cuda" and props.capability is not None and props.capability >= (8, 0)
    override = parse_override(override)
    if override is not None:
        return Precision(override, tf32_hw and override != "fp32", f"set by {ENV} / --precision")
    baseline, candidate = candidates(props)
    tf32 = tf32_hw
    trials = trials or {}
    if candidate is None:
        if props.kind == "cpu":
            measured = trials.get("bf16")
            base = trials.get("fp32")
            note = (f"; bf16 measured {measured.images_per_s / base.images_per_s:.2f}× fp32's speed here"
                    if measured and base and base.images_per_s > 0 else "")
            return Precision("fp32", False, f"CPU without native bf16 (avx512_bf16 or AMX): fp32 by rule, bf16 "
                                            f"would be emulated{note}")
        return Precision("fp32", False, f"{props.name} (compute capability {props.capability}) has no fast "
                                        "reduced precision")
    base_name = {"tf32": "fp32 with TF32", "fp32": "fp32"}[baseline]
    if candidate not in trials or baseline not in trials:
        return Precision(baseline, tf32, f"{candidate} not measured on {props.name} yet; {base_name} is safe")
    cand, base = trials[candidate], trials[baseline]
    speedup = cand.images_per_s / base.images_per_s if base.images_per_s > 0 else 0.0
    if math.isinf(cand.psnr_db):  # not one pixel changed: the generator does not compute in the candidate at all
        return Precision(baseline, tf32, f"{candidate} renders the very same image (this generator does not run in "
                                         f"it), so any speed-up measured is timing noise; {base_name}")
    if cand.psnr_db < MIN_PSNR_DB:
        return Precision(baseline, tf32, f"{candidate} renders at {cand.psnr_db:.1f} dB PSNR against fp32, under "
                                         f"the {MIN_PSNR_DB:.0f} dB bar; {base_name}")
    if speedup < MIN_SPEEDUP:
        return Precision(baseline, tf32, f"{candidate} measured {speedup:.2f}× {base_name}'s speed, not the "
                                         f"{MIN_SPEEDUP:.2f}× that would be more than timing noise")
    what = "with conv clamping, " if candidate == "fp16" else ""
    return Precision(candidate, tf32, f"{candidate} {what}measured {speedup:.2f}× {base_name}'s speed at "
                                      f"{cand.psnr_db:.1f} dB PSNR against fp32 on {props.name}")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [−1, 1] (peak-to-peak 2)."""
    mse = float((a.float() - b.float()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def measure(render: Callable[[], torch.Tensor], device: str | torch.device, modes: list[str], batch: int,
            iters: int = 3) -> dict[str, Trial]:
    """Time ``render()`` (a batch of ``batch`` images) in each mode; PSNR of each against strict fp32."""
    device = torch.device(device)
    strict = Precision("fp32", False, "reference")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with torch.no_grad(), strict.context(device):
        reference = render().float()
    trials = {}
    for mode in modes:
        p = Precision(mode, mode != "fp32", "trial")
        with torch.no_grad(), p.context(device):
            image = render()  # warm-up (kernel selection, caches)
            times = []
            for _ in range(iters):
                sync()
                start = time.perf_counter()
                render()
                sync()
                times.append(time.perf_counter() - start)
        trials[mode] = Trial(mode, batch / sorted(times)[len(times) // 2], psnr(image, reference))
    return trials


def select(generator, device: str | torch.device, override: str | None = None, batch: int = 4) -> Precision:
    """The precision for ``generator`` on ``device``: override (argument, else ``$CONTRACLIP_PRECISION``), else
    ``choose`` over trials measured on this generator when the device has a candidate worth measuring."""
    override = override if override is not None else os.environ.get(ENV)
    props = DeviceProps.of(device)
    trials = None
    if parse_override(override) is None:
        baseline, candidate = candidates(props)
        if candidate is not None:
            seeds = list(range(batch))
            space = "w" if "w" in generator.spaces else "z"
            with torch.no_grad():
                latent = generator.encode(generator.sample_z(seeds), space, 1.0)
            trials = measure(lambda: generator.synthesis(latent, space), device, [baseline, candidate], batch)
    chosen = choose(props, trials, override)
    log.info("precision on %s: %s", props.name, chosen.describe())
    return chosen


def add_precision_argument(parser: Any) -> None:
    """``--precision`` for a CLI command that renders or trains (an ``argparse`` parser)."""
    parser.add_argument("--precision", choices=["auto", *MODES], default=None,
                        help="arithmetic for the generator and CLIP (default: $CONTRACLIP_PRECISION, else auto: chosen "
                             "and measured per device, see contraclip_core/precision.py)")


def run_precision(generator, args: Any) -> Precision:
    """The precision of a CLI run (``--precision``, else ``$CONTRACLIP_PRECISION``, else chosen), printed."""
    mode = select(generator, args.device, args.precision)
    print(f"precision: {mode.describe()}")
    return mode
