"""The package layout follows the pipeline: each layer imports only the layers below it,
experiments share only their runner and report, and nothing imports the command line."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tl_text"
LAYERS = [  # lowest first; a module may import its own layer or lower ones
    {"tl_text", "tl_text.errors", "tl_text.atomic", "tl_text.malloc", "tl_text.plots"},
    {"tl_text.data"},
    {"tl_text.embeddings"},
    {"tl_text.models"},
    {"tl_text.training"},
    {"tl_text.export"},
    {"tl_text.classifiers", "tl_text.evaluation"},
    {"tl_text.experiments"},
    {"tl_text.cli"},
]
SHARED_EXPERIMENT_MODULES = {"tl_text.experiments.runner", "tl_text.experiments.report"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("tl_text")}


def layer(name: str) -> int:
    matches = [(len(prefix), i) for i, group in enumerate(LAYERS) for prefix in group
               if name == prefix or name.startswith(prefix + ".")]
    return max(matches)[1]


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_pipeline(name):
    upward = [imported for imported in imports(MODULES[name])
              if imported in MODULES and layer(imported) > layer(name)]
    assert not upward, f"{name} (layer {layer(name)}) imports higher layers: {upward}"


def test_experiments_are_short_and_do_not_import_each_other():
    experiments = {n: p for n, p in MODULES.items()
                   if n.startswith("tl_text.experiments.") and n not in SHARED_EXPERIMENT_MODULES}
    for name, path in experiments.items():
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 250, name
        others = {i for i in imports(path) if i in experiments and i != name}
        assert not others, f"{name} imports {others}"


def test_no_import_cycles():
    graph = {name: {i for i in imports(path) if i in MODULES and i != name}
             for name, path in MODULES.items()}
    for package in [n for n in MODULES if MODULES[n].name == "__init__.py"]:
        graph[package] = set()  # re-exports: a package's own modules import their siblings
    visiting, done = set(), set()

    def visit(node, trail):
        assert node not in visiting, "import cycle: " + " -> ".join(trail + [node])
        if node in done:
            return
        visiting.add(node)
        for child in graph[node]:
            visit(child, trail + [node])
        visiting.discard(node)
        done.add(node)

    for name in graph:
        visit(name, [])
