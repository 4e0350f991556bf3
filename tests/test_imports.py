"""The package's import graph, read from the source (module-level and function-level imports
alike; ``if TYPE_CHECKING:`` blocks are not imports): no module imports itself through others,
and imports run one way through the layers (DESIGN §2): the model side never imports Ray or the
stages above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "uer_ray"

# the model side: plain single-device PyTorch (DESIGN §2)
MODEL_SIDE = ("layers", "embeddings", "encoders", "decoders", "targets", "models", "tasks")
ABOVE = ("ray", "uer_ray.train", "uer_ray.tune", "uer_ray.cli", "uer_ray.report")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_imports(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """The modules the import statements of ``path`` load: ``from X import Y`` is module
    ``X.Y`` when there is one, else ``X``; relative imports resolved. The importer's own
    ancestor packages are left out (Python has initialised them before the importer runs)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                      for a in node.names}
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return names - ancestors


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name: str) -> str | None:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in modules:
                return ".".join(parts[:i])
        return None

    return {m: {o for n in _runtime_imports(p, m, modules) if (o := owner(n)) and o != m}
            for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = _graph()
    cycles = _cycles(graph)
    detail = ["; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c) for c in cycles]
    assert not cycles, "import cycles: " + " | ".join(detail)


def test_the_model_side_imports_nothing_above_it():
    modules = _modules()
    bad = []
    for name, path in modules.items():
        if name.split(".")[1:2] and name.split(".")[1] in MODEL_SIDE:
            for imported in _runtime_imports(path, name, modules):
                if any(imported == a or imported.startswith(a + ".") for a in ABOVE):
                    bad.append(f"{name} imports {imported}")
    assert not bad, bad


def test_the_finder_sees_a_cycle(tmp_path):
    """The check itself: two modules importing each other inside functions are a cycle."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert _cycles(graph) == [["a", "b"]]
