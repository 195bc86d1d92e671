"""The command line, as a newcomer would run it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from contraclip_core.generators import load_folder

from .conftest import FIXTURES, fixture_config

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "contraclip_core", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                            "HOME": str(cwd)})


def test_help_names_every_command():
    result = cli("--help")
    assert result.returncode == 0
    for command in ("train", "traverse", "evaluate", "convert"):
        assert command in result.stdout
    train_help = cli("train", "--help").stdout
    assert "--dipole FIRST SECOND" in train_help and "positive steps go toward FIRST" in train_help


def test_convert_a_rosinality_file(tmp_path):
    ckpt = tmp_path / "tiny.pt"
    torch.save({"g_ema": load_file(FIXTURES / "stylegan2_rosinality_tiny.g_ema.safetensors")}, ckpt)
    result = cli("convert", str(ckpt), "--arch", "stylegan2", "--config",
                 json.dumps(fixture_config("stylegan2_rosinality_tiny")), "--out", str(tmp_path / "ours"))
    assert result.returncode == 0, result.stderr
    g = load_folder(tmp_path / "ours")
    io = load_file(FIXTURES / "stylegan2_rosinality_tiny.io.safetensors")
    with torch.no_grad():
        assert (g.synthesis(io["wplus"], "w+") - io["img_from_wplus"]).abs().max() < 1e-4


def test_convert_an_nvidia_pickle_without_a_config(tmp_path):
    """No --arch, no --config: the NVIDIA snapshot's architecture and config are read from it."""
    result = cli("convert", str(FIXTURES / "stylegan2ada_nvidia_tiny.pkl"), "--out", str(tmp_path / "ours"))
    assert result.returncode == 0, result.stderr
    g = load_folder(tmp_path / "ours")
    io = load_file(FIXTURES / "stylegan2ada_nvidia_tiny.io.safetensors")
    with torch.no_grad():
        assert (g.synthesis(io["wplus"], "w+") - io["img_from_wplus"]).abs().max() < 1e-4


def test_train_traverse_evaluate_on_shapes(tmp_path):
    out = tmp_path / "paths"
    result = cli("train", "--dipole", "a red shape", "a blue shape", "--iterations", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "saved 1 path(s)" in result.stdout and (out / "paths.safetensors").is_file()
    assert "objective: per attribute family — path 0: colour → zero-shot" in result.stdout  # the Shapes preset's
    assert "precision: fp32" in result.stdout or "AMX" not in result.stdout  # the CPU rule: fp32 unless AMX wins
    (check,) = json.loads((out / "paths.json").read_text())["metrics"]["orientation"]  # the training's last act
    assert check["checked"] is True and (check["movement"] < 0) == check["flipped"]
    result = cli("traverse", str(out), "--seeds", "0", "1", "--steps", "3", "--out", str(tmp_path / "media"),
                 "--precision", "bf16")
    assert result.returncode == 0, result.stderr
    assert "precision: bf16: set by CONTRACLIP_PRECISION / --precision" in result.stdout
    assert {p.name for p in (tmp_path / "media").iterdir()} == {"path0_strip.png", "path0.gif", "path0.mp4"}
    result = cli("evaluate", str(out), "--seeds", "4", "--out", str(tmp_path / "eval"))
    assert result.returncode == 0, result.stderr
    assert "| a red shape / a blue shape | hue: toward red (from blue) |" in result.stdout
    assert (tmp_path / "eval" / "curves.png").is_file()


def test_errors_are_one_clear_line(tmp_path):
    result = cli("train", "--generator", "stylegan2-ffhq-1024", "--dipole", "a", "a", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    result = cli("traverse", str(tmp_path / "missing"), "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "is not a path set" in result.stderr


def test_mappers_train_and_stage_a_publish(tmp_path, capsys):
    from contraclip_core.cli import main

    out = tmp_path / "csla"
    assert main(["mappers", "train", "--objective", "csla", "--iterations", "2", "--out", str(out)]) == 0
    assert (out / "mapper.json").is_file() and not (out / "checkpoint.pt").exists()
    assert main(["mappers", "publish", str(out), "--repo", "me/mappers", "--dry-run", str(tmp_path / "staged")]) == 0
    assert (tmp_path / "staged" / "shapes-128" / "mappers" / "csla" / "README.md").is_file()
