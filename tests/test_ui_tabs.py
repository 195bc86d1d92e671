"""The UI package in-process, no server: each tab's ``build(service)`` builds inside a bare ``gr.Blocks()``; the page
``build_demo`` composes registers every api_name once, with the inputs and outputs clients rely on; and the modules
built are exactly the ones the method registry names (a tab wired by hand, or a registry entry left out, fails)."""
from __future__ import annotations

import dataclasses
import sys
import types
from collections import Counter
from pathlib import Path

import gradio as gr
import pytest

import contraclip_ui
from contraclip_core.methods.registry import METHODS
from contraclip_core.service import Service
from contraclip_ui import anchor, edit, explore, train

API_NAMES = {"traverse", "train", "cancel", "delete_job", "poll", "progress", "select_generator", "random_seed", "init",
             "anchor_from_text", "anchor_from_image", "anchor_source", "edit", "edit_strength", "edit_models",
             "refresh_edit_models", "train_edit"}
# What clients call with, in order: each component named by its elem_id, else its label (gr.State: "state").
SIGNATURES = {
    "traverse": (["generator-picker", "path-picker", "seeds", "Truncation ψ", "Steps each way", "Step size η",
                  "anchor-id"],
                 ["gif", "strip", "download-gif", "download-mp4", "explore-status", "state", "state"]),
    "select_generator": (["generator-picker"], ["path-picker", "None", "Truncation ψ", "Step size η"]),
    "init": (["generator-picker"], ["path-picker", "None", "Truncation ψ", "Step size η"]),
    "random_seed": ([], ["seeds"]),
    "train": (["Generator", "first", "second", "…or a pre-defined corpus", "Preset", "Iterations (empty: preset's)",
               "Learning rate (empty: preset's)", "Loss", "objective"], ["train-status", "jobs"]),
    "cancel": (["job-pick"], ["train-status", "jobs"]),
    "delete_job": (["job-pick"], ["train-status", "jobs"]),
    "poll": (["generator-picker", "path-picker", "state"], ["jobs", "preview", "path-picker", "state"]),
    "progress": (["job-pick", "state"], ["job-cards", "job-pick", "state"]),
    "anchor_source": (["anchor-source"], ["None", "None", "anchor-id", "anchor-note"]),
    "anchor_from_text": (["generator-picker", "anchor-sentence", "Variation seed (0: none)"],
                         ["Anchor", "anchor-id", "anchor-note"]),
    "anchor_from_image": (["generator-picker", "anchor-upload"],
                          ["Upload (as the generator sees it)", "Reconstruction", "anchor-id", "anchor-note"]),
    "edit": (["Generator", "edit-model", "edit-seeds", "edit-sentence", "Strength"],
             ["edit-pair", "edit-gif", "edit-download-gif", "edit-status"]),
    "edit_strength": (["Generator", "edit-model", "edit-seeds", "edit-sentence", "Strength"],
                      ["edit-pair", "edit-gif", "edit-download-gif", "edit-status"]),
    "edit_models": (["Generator"], ["edit-model", "None"]),
    "refresh_edit_models": (["Generator"], ["edit-model", "None"]),
    "train_edit": (["Generator", "edit-targets", "…or a vocabulary", "Iterations (empty: default)"],
                   ["edit-train-status"]),
}
UI_DIR = Path(contraclip_ui.__file__).parent


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from huggingface_hub import constants

    offline, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True  # no Hub probes: the Shapes world is local
    svc = Service(tmp_path_factory.mktemp("ui-data"), device="cpu", start_worker=False)
    try:
        yield svc
    finally:
        svc.close()
        constants.HF_HUB_OFFLINE = offline


def api_names(blocks: gr.Blocks) -> Counter:
    """The public api_names (Gradio renames a repeated one ``name_1``, which the set comparisons catch)."""
    return Counter(fn.api_name for fn in blocks.fns.values() if fn.api_name and fn.api_visibility == "public")


def name_of(component) -> str:
    if isinstance(component, gr.State):
        return "state"
    return component.elem_id or str(getattr(component, "label", None))


def registry_names() -> list[str]:
    return [name for method in METHODS.values() for name in method.ui]


@pytest.mark.parametrize("module, expected", [
    (explore, {"select_generator", "random_seed", "traverse", "init"}),
    (train, {"train", "cancel", "delete_job", "poll", "progress"}),
    (edit, {"edit", "edit_strength", "edit_models", "refresh_edit_models", "train_edit"}),
])
def test_each_tab_builds_on_its_own(service, module, expected):
    with gr.Blocks() as blocks:
        shared = module.build(service)
    assert isinstance(shared, dict)
    assert set(api_names(blocks)) == expected
    assert all(v == 1 for v in api_names(blocks).values())
    assert sum(isinstance(b, gr.Tab) for b in blocks.blocks.values()) == 1


def test_the_anchor_panel_builds_beside_a_generator_picker(service):
    with gr.Blocks() as blocks:
        generator = gr.Dropdown(["shapes-128"], value="shapes-128")
        anchor_id = anchor.build(service, generator)
    assert anchor.PANEL_OF == "explore" and anchor_id.elem_id == "anchor-id"
    assert set(api_names(blocks)) == {"anchor_source", "anchor_from_text", "anchor_from_image"}
    assert not any(isinstance(b, gr.Tab) for b in blocks.blocks.values())


def test_the_page_registers_every_api_name_once_with_its_inputs_and_outputs(service):
    demo = contraclip_ui.build_demo(service)
    counts = api_names(demo)
    assert set(counts) == API_NAMES, set(counts) ^ API_NAMES
    assert all(n == 1 for n in counts.values()), counts
    for fn in demo.fns.values():
        if fn.api_name in SIGNATURES:
            inputs, outputs = SIGNATURES[fn.api_name]
            assert [name_of(c) for c in fn.inputs] == inputs, fn.api_name
            assert [name_of(c) for c in fn.outputs] == outputs, fn.api_name
    tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert [t.id for t in tabs] == ["explore", "train", "edit"]
    # the one timer ticks on every tab: it sits on the page, not inside a (lazily mounted) tab
    timers = [b for b in demo.blocks.values() if isinstance(b, gr.Timer)]
    assert len(timers) == 1 and timers[0].parent is demo


def test_the_page_builds_exactly_the_modules_the_registry_names(service, monkeypatch):
    built = []
    for name in registry_names():
        module = sys.modules[f"contraclip_ui.{name}"]

        def recording(*args, _name=name, _build=module.build, **kwargs):
            built.append(_name)
            return _build(*args, **kwargs)

        monkeypatch.setattr(module, "build", recording)
    contraclip_ui.build_demo(service)
    assert sorted(built) == sorted(registry_names())
    assert [n for n in built if n != "anchor"] == ["explore", "train", "edit"]  # page order: the registry's
    assert set(registry_names()) == {"explore", "train", "edit", "anchor"}


def test_a_new_registry_entry_adds_its_tab_and_a_panel_needs_its_host(service, monkeypatch):
    probe = types.ModuleType("contraclip_ui.probe")

    def build(service_, page=None):
        with gr.Tab("Probe", id="probe"):
            gr.Markdown("probe")
        return {}

    probe.build = build
    monkeypatch.setitem(sys.modules, "contraclip_ui.probe", probe)
    monkeypatch.setitem(METHODS, "probe", dataclasses.replace(METHODS["cfclip"], name="probe", ui=("probe",)))
    demo = contraclip_ui.build_demo(service)
    assert [b.id for b in demo.blocks.values() if isinstance(b, gr.Tab)] == ["explore", "train", "edit", "probe"]
    probe.PANEL_OF = "nowhere"
    with pytest.raises(ValueError, match="panel of 'nowhere'"):
        contraclip_ui.build_demo(service)


def test_ui_modules_are_small_and_the_old_scripts_are_gone():
    for path in UI_DIR.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, path.name
    root = UI_DIR.parent
    assert not (root / "app_edit.py").exists() and not (root / "app_anchor.py").exists()
    assert len((root / "app.py").read_text(encoding="utf-8").splitlines()) <= 80
