"""stages/common.py: stages find the repository root, validate params.yaml before any work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _workspace(tmp_path: Path, params: str) -> Path:
    """A copy of the repository's skeleton: dvc.yaml, params.yaml, stages/."""
    shutil.copytree(REPO / "stages", tmp_path / "stages")
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(params)
    return tmp_path


def _run_validate(cwd: Path, script: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("sub", ["stages", "stages/sub"])
def test_stage_run_from_a_subfolder_reads_the_root_params(tmp_path: Path, sub: str) -> None:
    root = _workspace(tmp_path, "seed: 0\ntrain:\n  epochs: -3\n")
    (root / sub).mkdir(exist_ok=True)
    proc = _run_validate(root / sub, root / "stages" / "validate.py")
    # It found (and rejected) the workspace's params.yaml: not FileNotFoundError.
    assert proc.returncode != 0
    assert "params key 'train.epochs' must be >= 1, got -3" in proc.stderr


def test_stage_from_stages_folder_of_this_repository_succeeds() -> None:
    proc = _run_validate(REPO / "stages", Path("validate.py"))
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_duplicated_key_fails_the_validate_stage(tmp_path: Path) -> None:
    root = _workspace(tmp_path, "seed: 0\nloss:\n  kl_weight: 0.1\n  kl_weight: 0.2\n")
    proc = _run_validate(root, root / "stages" / "validate.py")
    assert proc.returncode != 0
    assert "key 'loss.kl_weight' is given twice (lines 3 and 4)" in proc.stderr


def test_without_params_yaml_anywhere_the_error_names_it(tmp_path: Path) -> None:
    shutil.copytree(REPO / "stages", tmp_path / "stages")
    proc = _run_validate(tmp_path, tmp_path / "stages" / "validate.py")
    assert proc.returncode != 0
    assert "no params.yaml in or above" in proc.stderr
