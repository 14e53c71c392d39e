"""The package's shape: no import circle (imports inside functions counted), no import from a
lower floor to a higher one, and `import fer_model` loads neither pandas nor torch."""

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "fer_model"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports, at the top or inside a function."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[:len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module in modules and module != name}


def test_no_import_circle():
    paths = [path for path in PACKAGE.rglob("*.py")]
    modules = {_module_name(path) for path in paths}
    graph = {_module_name(path): _imports(path, modules) for path in paths}
    graph = {name: {m for m in targets if m != "fer_model"} for name, targets in graph.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                circles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles[:3]


# The floors, lowest first (README: the layout); a module imports only from its own floor or lower.
FLOORS = [
    ("fer_model.errors", "fer_model.folder", "fer_model.labels", "fer_model.prediction"),
    ("fer_model.processing", "fer_model.vision"),
    ("fer_model.data", "fer_model.models"),
    ("fer_model.pipelines",),
    ("fer_model.evaluation",),
    ("fer_model.training",),
    ("fer_model.cli", "fer_model.card", "fer_model.web", "fer_model.app", "fer_model.__main__", "fer_model"),
]


def floor(module: str) -> int:
    matches = [(len(prefix), level) for level, prefixes in enumerate(FLOORS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is on no floor"
    return max(matches)[1]


def test_no_import_from_a_lower_floor_to_a_higher_one():
    paths = list(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    upward = [f"{_module_name(path)} -> {target}" for path in paths if path.name != "__init__.py"
              for target in _imports(path, modules) if floor(target) > floor(_module_name(path))]
    assert not upward, upward


def test_importing_the_package_loads_neither_pandas_nor_torch():
    code = "import sys, fer_model; print(sorted(m for m in ('pandas', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
