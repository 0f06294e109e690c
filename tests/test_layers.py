"""The layer rules of docs/architecture.md ("Layers"), checked on the import graph that `ast` reads from
vidzoo/ (imports inside functions and under TYPE_CHECKING count)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_LIGHTNING = ("data", "models", "evaluation")  # layers that never import Lightning or vidzoo.training
LIGHTNING = ("lightning", "pytorch_lightning", "vidzoo.training")

# Known breaks that branches in flight remove (issue 16): removed when the spine lands. The coordinator
# deletes this list after merging them; a break that is not listed here fails at once.
ALLOWED = {
    ("vidzoo.evaluation.inference", "vidzoo.training"),  # inference builds the model without the task
}


def layer_table(text: str) -> list[tuple[str, list[str]]]:
    """[(layer, [its files and folders under vidzoo/])], lowest first, from the doc's Layers block."""
    block = text.split("## Layers", 1)[1].split("```", 2)[1]
    return [(line.split()[0], line.split()[1:]) for line in block.splitlines() if line.strip()]


def module_name(rel: Path) -> str:
    parts = ["vidzoo", *rel.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path) -> dict[str, list[tuple[str, int, str]]]:
    """{module: [(imported module or name, line, the attribute a `from` import takes, or "")]} for every
    module under root/vidzoo; ``from X import y`` names X.y when that is a module of the package, else X."""
    files = {module_name(p.relative_to(root / "vidzoo")): p for p in sorted((root / "vidzoo").rglob("*.py"))}
    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(a.name, node.lineno, "") for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    found.append((sub, node.lineno, "") if sub in files else (base, node.lineno, a.name))
        graph[module] = found
    return graph


def own_module(name: str, modules) -> str | None:
    """The vidzoo module an imported name lives in (None outside vidzoo)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def layer_of(module: str, table) -> str:
    rel = module.split(".")[1:]
    for layer, entries in table:
        for entry in entries:
            if entry.endswith("/") and rel[:1] == [entry.rstrip("/")]:
                return layer
            if entry.endswith(".py") and (rel == [entry[:-3]] or (entry == "__init__.py" and not rel)):
                return layer
    raise AssertionError(f"{module} is in no layer of docs/architecture.md's Layers block; add it there")


def breaks(graph: dict, table, helpers=frozenset()) -> list[str]:
    """Every import that breaks a rule, as 'module:line imports target (why)'."""
    order = [layer for layer, _ in table]
    out = []
    for module, found in graph.items():
        mine = layer_of(module, table)
        for name, line, attribute in found:
            where = f"{module}:{line} imports {name}"
            target = own_module(name, graph)
            lightning = next((n for n in LIGHTNING if name == n or name.startswith(n + ".")), None)
            if (module, lightning or target) in ALLOWED:
                continue
            if lightning and mine in NO_LIGHTNING:
                out.append(f"{where} (Lightning stays where training is)")
            elif target is None:
                continue
            elif target == "vidzoo":
                out.append(f"{where} (the package face is for users: import from the defining module)")
            elif target == "vidzoo.plugins" and attribute in helpers:
                out.append(f"{where} (a building block for plugin authors: import it from its own module)")
            elif ".default_plugins" in target and ".default_plugins" not in module:
                out.append(f"{where} (the core never imports a built-in plugin)")
            elif order.index(layer_of(target, table)) > order.index(mine):
                out.append(f"{where} (layer {mine} is below {layer_of(target, table)})")
    return sorted(out)


def cycles(graph: dict) -> list[list[str]]:
    """The import cycles: strongly connected groups of two or more modules (Tarjan)."""
    edges = {m: {own_module(n, graph) for n, _, _ in found} - {None, m} for m, found in graph.items()}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def author_helpers() -> frozenset:
    import vidzoo.plugins

    return frozenset(vidzoo.plugins._AUTHOR_API)


def test_no_import_breaks_a_layer_rule():
    table = layer_table((ROOT / "docs" / "architecture.md").read_text())
    found = breaks(imports(ROOT), table, author_helpers())
    assert not found, "imports that break docs/architecture.md's layer rules:\n" + "\n".join(found)


def test_no_import_cycles():
    found = cycles(imports(ROOT))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(group) for group in found)


def test_allowed_breaks_are_still_there():
    # Each entry goes as soon as its break does, so that the list never hides a new one.
    graph = imports(ROOT)
    stale = [pair for pair in ALLOWED
             if not any(name == pair[1] or name.startswith(pair[1] + ".") for name, _, _ in graph.get(pair[0], []))]
    assert not stale, f"no longer broken, take out of ALLOWED: {stale}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "vidzoo" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


TABLE = layer_table("## Layers\n\n```\nfoundation   io.py\nplugins      plugins/\ndata         data/\n"
                    "built-ins    default_plugins/\ntraining     training/\nclients      __init__.py cli/\n```\n")


def test_the_check_sees_upward_lazy_typing_lightning_and_face_imports(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "", "io.py": "", "plugins/__init__.py": "", "default_plugins/__init__.py": "",
        "default_plugins/kin.py": "from vidzoo.data import clips\n",
        "training/__init__.py": "", "training/task.py": "import lightning\n", "cli/__init__.py": "from vidzoo.training import task\n",
        "data/__init__.py": "",
        "data/clips.py": ("from typing import TYPE_CHECKING\nimport vidzoo.io\n"
                          "def f():\n    from vidzoo.training import task\n    import lightning.pytorch as pl\n"
                          "if TYPE_CHECKING:\n    from ..cli import x\n"
                          "from vidzoo.default_plugins.kin import read\nimport vidzoo\n"
                          "from vidzoo.plugins import ClipDataset\n"),
    })
    found = breaks(imports(root), TABLE, frozenset({"ClipDataset"}))
    assert [f.split(" (")[0] for f in found] == [
        "vidzoo.data.clips:10 imports vidzoo.plugins", "vidzoo.data.clips:4 imports vidzoo.training.task",
        "vidzoo.data.clips:5 imports lightning.pytorch", "vidzoo.data.clips:7 imports vidzoo.cli",
        "vidzoo.data.clips:8 imports vidzoo.default_plugins.kin", "vidzoo.data.clips:9 imports vidzoo"]
    assert "for plugin authors" in found[0] and "Lightning stays where training is" in found[1]
    assert "Lightning stays" in found[2] and "layer data is below clients" in found[3]
    assert "never imports a built-in plugin" in found[4] and "package face" in found[5]


def test_the_check_sees_a_cycle_through_a_function(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "data/__init__.py": "", "data/a.py": "from vidzoo.data import b\n",
                            "data/b.py": "def f():\n    from vidzoo.data.a import x\n", "data/c.py": "import vidzoo.data.a\n"})
    assert cycles(imports(root)) == [["vidzoo.data.a", "vidzoo.data.b"]]


def test_every_module_has_a_layer():
    table = layer_table((ROOT / "docs" / "architecture.md").read_text())
    for module in imports(ROOT):
        layer_of(module, table)  # raises naming the module
