"""Precision per device (contraclip_core/precision.py). No GPU exists where these tests run: the GPU branches are
tested through hand-made device properties (T4 = sm75, A100 = sm80, H100 = sm90) and hand-made trials; the CPU branch
also runs for real."""
from __future__ import annotations

import pytest
import torch

from contraclip_core import precision
from contraclip_core.generators.stylegan2 import StyleGAN2Generator
from contraclip_core.precision import DeviceProps, Trial, choose

from .helpers import random_stylegan2

CPU = DeviceProps("cpu", "Xeon Skylake (AVX-512, no bf16)", None, frozenset({"avx512f", "avx512bw"}))
CPU_BF16 = DeviceProps("cpu", "AMD EPYC (avx512_bf16, no AMX)", None, frozenset({"avx512f", "avx512_bf16"}))
CPU_AMX = DeviceProps("cpu", "Xeon Sapphire Rapids", None, frozenset({"avx512f", "amx_bf16", "amx_tile"}))
T4 = DeviceProps("cuda", "Tesla T4", (7, 5))
A100 = DeviceProps("cuda", "NVIDIA A100-SXM4-40GB", (8, 0))
H100 = DeviceProps("cuda", "NVIDIA H100 80GB HBM3", (9, 0))
P100 = DeviceProps("cuda", "Tesla P100", (6, 0))


def trials(**modes: tuple[float, float]) -> dict[str, Trial]:
    return {m: Trial(m, speed, db) for m, (speed, db) in modes.items()}


def test_cpu_without_native_bf16_is_fp32_even_if_bf16_was_measured():
    p = choose(CPU, trials(fp32=(1.2, float("inf")), bf16=(0.6, 44.0)))
    assert (p.mode, p.tf32, p.autocast_dtype) == ("fp32", False, None)
    assert "without native bf16" in p.reason and "0.50× fp32's speed" in p.reason
    assert choose(CPU).mode == "fp32"
    assert precision.candidates(CPU) == ("fp32", None)


def test_cpu_with_avx512_bf16_but_no_amx_measures_bf16():
    """Issue 28: an AMD EPYC with avx512_bf16 measured bf16 1.6–2.1× fp32 and the old rule ("only with AMX") left it
    in fp32. Native bf16 of either kind is now measured, and taken on the same bars as with AMX."""
    assert precision.candidates(CPU_BF16) == ("fp32", "bf16")
    assert choose(CPU_BF16).mode == "fp32"  # not measured: not assumed
    fast = choose(CPU_BF16, trials(fp32=(1.0, 99), bf16=(1.8, 47.0)))
    assert fast.mode == "bf16" and "1.80×" in fast.reason and "AMD EPYC" in fast.reason
    assert choose(CPU_BF16, trials(fp32=(1.0, 99), bf16=(1.8, 30.0))).mode == "fp32"  # under the PSNR bar


def test_cpu_with_amx_takes_bf16_only_when_measured_faster_and_close():
    assert choose(CPU_AMX).mode == "fp32"  # not measured: not assumed
    assert choose(CPU_AMX, trials(fp32=(1.0, 99), bf16=(2.5, 41.0))).mode == "bf16"
    assert choose(CPU_AMX, trials(fp32=(1.0, 99), bf16=(0.9, 41.0))).mode == "fp32"
    # A "win" within timing noise is none (on an AMX machine the app took bf16 at a measured 1.02× before the margin)
    noise = choose(CPU_AMX, trials(fp32=(1.0, 99), bf16=(1.02, 60.0)))
    assert noise.mode == "fp32" and "1.02×" in noise.reason and "noise" in noise.reason
    assert choose(CPU_AMX, trials(fp32=(1.0, 99), bf16=(1.1, 41.0))).mode == "bf16"  # the margin itself is enough
    # An identical image means the generator does not run in bf16 at all (the Shapes world): a measured "2.25×"
    # there (seen in the app on an AMX CPU: the first-timed mode paid the warm-up) is noise too.
    same = choose(CPU_AMX, trials(fp32=(1.0, float("inf")), bf16=(2.25, float("inf"))))
    assert same.mode == "fp32" and "very same image" in same.reason


def test_t4_takes_fp16_with_clamping_or_fp32_below_the_psnr_bar():
    p = choose(T4, trials(fp32=(10.0, 99), fp16=(25.0, 42.3)))
    assert (p.mode, p.tf32, p.autocast_dtype) == ("fp16", False, torch.float16)  # no TF32 units before Ampere
    assert "2.50×" in p.reason and "42.3 dB" in p.reason and "clamping" in p.reason
    low = choose(T4, trials(fp32=(10.0, 99), fp16=(25.0, 31.0)))
    assert low.mode == "fp32" and "31.0 dB" in low.reason and "35 dB" in low.reason
    assert choose(T4).mode == "fp32"


@pytest.mark.parametrize("props", [A100, H100], ids=["A100", "H100"])
def test_ampere_and_newer_take_bf16_when_faster_else_tf32(props):
    p = choose(props, trials(tf32=(20.0, 60), bf16=(31.0, 40.1)))
    assert (p.mode, p.tf32, p.autocast_dtype) == ("bf16", True, torch.bfloat16)  # TF32 for the fp32 remainder
    slow = choose(props, trials(tf32=(20.0, 60), bf16=(19.0, 40.1)))
    assert (slow.mode, slow.tf32) == ("tf32", True) and "0.95×" in slow.reason and "timing noise" in slow.reason
    assert choose(props).mode == "tf32"


def test_old_gpus_stay_fp32():
    assert choose(P100).mode == "fp32" and not choose(P100).tf32


def test_override_wins_and_is_validated():
    assert choose(T4, trials(fp32=(10.0, 99), fp16=(25.0, 42.3)), override="fp32").mode == "fp32"
    strict = choose(A100, override="FP32")
    assert (strict.mode, strict.tf32) == ("fp32", False) and "CONTRACLIP_PRECISION" in strict.reason
    assert choose(A100, override="auto").mode == "tf32"
    assert choose(CPU, override="bf16").autocast_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision must be auto or one of fp32, tf32, bf16, fp16"):
        choose(CPU, override="half")


def test_cpu_props_read_from_this_machine():
    props = DeviceProps.of("cpu")
    assert props.kind == "cpu" and props.name
    native = bool({"amx_bf16", "avx512_bf16"} & props.cpu_flags)
    assert props.native_bf16 == native
    assert precision.candidates(props) == (("fp32", "bf16") if native else ("fp32", None))


@pytest.fixture(scope="module")
def stylegan2_16px() -> StyleGAN2Generator:
    """A random-weight StyleGAN2 smaller than conftest's stylegan2_16px ones (16 px, 32-d w, 16 channels), its w average
    estimated as after a conversion: precision.measure renders with it in every mode, so it is kept as small as the
    precision choice allows. Scope: module."""
    g = random_stylegan2(dict(size=16, style_dim=32, n_mlp=2, channels={"4": 16, "8": 16, "16": 16}), seed=0)
    StyleGAN2Generator.after_conversion(g)
    return g.eval().requires_grad_(False)


def test_measure_times_each_mode_and_scores_it_against_strict_fp32(stylegan2_16px):
    z = stylegan2_16px.encode(stylegan2_16px.sample_z([0, 1]), "w")
    result = precision.measure(lambda: stylegan2_16px.synthesis(z, "w"), "cpu", ["fp32", "bf16"], batch=2, iters=1)
    assert result["fp32"].psnr_db == float("inf") and result["fp32"].images_per_s > 0
    assert 25 < result["bf16"].psnr_db < 90  # bf16 really ran, and stayed close


def test_select_reads_the_environment_and_measures_only_when_there_is_a_candidate(stylegan2_16px, monkeypatch):
    calls = []
    monkeypatch.setattr(precision, "measure", lambda *a, **k: calls.append(a) or {})
    monkeypatch.setattr(precision.DeviceProps, "of", classmethod(lambda cls, d: CPU))
    monkeypatch.delenv(precision.ENV, raising=False)
    assert precision.select(stylegan2_16px, "cpu").mode == "fp32" and calls == []  # no native bf16: nothing to try
    monkeypatch.setenv(precision.ENV, "bf16")
    assert precision.select(stylegan2_16px, "cpu").mode == "bf16"
    assert precision.select(stylegan2_16px, "cpu", override="fp32").mode == "fp32"  # an explicit argument beats the env
    monkeypatch.delenv(precision.ENV)
    monkeypatch.setattr(precision.DeviceProps, "of", classmethod(lambda cls, d: CPU_AMX))
    assert precision.select(stylegan2_16px, "cpu").mode == "fp32" and len(calls) == 1  # measured (stubbed: no trials)


def test_context_applies_autocast():
    with precision.Precision("bf16", False, "test").context("cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")
    with precision.Precision("fp32", False, "test").context("cpu"):
        assert not torch.is_autocast_enabled("cpu")
