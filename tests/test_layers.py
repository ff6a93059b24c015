"""The library's import layers: no module imports from a layer above its own.

Read from the source with ``ast`` (every ``import``, module-level or inside a function),
so a new upward import fails here before it shows up as a cycle or as a stage whose
``dvc.yaml`` deps miss the code it runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZSBIR = Path(__file__).resolve().parents[1] / "zsbir"

# Lowest first. A module may import from its own layer and any layer below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("zsbir", "zsbir.config", "zsbir.io", "zsbir.seed", "zsbir.schema"),  # contracts, I/O
    ("zsbir.data", "zsbir.split", "zsbir.features"),  # the first stages' artifacts
    ("zsbir.retrieval",),  # exact metrics and curves, the search index
    ("zsbir.models",),  # networks, their losses and training steps
    ("zsbir.train",),  # the loop, training data, model selection
    ("zsbir.embed", "zsbir.evaluate", "zsbir.tracking"),  # the last stages, MLflow
    ("zsbir.experiments", "zsbir.search"),  # many runs: grids, tuning, tables, the gate
)
# Inside zsbir.data: the generator and acquisition never import the dataset modules.
DATA_LAYERS: tuple[tuple[str, ...], ...] = (
    ("zsbir.data.base",),
    ("zsbir.data.synthetic", "zsbir.data.acquire"),
    ("zsbir.data.datasets", "zsbir.data"),
)


def _module(path: Path) -> str:
    parts = path.relative_to(ZSBIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``zsbir`` module ``path`` imports (``from zsbir.x import y`` gives ``zsbir.x.y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name == "zsbir" or name.startswith("zsbir.")}


def _layer(module: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """Index of the layer whose longest prefix matches ``module`` (None: not in ``layers``)."""
    best: tuple[int, int] | None = None
    for index, prefixes in enumerate(layers):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return None if best is None else best[1]


def _violations(layers: tuple[tuple[str, ...], ...]) -> list[str]:
    out = []
    for path in sorted(ZSBIR.rglob("*.py")):
        mine = _layer(_module(path), layers)
        if mine is None:
            continue
        for target in sorted(_imports(path)):
            theirs = _layer(target, layers)
            if theirs is not None and theirs > mine:
                out.append(f"{path.relative_to(ZSBIR.parent)} imports {target} (a layer above)")
    return out


def test_every_library_module_has_a_layer() -> None:
    unplaced = [str(p) for p in ZSBIR.rglob("*.py") if _layer(_module(p), LAYERS) is None]
    assert unplaced == []


@pytest.mark.parametrize("layers", [LAYERS, DATA_LAYERS], ids=["library", "data"])
def test_no_module_imports_from_a_layer_above(layers: tuple[tuple[str, ...], ...]) -> None:
    assert _violations(layers) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The parser finds imports at module level and inside functions, both spellings."""
    source = tmp_path / "m.py"
    source.write_text(
        "from zsbir.retrieval.metrics import retrieval_metrics\n"
        "def f():\n    import zsbir.experiments.gate\n"
    )
    assert _imports(source) == {
        "zsbir.retrieval.metrics.retrieval_metrics", "zsbir.experiments.gate"
    }
    assert _layer("zsbir.retrieval.metrics.retrieval_metrics", LAYERS) == 2
    assert _layer("zsbir.experiments.gate", LAYERS) > _layer("zsbir.train.select", LAYERS)
    assert _layer("zsbir.data.acquire.fetch", DATA_LAYERS) < _layer("zsbir.data", DATA_LAYERS)


def _module_graph() -> dict[str, set[str]]:
    """Library module -> the library modules it imports (``from m import name`` counts as m)."""
    modules = {_module(p): p for p in ZSBIR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in _imports(path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]  # zsbir.models.cvae.CVAE -> zsbir.models.cvae
            if target in modules and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def _mutual(graph: dict[str, set[str]]) -> list[str]:
    """Pairs of modules that import each other, type-checking imports included."""
    return sorted(f"{a} <-> {b}" for a, deps in graph.items() for b in deps
                  if a < b and a in graph.get(b, set()))


def test_no_two_modules_import_each_other() -> None:
    """A package's ``__init__`` re-exporting its own modules is not a cycle of two files."""
    graph = _module_graph()
    packages = {_module(p) for p in ZSBIR.rglob("__init__.py")}
    pairs = [p for p in _mutual(graph)
             if not any(a in packages and b.startswith(a + ".")
                        for a, b in [p.split(" <-> "), p.split(" <-> ")[::-1]])]
    assert pairs == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _mutual({"zsbir.a": {"zsbir.b"}, "zsbir.b": {"zsbir.a"}, "zsbir.c": {"zsbir.a"}}) == [
        "zsbir.a <-> zsbir.b"
    ]
