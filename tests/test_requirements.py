"""The install story stays consistent: pyproject.toml, requirements.in, requirements.lock.

Independent checks: the imports are read from the source with ``ast`` and mapped to
distributions through the installed packages' own metadata
(:func:`importlib.metadata.packages_distributions`), not from any list we maintain; the
lock is parsed line by line and each declared specifier is checked with ``packaging``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;\s*(.+?))?\s*\\?$")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# Stages that compute something from installed packages (validate only checks keys).
STAGES_ON_LOCK = {"download", "split", "extract", "pca", "train", "embed", "evaluate",
                  "package"}


def lock_pins(text: str) -> dict[str, list[tuple[str, str, int]]]:
    """``{name: [(version, marker, n_hashes), ...]}`` of a uv/pip-compile lock file."""
    pins: dict[str, list[tuple[str, str, int]]] = {}
    current: list[tuple[str, str, int]] | None = None
    for line in text.splitlines():
        match = LOCK_PIN.match(line)
        if match:
            entry = (match[2], match[3] or "", 0)
            current = pins.setdefault(canonicalize_name(match[1]), [])
            current.append(entry)
        elif current is not None and HASH.search(line):
            version, marker, n = current[-1]
            current[-1] = (version, marker, n + len(HASH.findall(line)))
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"requirements.lock: unexpected line {line!r}")
    return pins


def declared(pyproject: dict, extras: bool) -> list[Requirement]:
    """``[project] dependencies`` (plus every optional extra when ``extras``)."""
    project = pyproject["project"]
    reqs = list(project.get("dependencies", []))
    if extras:
        for group in project.get("optional-dependencies", {}).values():
            reqs.extend(group)
    return [Requirement(r) for r in reqs]


def unpinned(reqs: list[Requirement], pins: dict[str, list[tuple[str, str, int]]]) -> list[str]:
    """Declared requirements the lock lacks, or pins at a version outside the specifier."""
    problems = []
    for req in reqs:
        versions = [v for v, _marker, _n in pins.get(canonicalize_name(req.name), [])]
        if not versions:
            problems.append(f"{req} is not in requirements.lock")
        for v in versions:
            if not req.specifier.contains(v, prereleases=True):
                problems.append(f"{req} but requirements.lock pins {req.name}=={v}")
    return problems


def in_pins(text: str) -> dict[str, str]:
    """``{name: version}`` of requirements.in's exact pins; anything else is an error."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier  # exactly one ==
            if spec.operator != "==":
                raise ValueError(f"requirements.in: {line!r} is not an exact pin")
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def top_level_imports(source: str) -> set[str]:
    """Top-level module names of the absolute imports in ``source`` (nested ones too)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party(path: Path) -> set[str]:
    """Imports of ``path`` that are neither stdlib, zsbir, nor a module beside the file."""
    local = {p.stem for p in path.parent.glob("*.py")} | {"zsbir", "__future__"}
    names = top_level_imports(path.read_text(encoding="utf-8"))
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def undeclared(imports: dict[str, set[Path]], allowed: set[str]) -> list[str]:
    """Imported modules whose distribution (installed metadata) is not in ``allowed``."""
    dists = importlib.metadata.packages_distributions()
    problems = []
    for module, files in sorted(imports.items()):
        names = {canonicalize_name(d) for d in dists.get(module, [])}
        where = ", ".join(sorted(str(f.relative_to(ROOT)) for f in files))
        if not names:
            problems.append(f"`import {module}` ({where}): no installed distribution provides it")
        elif not names & allowed:
            problems.append(f"`import {module}` ({where}): {sorted(names)} not in pyproject.toml")
    return problems


def collect(dirs: list[str]) -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*.py")):
            for module in third_party(path):
                found.setdefault(module, set()).add(path)
    return found


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pins() -> dict[str, list[tuple[str, str, int]]]:
    return lock_pins((ROOT / "requirements.lock").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ the checks work
def test_checks_catch_missing_and_wrong_pins() -> None:
    lock = "numpy==2.4.6 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via foo\n"
    reqs = [Requirement("numpy>=2.5"), Requirement("requests>=2")]
    assert unpinned(reqs, lock_pins(lock)) == [
        "numpy>=2.5 but requirements.lock pins numpy==2.4.6",
        "requests>=2 is not in requirements.lock",
    ]
    assert lock_pins(lock) == {"numpy": [("2.4.6", "", 1)]}
    with pytest.raises(ValueError, match="not an exact pin"):
        in_pins("numpy>=2\n")


def test_import_scan_sees_nested_imports_and_skips_stdlib_and_local(tmp_path: Path) -> None:
    (tmp_path / "common.py").write_text("")
    src = tmp_path / "m.py"
    src.write_text(
        "import os, numpy.linalg\nfrom . import x\nfrom common import y\n"
        "def f():\n    import requests\n    from PIL import Image\n"
    )
    assert third_party(src) == {"numpy", "requests", "PIL"}
    allowed = {"numpy", "pillow"}
    problems = undeclared({"requests": {ROOT / "m.py"}, "PIL": {ROOT / "m.py"}}, allowed)
    assert problems == ["`import requests` (m.py): ['requests'] not in pyproject.toml"]


# ------------------------------------------------------------------ the real files
def test_every_declared_dependency_is_pinned_in_the_lock(pyproject: dict, pins: dict) -> None:
    assert unpinned(declared(pyproject, extras=True), pins) == []


def test_requirements_in_matches_pyproject_and_lock(pyproject: dict, pins: dict) -> None:
    wanted = in_pins((ROOT / "requirements.in").read_text(encoding="utf-8"))
    names = {canonicalize_name(r.name) for r in declared(pyproject, extras=True)}
    assert sorted(set(wanted) ^ names) == [], "requirements.in and pyproject.toml list differ"
    wrong = {n: (v, [p[0] for p in pins.get(n, [])]) for n, v in wanted.items()}
    assert {n: w for n, w in wrong.items() if w[1] != [w[0]]} == {}, "run `make lock`"


def test_lock_is_hashed_and_universal(pins: dict) -> None:
    assert [n for n, entries in pins.items() if any(h == 0 for *_, h in entries)] == []
    assert [(n, v) for n, e in pins.items() for v, *_ in e if "+" in v] == []  # no +cpu
    assert pins["torch"] == [(pins["torch"][0][0], "", pins["torch"][0][2])]  # all platforms
    cuda = [n for n in pins if n.startswith(("nvidia-", "cuda-")) or n == "triton"]
    assert cuda, "expected torch's CUDA wheels, pinned for Linux only"
    for name in cuda:
        for _v, marker, _n in pins[name]:
            assert "sys_platform == 'linux'" in marker, f"{name} installs beyond Linux"


def test_library_imports_are_core_dependencies(pyproject: dict) -> None:
    core = {canonicalize_name(r.name) for r in declared(pyproject, extras=False)}
    assert undeclared(collect(["zsbir", "stages", "scripts", "benchmarks"]), core) == []


def test_test_imports_are_declared_with_the_dev_extra(pyproject: dict) -> None:
    every = {canonicalize_name(r.name) for r in declared(pyproject, extras=True)}
    assert undeclared(collect(["tests"]), every) == []


def test_computing_stages_depend_on_the_lock() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    on_lock = {name for name, s in stages.items() if "requirements.lock" in s.get("deps", [])}
    assert on_lock == STAGES_ON_LOCK
