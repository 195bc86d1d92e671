"""The shape of the code, read from the source with ``ast`` (nothing is imported, so this runs in well under a second).

Rules, for every module of ``contraclip_core/``, ``contraclip_ui/`` and ``app.py``:

- **No import cycles** among the project's modules. Imports at module level and inside functions count alike; an
  import under ``if TYPE_CHECKING:`` does not (it never runs). Relative imports are resolved; ``from pkg import name``
  is an import of the module ``pkg.name`` when there is one, else of ``pkg``. ``import a.b.c`` is an import of
  ``a.b.c`` (the packages Python runs on the way are not counted as edges: every sub-module would otherwise "import"
  its package, and every package that re-exports a sub-module would be a cycle).
- **No module over 450 lines.**
- **No private name across modules**: no ``from x import _y`` and no ``x._y`` on an imported project module
  (``__dunder__`` names are fine). Rename what another module needs, or move it to the module that uses it.
- **Layering** (``contraclip_core``): the shared machinery imports nothing under ``methods``; the facade
  (``service.py``, ``cli.py``, ``__main__.py``) imports only ``methods.registry`` from there; nothing in the core
  imports the UI (``contraclip_ui``, ``gradio``, ``app``); a method package imports no other method package but for
  the allowances in ``CROSS_METHOD``. Every core module outside ``methods/`` and the facade is shared machinery
  (a new one too, until it is added to ``FACADE``). Imports under ``TYPE_CHECKING`` count here: they still say what a
  module knows.

Every message starts with ``path:line``. The checker is plain functions over a tree of files; the tests at the end
run it on small made-up trees, so each rule is seen to fail when it should.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contraclip_core", "contraclip_ui")  # every .py file under these
SCRIPTS = ("app.py",)  # and these top-level modules
MAX_LINES = 450

CORE = "contraclip_core"
# Module names relative to the core. Everything in the core that is not the facade, the method table or a method
# package is shared machinery and must know no method: artefact, atomic, jobs, training_loop, publishing, media,
# groundtruth, records, datadir, inputs, errors, hub, clip, precision, live, examples, method, uploads, allocator,
# registry, catalogue, vocabulary, generators/, shapes_clip/, the package itself, and any module added beside them.
FACADE = ("service", "cli", "__main__")  # may import methods.registry, and nothing else under methods
METHODS = "methods"  # methods/<name>/ is one method's package
METHOD_TABLE = ("methods", "methods.registry")  # the package itself and the one table that knows every method
UI = ("contraclip_ui", "gradio", "app", "app_anchor", "app_edit")  # what the core must never import
# A method package may import another method package only as listed here, (importer, imported): CF-CLIP's and the
# mappers' evaluations score ContraCLIP paths as their baselines. (The projection starts from the mappers' guess
# without importing them: the registry hands it ``GUESSES``.)
CROSS_METHOD = {("cfclip", "contraclip"), ("mappers", "contraclip")}


@dataclass
class Import:
    target: str  # absolute dotted name: a project module when it resolves to one, else what the source names
    line: int
    typing_only: bool  # under ``if TYPE_CHECKING:``
    project: bool  # target is one of the project's modules


@dataclass
class Module:
    name: str
    path: str  # relative to the root, for messages
    package: bool  # an __init__.py
    lines: int
    imports: list[Import] = field(default_factory=list)
    private: list[str] = field(default_factory=list)  # "path:line: message" for each private name reached across


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Reader(ast.NodeVisitor):
    """Collects one module's imports (resolved), the names they bind to project modules, and private reaches."""

    def __init__(self, mod: Module, names: set[str]):
        self.mod, self.names = mod, names
        self.typing_only = False
        self.bound: dict[str, str] = {}  # local name → the project module an import bound it to
        self.attributes: list[ast.Attribute] = []

    def _add(self, target: str, line: int) -> None:
        self.mod.imports.append(Import(target, line, self.typing_only, target in self.names))

    def _flag(self, line: int, what: str) -> None:
        self.mod.private.append(f"{self.mod.path}:{line}: {what}")

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            return self.generic_visit(node)
        before, self.typing_only = self.typing_only, True
        for stmt in node.body:
            self.visit(stmt)
        self.typing_only = before
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)
            bound = alias.name if alias.asname else alias.name.split(".")[0]
            if bound in self.names:
                self.bound[alias.asname or bound] = bound

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = (self.mod.name if self.mod.package else self.mod.name.rpartition(".")[0]).split(".")
            if node.level - 1 >= len(package):
                raise ValueError(f"{self.mod.path}:{node.lineno}: relative import beyond the top-level package")
            base = ".".join(package[:len(package) - (node.level - 1)] + ([base] if base else []))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in self.names:  # ``from pkg import module``
                self._add(sub, node.lineno)
                self.bound[alias.asname or alias.name] = sub
                continue
            self._add(base, node.lineno)
            if base in self.names and is_private(alias.name) and base != self.mod.name:
                self._flag(node.lineno, f"imports the private name {alias.name} from {base}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.attributes.append(node)
        self.generic_visit(node)

    def resolve(self, expr: ast.expr) -> str | None:
        """The project module an expression names (``clip``, ``contraclip_core.generators.ops``), if any."""
        if isinstance(expr, ast.Name):
            return self.bound.get(expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.resolve(expr.value)
            if base is not None and f"{base}.{expr.attr}" in self.names:
                return f"{base}.{expr.attr}"
        return None

    def finish(self) -> None:
        for node in self.attributes:  # after the whole module, so the bindings of every import are known
            owner = self.resolve(node.value) if is_private(node.attr) else None
            if owner is not None and owner != self.mod.name and f"{owner}.{node.attr}" not in self.names:
                self._flag(node.lineno, f"reaches the private name {owner}.{node.attr}")


def scan(root: Path, packages=PACKAGES, scripts=SCRIPTS) -> dict[str, Module]:
    """Every module of the project under ``root``, by dotted name, with its imports resolved."""
    files = [root / s for s in scripts if (root / s).is_file()]
    for pkg in packages:
        files += sorted(p for p in (root / pkg).rglob("*.py") if "__pycache__" not in p.parts)
    modules, texts = {}, {}
    for path in files:
        rel = path.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if package else parts)
        texts[name] = path.read_text(encoding="utf-8")
        modules[name] = Module(name, rel.as_posix(), package, len(texts[name].splitlines()))
    for mod in modules.values():
        reader = _Reader(mod, set(modules))
        reader.visit(ast.parse(texts[mod.name], filename=mod.path))
        reader.finish()
    return modules


# --- the checks: each returns its violations, each message starting with "path:line" ---------------------------


def import_graph(modules: dict[str, Module]) -> dict[str, dict[str, int]]:
    """module → {project module it imports at run time: the first line that does}."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for mod in modules.values():
        for imp in mod.imports:
            if imp.project and not imp.typing_only and imp.target != mod.name:
                graph[mod.name].setdefault(imp.target, imp.line)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def shortest_cycle(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> list[str]:
    """The shortest path start → … → start inside one component (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(set(graph[v]) & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1] + [start]
                if w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"{start} is on no cycle of its component")


def cycles(modules: dict[str, Module]) -> list[str]:
    graph = import_graph(modules)
    messages = []
    for component in strongly_connected(graph):
        members = set(component)
        def edge(a: str, b: str) -> str:
            return f"{modules[a].path}:{graph[a][b]}: {a} imports {b}"

        loop = shortest_cycle(graph, component[0], members)
        inside = [edge(a, b) for a in component for b in sorted(set(graph[a]) & members)]
        messages.append(f"import cycle among {component}\n  e.g. " + "\n  e.g. ".join(edge(a, b) for a, b in
                        pairwise(loop)) + "\n  every import inside it:\n    " + "\n    ".join(inside))
    return messages


def long_modules(modules: dict[str, Module], limit: int = MAX_LINES) -> list[str]:
    return [f"{m.path}:{limit + 1}: {m.lines} lines, over the limit of {limit}"
            for m in modules.values() if m.lines > limit]


def private_names(modules: dict[str, Module]) -> list[str]:
    return [message for m in modules.values() for message in m.private]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer(name: str) -> str | None:
    """A core module's layer: "shared", "facade", "table" or "method:<name>"; None outside the core."""
    if not _under(name, CORE):
        return None
    rel = name[len(CORE) + 1:]
    if rel in METHOD_TABLE:
        return "table"
    if _under(rel, METHODS):
        return "method:" + rel.split(".")[1]
    return "facade" if rel in FACADE else "shared"


def shared_knowing_methods(modules: dict[str, Module]) -> list[str]:
    return [f"{m.path}:{i.line}: shared module {m.name} imports {i.target}"
            for m in modules.values() if layer(m.name) == "shared"
            for i in m.imports if _under(i.target, f"{CORE}.{METHODS}")]


def facade_knowing_methods(modules: dict[str, Module]) -> list[str]:
    table = f"{CORE}.{METHODS}.registry"
    return [f"{m.path}:{i.line}: {m.name} imports {i.target} (the facade reaches methods only through {table})"
            for m in modules.values() if layer(m.name) == "facade"
            for i in m.imports if _under(i.target, f"{CORE}.{METHODS}") and i.target != table]


def core_knowing_ui(modules: dict[str, Module]) -> list[str]:
    return [f"{m.path}:{i.line}: core module {m.name} imports {i.target}"
            for m in modules.values() if _under(m.name, CORE)
            for i in m.imports if any(_under(i.target, ui) for ui in UI)]


def methods_knowing_methods(modules: dict[str, Module]) -> list[str]:
    found = []
    for m in modules.values():
        mine = layer(m.name) or ""
        for i in m.imports if mine.startswith("method:") else ():
            theirs = layer(i.target) or ""
            if theirs.startswith("method:") and theirs != mine and (mine[7:], theirs[7:]) not in CROSS_METHOD:
                found.append(f"{m.path}:{i.line}: method {mine[7:]} imports {i.target} of method {theirs[7:]}")
    return found


# --- the project --------------------------------------------------------------------------------------------------

PROJECT = scan(ROOT)


def test_the_scan_sees_the_project():
    assert {"app", "contraclip_core.service", "contraclip_core.methods.registry",
            "contraclip_core.generators.stylegan2", "contraclip_ui"} <= set(PROJECT)
    assert sum(len(m.imports) for m in PROJECT.values()) > 200


@pytest.mark.parametrize("check", [cycles, long_modules, private_names, shared_knowing_methods,
                                   facade_knowing_methods, core_knowing_ui, methods_knowing_methods],
                         ids=lambda check: check.__name__)
def test_the_project_keeps_the_rule(check):
    found = check(PROJECT)
    assert not found, f"{len(found)} violation(s):\n" + "\n".join(found)


# --- the checker itself, on made-up trees ------------------------------------------------------------------------


def scan_tree(root: Path, changes: dict[str, str]) -> dict[str, Module]:
    """``CLEAN`` with ``changes`` ("+text" appends to a file), written under ``root`` and scanned."""
    for rel, text in {**CLEAN, **changes}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CLEAN[rel] + text[1:] if text.startswith("+") else text)
    return scan(root)


def where(found: list[str]) -> list[str]:
    return [message.split(": ")[0] for message in found]


CLEAN = {  # a tiny project that breaks no rule
    "app.py": "import gradio as gr\nfrom contraclip_core import service\nfrom contraclip_ui import view\n",
    "contraclip_ui/__init__.py": "",
    "contraclip_ui/view.py": "from contraclip_core.media import encode\n",
    "contraclip_core/__init__.py": "",
    "contraclip_core/media.py": "import torch\nfrom .errors import Oops\n\ndef encode():\n    pass\n",
    "contraclip_core/errors.py": "import typing\nclass Oops(Exception):\n    __slots__ = ()\n"
                                 "if typing.TYPE_CHECKING:\n    from .media import encode\n",
    "contraclip_core/service.py": "from .methods.registry import METHODS\nfrom .methods import registry\n"
                                  "from . import media\nfrom .errors import __doc__, Oops\nprint(media.__name__)\n",
    "contraclip_core/methods/__init__.py": "",
    "contraclip_core/methods/registry.py": "from .alpha import train\nfrom .beta import train as beta_train\n",
    "contraclip_core/methods/alpha/__init__.py": "",
    "contraclip_core/methods/alpha/train.py": "from ...media import encode\nfrom . import model\n"
                                              "from .model import Net\n",
    "contraclip_core/methods/alpha/model.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                              "    from .train import run\nclass Net:\n    pass\n",
    "contraclip_core/methods/beta/__init__.py": "",
    "contraclip_core/methods/beta/train.py": "import contraclip_core.media\nimport contraclip_core.errors as e\n",
}
ALL_CHECKS = (cycles, long_modules, private_names, shared_knowing_methods, facade_knowing_methods, core_knowing_ui,
              methods_knowing_methods)


def test_checker_passes_a_clean_tree(tmp_path):
    modules = scan_tree(tmp_path, {})
    assert len(modules) == 14 and modules["contraclip_core.methods.alpha"].package
    graph = import_graph(modules)
    assert graph["contraclip_core.service"] == {
        "contraclip_core.methods.registry": 1, "contraclip_core.media": 3, "contraclip_core.errors": 4}
    assert graph["contraclip_core.methods.alpha.train"] == {
        "contraclip_core.media": 1, "contraclip_core.methods.alpha.model": 2}
    assert graph["contraclip_core.methods.alpha.model"] == graph["contraclip_core.errors"] == {}  # TYPE_CHECKING
    assert graph["contraclip_core.methods.beta.train"] == {"contraclip_core.media": 1, "contraclip_core.errors": 2}
    assert graph["app"] == {"contraclip_core.service": 2, "contraclip_ui.view": 3}
    for check in ALL_CHECKS:
        assert check(modules) == [], check.__name__


def test_checker_finds_cycles(tmp_path):
    found = cycles(scan_tree(tmp_path, {
        # media imports errors at module level; errors importing media inside a function (in the else of a
        # TYPE_CHECKING test, so it runs) closes a cycle
        "contraclip_core/errors.py": "from typing import TYPE_CHECKING\nclass Oops(Exception):\n    pass\n\n"
                                     "def f():\n    if TYPE_CHECKING:\n        pass\n    else:\n"
                                     "        from . import media\n",
        # three modules through a package's re-export: alpha.train → alpha.model → alpha → alpha.train
        "contraclip_core/methods/alpha/model.py": "import os\nfrom contraclip_core.methods.alpha import Thing\n",
        "contraclip_core/methods/alpha/__init__.py": "from .train import Thing\n",
    }))
    assert len(found) == 2, found
    assert found[0].startswith("import cycle among ['contraclip_core.errors', 'contraclip_core.media']\n")
    assert "contraclip_core/errors.py:9: contraclip_core.errors imports contraclip_core.media" in found[0]
    assert "contraclip_core/media.py:2: contraclip_core.media imports contraclip_core.errors" in found[0]
    assert found[1].startswith("import cycle among ['contraclip_core.methods.alpha', "
                               "'contraclip_core.methods.alpha.model', 'contraclip_core.methods.alpha.train']\n")
    assert ("contraclip_core/methods/alpha/model.py:2: contraclip_core.methods.alpha.model imports "
            "contraclip_core.methods.alpha\n") in found[1]


def test_checker_finds_a_long_module(tmp_path):
    assert long_modules(scan_tree(tmp_path, {"contraclip_core/media.py": "x = 1\n" * 450})) == []
    assert long_modules(scan_tree(tmp_path, {"contraclip_core/media.py": "x = 1\n" * 451})) == [
        "contraclip_core/media.py:451: 451 lines, over the limit of 450"]


def test_checker_finds_private_names(tmp_path):
    found = private_names(scan_tree(tmp_path, {
        "contraclip_core/media.py": "from .errors import Oops, _secret\nfrom . import errors\n"
                                    "import contraclip_core.errors\nimport contraclip_core.errors as ce\n"
                                    "def f(self):\n    self._mine = errors.__doc__\n"
                                    "    return errors._hidden, contraclip_core.errors._deep, ce._alias\n",
        "contraclip_core/methods/alpha/train.py": "from .model import _Net\nfrom .. import alpha\nalpha._x = 1\n",
    }))
    assert found == [
        "contraclip_core/media.py:1: imports the private name _secret from contraclip_core.errors",
        "contraclip_core/media.py:7: reaches the private name contraclip_core.errors._hidden",
        "contraclip_core/media.py:7: reaches the private name contraclip_core.errors._deep",
        "contraclip_core/media.py:7: reaches the private name contraclip_core.errors._alias",
        "contraclip_core/methods/alpha/train.py:1: imports the private name _Net from "
        + "contraclip_core.methods.alpha.model",
        "contraclip_core/methods/alpha/train.py:3: reaches the private name contraclip_core.methods.alpha._x",
    ]


def test_checker_finds_layering_violations(tmp_path):
    modules = scan_tree(tmp_path, {
        "contraclip_core/media.py": "+def g():\n    from .methods.alpha import model\n",
        "contraclip_core/errors.py": "+from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                     "    from contraclip_core.methods import registry\n",
        "contraclip_core/service.py": "+from .methods.alpha.train import run\n",
        "contraclip_core/cli.py": "import contraclip_core.methods.beta\n",
        "contraclip_core/methods/beta/train.py": "+import gradio\nfrom ..alpha.model import Net\n",
        "contraclip_core/methods/alpha/model.py": "+from contraclip_ui.view import x\nimport app\n",
        "contraclip_core/stray.py": "from .methods import alpha\n",  # a new module is shared until placed otherwise
    })
    assert shared_knowing_methods(modules) == [
        "contraclip_core/errors.py:8: shared module contraclip_core.errors imports contraclip_core.methods.registry",
        "contraclip_core/media.py:7: shared module contraclip_core.media imports contraclip_core.methods.alpha.model",
        "contraclip_core/stray.py:1: shared module contraclip_core.stray imports contraclip_core.methods.alpha",
    ]
    assert facade_knowing_methods(modules) == [
        ("contraclip_core/cli.py:1: contraclip_core.cli imports contraclip_core.methods.beta "
         "(the facade reaches methods only through contraclip_core.methods.registry)"),
        ("contraclip_core/service.py:6: contraclip_core.service imports contraclip_core.methods.alpha.train "
         "(the facade reaches methods only through contraclip_core.methods.registry)"),
    ]
    assert core_knowing_ui(modules) == [
        "contraclip_core/methods/alpha/model.py:6: core module contraclip_core.methods.alpha.model imports "
        + "contraclip_ui.view",
        "contraclip_core/methods/alpha/model.py:7: core module contraclip_core.methods.alpha.model imports app",
        "contraclip_core/methods/beta/train.py:3: core module contraclip_core.methods.beta.train imports gradio",
    ]
    assert methods_knowing_methods(modules) == [
        "contraclip_core/methods/beta/train.py:4: method beta imports contraclip_core.methods.alpha.model of method "
        + "alpha"]


def test_the_cross_method_allowance_is_honoured(tmp_path):
    modules = scan_tree(tmp_path, {
        "contraclip_core/methods/cfclip/__init__.py": "",
        "contraclip_core/methods/cfclip/evaluate.py": "from ..alpha import model\n"
                                                      "from ..contraclip.evaluate import baseline\n",
        "contraclip_core/methods/contraclip/__init__.py": "",
        "contraclip_core/methods/contraclip/evaluate.py": "from ..cfclip import evaluate\n",
    })
    assert where(methods_knowing_methods(modules)) == [  # cfclip → contraclip is allowed, the reverse is not
        "contraclip_core/methods/cfclip/evaluate.py:1", "contraclip_core/methods/contraclip/evaluate.py:1"]
