"""Layers flow one way: a module imports only from the layers below its own.

Every `import` and `from ... import` of a `workbench` module is read from the source (at
module level, inside functions and under `if TYPE_CHECKING:` alike: a name a layer needs only
for its types is still a name it knows), mapped to the layer of each side, and refused when it
points up or sideways. docs/architecture.md draws the same table.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import workbench

ROOT = Path(workbench.__file__).parent

# Top to bottom. A module may import from the layers after its own, never from its own layer's
# other members or from a layer before it. Keys are packages or top-level modules under
# workbench ("" is the package itself, workbench/__init__.py).
LAYERS: list[tuple[str, ...]] = [
    ("", "cli"),  # the public facade (`import workbench`) and the command line
    ("demo", "catalog"),  # the demo dataset; the user's Catalog and View with conveniences
    ("ui",),
    ("services", "jobs"),
    ("backends", "analysis"),
    ("query",),
    ("ingest",),
    ("store", "media"),
    ("model",),  # the kernel: shared vocabulary
    ("errors",),  # the exception tree's root
]
LAYER_OF = {name: number for number, names in enumerate(LAYERS) for name in names}


def layer_key(module: str) -> str:
    """The LAYERS key of a dotted module name inside workbench."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    parts = ("workbench", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every workbench module `path` imports, wherever it does."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module is None:  # `from . import x`: x is a module of the package
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
            elif target == "workbench":  # `from workbench import catalog` or `... import open`
                for alias in node.names:
                    named = (ROOT / alias.name).is_dir() or (ROOT / f"{alias.name}.py").exists()
                    yield node.lineno, f"workbench.{alias.name}" if named else "workbench"
            else:
                yield node.lineno, target


def edges() -> Iterator[tuple[str, int, str]]:
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path)
        for line, target in imported(path, module):
            if target == "workbench" or target.startswith("workbench."):
                yield module, line, target


def test_every_package_and_top_level_module_has_a_layer() -> None:
    found = {layer_key(module_name(p)) for p in ROOT.rglob("*.py")}
    assert sorted(found - set(LAYER_OF)) == []
    assert sorted(set(LAYER_OF) - found) == []


def test_imports_point_down_only() -> None:
    wrong = []
    for module, line, target in edges():
        source, dest = layer_key(module), layer_key(target)
        if source == dest:
            continue
        if LAYER_OF[dest] <= LAYER_OF[source]:
            where = "sideways" if LAYER_OF[dest] == LAYER_OF[source] else "up"
            wrong.append(f"{module}:{line} imports {target} ({where})")
    assert wrong == []


def test_the_kernel_imports_nothing_of_the_project_but_the_errors() -> None:
    kernel = [(m, t) for m, _, t in edges() if layer_key(m) == "model"]
    assert kernel, "the scan found no imports in workbench.model"
    assert {layer_key(t) for _, t in kernel} <= {"model", "errors"}


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "def f():\n    from workbench.ui.app import WorkbenchApp\n"
        "if True:\n    import workbench.query.view\n"
        "from . import sibling\n"
    )
    found = sorted(target for _, target in imported(source, "workbench.store.probe"))
    assert found == ["workbench.query.view", "workbench.store.sibling", "workbench.ui.app"]
