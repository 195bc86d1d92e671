"""Your own generator and CLIP, as local files: a random-weights StyleGAN2 in rosinality's layout and a small random
open_clip model in open_clip's own layout go into the app's picker (``Service.add_generator``) and through the CLI
(``--clip``), offline: paths train and traverse, an edit model trains and edits, a mapper trains and maps."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from contraclip_core.clip import encoded, load_clip
from contraclip_core.service import Service

ROOT = Path(__file__).resolve().parent.parent
TINY_CLIP = {"embed_dim": 32, "quick_gelu": False,
             "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
             "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}


@pytest.fixture(scope="module")
def your_files(tmp_path_factory, tiny_stylegan2_state):
    """A rosinality-layout ``.pt`` (``g_ema`` + ``latent_avg``, plain tensors) and an open_clip model folder."""
    import open_clip
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("yours")
    generator = root / "my-gan.pt"
    torch.save(tiny_stylegan2_state, generator)
    (root / "configs").mkdir()
    (root / "configs" / "tiny-test-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(root / "configs" / "tiny-test-clip.json")
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-test-clip")
    clip = root / "my-clip"
    clip.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, clip / "open_clip_model.safetensors")
    (clip / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": TINY_CLIP,
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}}))
    return generator, clip


@pytest.fixture(scope="module")
def tiny_stylegan2_state():
    from safetensors.torch import load_file

    fixtures = Path(__file__).parent / "fixtures"
    state = load_file(fixtures / "stylegan2_rosinality_tiny.g_ema.safetensors")
    return {"g_ema": state, "latent_avg": load_file(fixtures / "stylegan2_rosinality_tiny.io.safetensors")["w_avg"]}


def test_an_open_clip_folder_loads_with_its_tokenizer(your_files):
    _, folder = your_files
    clip = load_clip(str(folder))
    assert clip.image_size == 32 and clip.encode_text(["a red car"]).shape == (1, 32)
    assert clip.encode_images(torch.zeros(2, 3, 32, 32)).shape == (2, 32)
    ids, past = encoded(str(folder), "word " * 30)
    assert len(ids) == 24 and past == ["word"] * 8  # its own context (24): 22 words are read


def test_your_generator_and_clip_train_traverse_edit_and_map(tmp_path, your_files):
    generator, clip = your_files
    service = Service(tmp_path / "data", device="cpu")
    try:
        name = service.add_generator(str(generator), clip=str(clip))
        row = next(r for r in service.generators() if r["name"] == name)
        assert row["available"] and row["domain"] == "yours" and row["resolution"] == 32
        jobs = [service.submit("paths", name, "a red car", "a blue car", iterations=2),
                service.submit("edit", name, "a smiling face", iterations=2),
                service.submit("mapper", name, "csla", iterations=2)]
        deadline = time.monotonic() + 600
        while any((r := service.job_row(service.queue.store.load(j["id"])))["status"] in ("queued", "running")
                  for j in jobs):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        rows = [service.job_row(service.queue.store.load(j["id"])) for j in jobs]
        assert [r["status"] for r in rows] == ["done"] * 3, [r["error"] for r in rows]

        paths = service.method("contraclip")
        path = next(p for p in paths.paths(name) if p.folder.name == jobs[0]["id"])
        result = paths.traverse(name, path.id, "0, 1", steps=2)
        assert result["steps"] == [-2, -1, 0, 1, 2] and Path(result["gif"]).is_file()
        assert json.loads((path.folder / "paths.json").read_text())["settings"]["clip"] == str(clip)

        edits = service.method("cfclip")
        model = next(m for m in edits.models(name) if m["id"].endswith(jobs[1]["id"]))
        assert Path(edits.edit(name, model["id"], "0", "a smiling face", 1.0, 2)["before_after"]).is_file()

        mappers = service.method("mappers")
        mapper = next(m for m in mappers.models(name) if m["id"].endswith(jobs[2]["id"]))
        anchor = mappers.anchor_from_text(name, "a red car", mapper=mapper["id"])
        assert anchor["space"] == "w" and len(anchor["latent"]) == 64  # one W code of the tiny generator
    finally:
        service.close()


def test_the_command_line_takes_your_clip(tmp_path, your_files):
    generator, clip = your_files
    out = tmp_path / "paths"
    run = subprocess.run([sys.executable, "-m", "contraclip_core", "train", "--generator", str(generator), "--clip",
                          str(clip), "--dipole", "a red car", "a blue car", "--iterations", "2", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    meta = json.loads((out / "paths.json").read_text())
    assert meta["settings"]["clip"] == str(clip) and meta["layers"] == 1  # ℓ = num_ws − 7 for a preset-less file
    bad = subprocess.run([sys.executable, "-m", "contraclip_core", "train", "--generator", str(generator), "--clip",
                          str(tmp_path / "nowhere"), "--dipole", "a", "b", "--iterations", "1", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "unknown CLIP model" in bad.stderr and "Traceback" not in bad.stderr


def test_the_app_adds_your_generator_with_its_clip_to_the_picker(tmp_path, your_files):
    from gradio_client import Client

    from .app_server import running_app, start_app

    generator, clip = your_files
    (tmp_path / "data").mkdir()
    with running_app(tmp_path / "data", args=("--generator", str(generator), "--clip", str(clip))) as url:
        client = Client(url, verbose=False)
        picker, note, *_ = client.predict("yours-my-gan", api_name="/select_generator")
        assert picker["choices"] == [] and "No paths for this generator yet" in note  # known, available, untrained
    (tmp_path / "bad").mkdir()
    with pytest.raises(RuntimeError, match="cannot add the generator"):
        start_app(tmp_path / "bad", args=("--generator", str(tmp_path / "nowhere.pt")))
