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

API_NAMES = {"traverse", "train", "cancel", "delete_job", "share", "unshare", "poll", "progress", "select_generator",
             "random_seed", "init", "anchor_from_text", "anchor_from_image", "anchor_source", "anchor_ways", "edit",
             "edit_strength", "edit_models", "refresh_edit_models", "train_edit"}
# Who is asking: the browser's token, then the Space owner's secret (a gr.State when $CONTRACLIP_ADMIN_SECRET is unset).
WHO = ["token", "state"]
# What clients call with, in order: each component named by its elem_id, else its label (gr.State: "state",
# gr.BrowserState: "token"). Every event acting for a visitor takes WHO last, after the inputs it had before.
SIGNATURES = {
    "traverse": (["generator-picker", "path-picker", "seeds", "Truncation ψ", "Steps each way", "Step size η",
                  "anchor-id", *WHO],
                 ["gif", "strip", "download-gif", "download-mp4", "explore-status", "state", "state"]),
    "select_generator": (["generator-picker", *WHO], ["path-picker", "None", "Truncation ψ", "Step size η"]),
    "init": (["generator-picker", *WHO], ["path-picker", "None", "Truncation ψ", "Step size η"]),
    "random_seed": ([], ["seeds"]),
    "train": (["Generator", "first", "second", "…or a pre-defined corpus", "Preset", "Iterations (empty: preset's)",
               "Learning rate (empty: preset's)", "Loss", "objective", *WHO], ["train-status", "jobs"]),
    "cancel": (["job-pick", *WHO], ["train-status", "jobs"]),
    "delete_job": (["job-pick", *WHO], ["train-status", "jobs"]),
    "share": (["job-pick", *WHO], ["train-status", "jobs"]),
    "unshare": (["job-pick", *WHO], ["train-status", "jobs"]),
    "poll": (["generator-picker", "path-picker", "state", *WHO], ["jobs", "preview", "path-picker", "state"]),
    "progress": (["job-pick", "state", *WHO], ["job-cards", "job-pick", "state"]),
    "anchor_source": (["anchor-source"], ["None", "None", "anchor-id", "anchor-note"]),
    "anchor_from_text": (["generator-picker", "anchor-sentence", "Variation seed (0: none)", *WHO],
                         ["Anchor", "anchor-id", "anchor-note"]),
    "anchor_from_image": (["generator-picker", "anchor-upload", "anchor-way", "anchor-align", *WHO],
                          ["anchor-original", "anchor-reconstruction", "anchor-id", "anchor-note", "anchor-code"]),
    "anchor_ways": (["generator-picker"], ["anchor-id", "anchor-way", "anchor-align"]),
    "edit": (["Generator", "edit-model", "edit-seeds", "edit-sentence", "Strength", "edit-anchor", *WHO],
             ["edit-pair", "edit-gif", "edit-download-gif", "edit-status"]),
    "edit_strength": (["Generator", "edit-model", "edit-seeds", "edit-sentence", "Strength", "edit-anchor", *WHO],
                      ["edit-pair", "edit-gif", "edit-download-gif", "edit-status"]),
    "edit_models": (["Generator", *WHO], ["edit-model", "None"]),
    "refresh_edit_models": (["Generator", *WHO], ["edit-model", "None"]),
    "train_edit": (["Generator", "edit-targets", "…or a vocabulary", "Iterations (empty: default)", *WHO],
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
    if isinstance(component, gr.BrowserState):
        return "token"
    return component.elem_id or str(getattr(component, "label", None))


def registry_names() -> list[str]:
    return [name for method in METHODS.values() for name in method.ui]


@pytest.mark.parametrize("module, expected", [
    (explore, {"select_generator", "random_seed", "traverse", "init"}),
    (train, {"train", "cancel", "delete_job", "share", "unshare", "poll", "progress"}),
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
    assert set(api_names(blocks)) == {"anchor_source", "anchor_from_text", "anchor_from_image", "anchor_ways"}
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


# --- visitors: what a public page bakes in, who an event acts for, busy answers, text as text ------------------------
TOKEN = "t" * 32


@pytest.fixture()
def public_service(tmp_path):
    from huggingface_hub import constants

    offline, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
    svc = Service(tmp_path / "data", device="cpu", start_worker=False, public=True)
    try:
        yield svc
    finally:
        svc.close()
        constants.HF_HUB_OFFLINE = offline


def fn_named(demo: gr.Blocks, api_name: str):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)


def test_a_public_page_is_built_with_nobodys_jobs(public_service, service):
    from contraclip_ui import identity

    theirs = public_service.submit("paths", "shapes-128", "a secret red shape", "a blue shape", iterations=1,
                                   visitor=public_service.visitor(TOKEN))
    config = repr(contraclip_ui.build_demo(public_service).get_config_file())
    assert theirs["id"] not in config and "a secret red shape" not in config
    assert identity.page_visitor(public_service) == identity.ANONYMOUS
    local = service.submit("paths", "shapes-128", "a local red shape", "a blue shape", iterations=1)
    assert local["id"] in repr(contraclip_ui.build_demo(service).get_config_file())  # one local user: as before
    service.queue.cancel(local["id"])


def test_the_page_makes_a_token_in_the_browser_and_the_owner_field_exists_only_with_a_secret(service, monkeypatch):
    from contraclip_ui import identity

    monkeypatch.delenv("CONTRACLIP_ADMIN_SECRET", raising=False)
    demo = contraclip_ui.build_demo(service)
    tokens = [b for b in demo.blocks.values() if isinstance(b, gr.BrowserState)]
    assert len(tokens) == 1 and tokens[0].storage_key == identity.TOKEN_KEY and tokens[0].default_value is None
    assert any(fn.js == identity.TOKEN_JS for fn in demo.fns.values())  # made in the browser, on load
    assert "crypto.getRandomValues(new Uint8Array(24))" in identity.TOKEN_JS  # 24 bytes: 32 URL-safe characters
    assert not any(getattr(b, "elem_id", None) == "admin-secret" for b in demo.blocks.values())
    monkeypatch.setenv("CONTRACLIP_ADMIN_SECRET", "s3cret")
    demo = contraclip_ui.build_demo(service)
    secret = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "admin-secret"]
    assert len(secret) == 1 and secret[0].type == "password"
    assert [name_of(c) for c in next(fn for fn in demo.fns.values() if fn.api_name == "train").inputs][-2:] == \
        ["token", "admin-secret"]


def test_who_an_event_acts_for(public_service, monkeypatch):
    from types import SimpleNamespace

    from contraclip_core.inputs import ServiceError
    from contraclip_ui import identity

    assert identity.visitor(public_service, TOKEN).id == f"session:{TOKEN}"
    assert identity.visitor(public_service, None, listing=True) == identity.ANONYMOUS  # a page with no token yet
    with pytest.raises(ServiceError, match="no visitor token"):
        identity.visitor(public_service, None)  # …cannot act
    with pytest.raises(ServiceError):
        identity.visitor(public_service, "short")
    signed = identity.visitor(public_service, TOKEN, request=SimpleNamespace(username="alice"))
    assert signed.id == "hf:alice" and not signed.admin
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    assert identity.visitor(public_service, None, profile=SimpleNamespace(username="owner")).admin
    monkeypatch.setenv("CONTRACLIP_ADMIN_SECRET", "s3cret")
    assert identity.visitor(public_service, TOKEN, "s3cret").admin
    assert not identity.visitor(public_service, TOKEN, "wrong").admin


def test_every_interactive_event_shows_busy_as_its_status(public_service, monkeypatch):
    from contextlib import contextmanager

    from contraclip_core.fairness import BusyError

    @contextmanager
    def busy(visitor):
        raise BusyError("busy: 4 requests are running; try again in 3 s", 3)
        yield

    monkeypatch.setattr(public_service, "interactive", busy)
    demo = contraclip_ui.build_demo(public_service)
    *_, last = fn_named(demo, "traverse")("shapes-128", "shipped:shapes-corpus:0", "0", 1.0, 2, 0.5, "", TOKEN, None)
    assert last[4] == "⚠️ busy\\: 4 requests are running; try again in 3 s"
    assert fn_named(demo, "edit")("shapes-128", "shipped:shapes-captions", "0", "a red shape", 1.0, "", TOKEN,
                                  None)[3].startswith("⚠️ busy")
    *_, last = fn_named(demo, "anchor_from_image")("shapes-128", "x.png", "projection", False, TOKEN, None)
    assert last[3].startswith("⚠️ busy")
    assert fn_named(demo, "anchor_from_text")("shapes-128", "a red shape", 0, TOKEN, None)[2].startswith("⚠️ busy")


def test_markdown_in_a_sentence_is_shown_as_text():
    from markdown_it import MarkdownIt

    from contraclip_ui import presentation

    hostile = "![x](http://127.0.0.1:9/x.png) [link](http://127.0.0.1:9/) <img src=x> *a* `b` $$c$$ www.x.io a@b.co"
    html = MarkdownIt("commonmark").render(presentation.escape(hostile))
    assert "<img" not in html and "<a " not in html and "<em>" not in html and "<code>" not in html
    assert html == f"<p>{hostile.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</p>\n"
    text, ok = presentation.confirmation("share", {"id": "j", "dipoles": hostile, "status": "done", "iteration": 1,
                                                   "total": 1})
    assert ok and presentation.escape(hostile) in text and hostile not in text
    assert "[" not in presentation.job_choice_label({"id": "j", "status": "done", "dipoles": "a [shipped] ↔ b"})


def test_the_readme_lists_the_quotas_the_code_has():
    import re

    from contraclip_core.inputs import LIMITS
    from contraclip_ui.layout import QUEUE_MAX_SIZE

    readme = (UI_DIR.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## On a public Space", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"\(`(\w+)`\)[^|]*\| ([\d.]+)", section)}
    for key in ("max_active_per_visitor", "visitor_max_iterations", "visitor_storage_mb", "storage_mb",
                "interactive_slots", "training_min_share"):
        assert float(rows[key]) == LIMITS[key], key
    assert f"QUEUE_MAX_SIZE`); more: refused at once | {QUEUE_MAX_SIZE} |" in section
    assert "Space owner" in section and "exempt" in section
