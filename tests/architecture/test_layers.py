"""The import graph of src/infgram: no cycles, layers imported only downward, no private names.

The layers, lowest first (a module may import its own folder and any lower layer):

0. ``errors``, ``_reference`` and the compiled modules
1. ``gguf_tokenizer`` (a GGUF model's tokenizer, read without any model library), ``normalize``
   (the text normalizations of ``--normalize``), ``sampling`` (seeded random orders)
2. ``tokenizer``, ``format``
3. ``build``, ``shards``
4. ``query``, ``change``
5. ``apps``, ``lm``
6. ``service``
7. ``terminal`` and the package itself (``__init__``)
8. ``cli``
9. ``__main__``

Every import counts, including those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "infgram"

LAYER = {
    "errors": 0, "_reference": 0, "_core": 0, "_fm": 0, "_sort": 0, "_dedup": 0, "_official": 0,
    "gguf_tokenizer": 1, "normalize": 1, "sampling": 1, "resources": 1,
    "tokenizer": 2, "format": 2,
    "build": 3, "shards": 3,
    "query": 4, "change": 4,
    "apps": 5, "lm": 5, "distributed": 5, "compat": 5,
    "service": 6,
    "terminal": 7, "__init__": 7, "cli": 8, "__main__": 9,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in a file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.startswith("infgram")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("infgram"):
                continue
            names = [alias.name for alias in node.names]
            if node.module is not None:
                found.append((target, names, node.lineno))
            # "from . import x" and "from .pkg import mod" import modules too
            for name in names:
                if _is_module(f"{target}.{name}"):
                    found.append((f"{target}.{name}", [], node.lineno))
    return found


def _is_module(name: str) -> bool:
    path = SOURCE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists() or \
        any(path.parent.glob(path.name + ".*.so")) or path.with_suffix(".c").exists()


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, list[tuple[str, list[str], int]]]:
    return {_module_name(path): _imports(path) for path in sorted(SOURCE.rglob("*.py"))}


def test_every_folder_has_a_layer():
    tops = {_top(module) for module in _graph()}
    assert tops <= set(LAYER), f"give these a layer in this test: {sorted(tops - set(LAYER))}"


def test_imports_go_down_the_layers():
    wrong = []
    for module, imports in _graph().items():
        for target, _, line in imports:
            source_top, target_top = _top(module), _top(target)
            if source_top == target_top or target == "infgram":
                continue
            if LAYER[target_top] >= LAYER[source_top]:
                wrong.append(f"{module}:{line} imports {target} (layer {LAYER[target_top]} >= {LAYER[source_top]})")
    assert not wrong, "\n".join(wrong)


def test_no_module_takes_another_modules_private_names():
    wrong = []
    for module, imports in _graph().items():
        for target, names, line in imports:
            for name in names:
                if name.startswith("_") and not name.startswith("__") and not _is_module(f"{target}.{name}"):
                    wrong.append(f"{module}:{line} takes {target}.{name}")
    assert not wrong, "\n".join(wrong)


def _private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, expression) of every private attribute read from something other than ``self``,
    ``cls``, ``type(self)`` or a class of the same module: a private name of another object."""
    local_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in local_classes):
            continue
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id in ("type", "super"):
            continue
        found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_module_uses_another_objects_private_names():
    """Not only imports: ``corpus._forms_searched(...)`` from another module is a private call."""
    wrong = [f"{_module_name(path)}:{line} uses {expression}"
             for path in sorted(SOURCE.rglob("*.py"))
             for line, expression in _private_uses(ast.parse(path.read_text(encoding="utf-8")))]
    assert not wrong, "\n".join(wrong)


def test_the_private_use_check_finds_a_private_call():
    tree = ast.parse("class A:\n    def f(self):\n        return self._x, A._y, type(self)._z\n"
                     "def g(corpus):\n    return corpus._forms_searched('a')\n")
    assert [expression for _, expression in _private_uses(tree)] == ["corpus._forms_searched"]


def test_there_are_no_import_cycles():
    graph = {module: sorted({target for target, _, _ in imports if target in _graph_modules()})
             for module, imports in _graph().items()}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, []):
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def _graph_modules() -> set[str]:
    return {_module_name(path) for path in SOURCE.rglob("*.py")}


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The checker itself: a package whose two modules import each other is caught."""
    package = tmp_path / "infgram"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def f():\n    from .a import g\n")
    global SOURCE
    saved, SOURCE = SOURCE, package
    try:
        with pytest.raises(AssertionError, match="import cycles"):
            test_there_are_no_import_cycles()
    finally:
        SOURCE = saved
