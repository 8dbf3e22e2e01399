"""The package tree shows the pipeline: one folder per stage, and no import circles,
counting imports inside functions too (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import casestudy

PACKAGE = Path(casestudy.__file__).resolve().parent
STAGES = ["ingest", "coding", "consent", "browse", "export", "workspace", "cli"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every casestudy module imported anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("casestudy"):
            found.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists():
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("casestudy"))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; the package uses absolute imports")
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_package_is_grouped_by_stage():
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(flat) <= 8, f"too many modules outside the stage folders: {flat}"


def test_no_module_import_cycles():
    assert _cycle(_graph()) is None


def test_no_stage_import_cycles():
    """Stages depend one way: e.g. coding may use consent (pseudonyms), never the reverse."""
    stage_graph: dict[str, set[str]] = {}
    for module, deps in _graph().items():
        here = module.split(".")[1] if module.count(".") else module
        for dep in deps:
            there = dep.split(".")[1] if dep.count(".") else dep
            if there != here and here in STAGES and there in STAGES:
                stage_graph.setdefault(here, set()).add(there)
    assert _cycle(stage_graph) is None, stage_graph


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# Which stages each stage may use: data flows ingest -> coding -> consent/publish -> browse/export.
# (consent is used by ingest and coding for the register and pseudonyms; nothing below the CLI
# imports the web layer, so the publish database never depends on the server.)
ALLOWED = {
    "ingest": {"consent"},
    "consent": set(),
    "coding": {"consent", "ingest"},
    "browse": {"consent"},
    "export": {"consent", "coding", "ingest"},
    "workspace": {"coding", "consent", "browse"},  # browse: only the shared host rules (browse/site.py)
}


def test_stages_depend_one_way():
    wrong = []
    for module, deps in _graph().items():
        parts = module.split(".")
        if len(parts) < 3 or parts[1] not in ALLOWED:
            continue
        for dep in deps:
            there = dep.split(".")[1] if dep.count(".") else dep
            if there in STAGES and there != parts[1] and there not in ALLOWED[parts[1]]:
                wrong.append(f"{module} -> {dep}")
    assert not wrong, wrong


def test_publish_does_not_import_the_web_layer():
    deps = _graph()["casestudy.consent.publish"]
    assert not any(d.startswith(("casestudy.browse", "casestudy.export", "casestudy.cli")) for d in deps), deps
