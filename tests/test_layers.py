"""The house's imports point one way: utilities < maze < sim < agents < training, experiments < stats <
registry < cli (inside the registry: rules < items < resolution < scoring < report), and no set of modules
imports itself round in a circle.

Every import counts: at the top of a module, inside a function, under TYPE_CHECKING. Lazy imports keep
start-up fast, but the dependency is just as real. Old module paths kept for notebooks live as a table
of names in mazeprobe/_compat.py (data, not imports) and re-export modules that import downward.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "mazeprobe"

# Each layer may import the layers before it (and itself); peers share a rank but not each other.
LAYERS: list[tuple[str, ...]] = [
    ("utilities",),
    ("maze",),
    ("sim",),
    ("agents",),
    ("training", "experiments"),
    ("stats",),
    ("registry",),
    ("cli",),
]
UTILITIES = {
    "errors", "rng", "atomic", "provenance", "yamlio", "validation", "steplog", "_compat", "devices", "lazy",
    "display", "tables", "settings",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "utilities"  # the package root: the version and the old-path table
    if parts[1] == "__main__":
        return "cli"
    return "utilities" if parts[1] in UTILITIES else parts[1]


RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def imports_of(module: str) -> list[tuple[str, int]]:
    """(imported mazeprobe module, line) for every import statement in the module, wherever it is."""
    path = MODULES[module]
    return imports_in(path.read_text(), module, is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
                base = base.rstrip(".")
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `import a.b.c` where c is a name: its module
                name = name.rpartition(".")[0]
            if name.startswith("mazeprobe") and name != module:
                out.append((name, node.lineno))
    return sorted(set(out), key=lambda x: (x[1], x[0]))


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    unknown = {m: layer_of(m) for m in MODULES if layer_of(m) not in RANK}
    assert not unknown, f"modules outside the layers {LAYERS}: {unknown}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = layer_of(module)
    upward = [
        f"{MODULES[module].relative_to(ROOT.parent)}:{line}: {module} ({mine}) imports {target} ({theirs})"
        for target, line in GRAPH[module]
        if (theirs := layer_of(target)) != mine and RANK[theirs] >= RANK[mine]
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w, _ in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "modules that import each other (directly or round a circle):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


# Inside the registry, the stages point one way too. A question names a rule, so the rule catalogue sits
# below the items; modules directly in registry/ (the package front) may use every stage, no stage them.
REGISTRY_STAGES = ("rules", "items", "resolution", "scoring", "report")


def registry_stage(module: str) -> int | None:
    """The stage's rank of a registry module; len(REGISTRY_STAGES) for the front; None outside it."""
    parts = module.split(".")
    if parts[:2] != ["mazeprobe", "registry"]:
        return None
    if len(parts) > 3 and parts[2] in REGISTRY_STAGES:
        return REGISTRY_STAGES.index(parts[2])
    if len(parts) == 3 and parts[2] in REGISTRY_STAGES:  # a stage's own __init__
        return REGISTRY_STAGES.index(parts[2])
    return len(REGISTRY_STAGES)


def test_every_registry_package_is_a_stage():
    packages = {p.name for p in (ROOT / "registry").iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(REGISTRY_STAGES), f"registry packages outside {REGISTRY_STAGES}: {packages}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if registry_stage(m) is not None))
def test_registry_stages_point_one_way(module):
    mine = registry_stage(module)
    upward = [
        f"{MODULES[module].relative_to(ROOT.parent)}:{line}: {module} imports {target}"
        for target, line in GRAPH[module]
        if (theirs := registry_stage(target)) is not None and theirs > mine
    ]
    assert not upward, f"imports against the registry's stages {REGISTRY_STAGES}:\n" + "\n".join(upward)


def test_the_stage_checker_sees_an_item_importing_scoring():
    source = "def f():\n    from mazeprobe.registry.scoring.scores import score_table\n"
    found = imports_in(source, "mazeprobe.registry.items.load")
    assert found == [("mazeprobe.registry.scoring.scores", 2)]
    assert registry_stage(found[0][0]) > registry_stage("mazeprobe.registry.items.load")


def test_the_checker_sees_upward_imports_anywhere_in_a_module():
    # planted in a maze module: a function-level import of stats, a TYPE_CHECKING import of the
    # registry, a relative import of a sibling and a package-level import of sim
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import geometry\n"
        "import mazeprobe.sim\n"
        "if TYPE_CHECKING:\n"
        "    from mazeprobe.registry.items.model import Question\n"
        "def f():\n"
        "    from mazeprobe.stats.plan import load_plan\n"
    )
    found = {target: line for target, line in imports_in(source, "mazeprobe.maze.features")}
    assert found == {
        "mazeprobe.maze.geometry": 2,
        "mazeprobe.sim": 3,
        "mazeprobe.registry.items.model": 5,
        "mazeprobe.stats.plan": 7,
    }
    upward = sorted(t for t in found if RANK[layer_of(t)] > RANK["maze"])
    assert upward == ["mazeprobe.registry.items.model", "mazeprobe.sim", "mazeprobe.stats.plan"]
