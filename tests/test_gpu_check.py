"""benchmarks/gpu_check.py: its rehearsal tables have Sketchy-Extended's counts and the
Sketchy-21 split, and its ``--cpu-smoke`` mode runs every step (it cannot run on CUDA here)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rehearsal_tables_have_sketchy_extended_counts_and_sketchy21_split() -> None:
    gc = load_script()
    split, class_meta, x_sem, features, manifest = gc.rehearsal_tables(dim=2, seed=0)
    # Sketchy-Extended (Liu et al. 2017): 125 classes, 73,002 photos, 75,481 sketches.
    assert len(class_meta) == 125
    assert len(features["photo"][1]) == 73_002
    assert len(features["sketch"][1]) == 75_481
    unseen = set(class_meta.loc[class_meta["split"] == "unseen", "class"])
    assert len(unseen) == 21 and {"bat", "giraffe", "windmill"} <= unseen  # Yelamarthi et al. 2018
    assert set(split.loc[split["split"] == "test", "class"]) == unseen
    assert not split.loc[split["split"] != "test", "class"].isin(unseen).any()
    seen_photos = split[(split["domain"] == "photo") & (split["split"] != "test")]
    assert abs((seen_photos["split"] == "val").mean() - gc.VAL_FRACTION) < 0.01
    sketches = manifest.dropna(subset=["pair_id"]).merge(
        split[["id", "class", "split"]], on="id").merge(
        split[["id", "class", "split"]], left_on="pair_id", right_on="id", suffixes=("", "_p"))
    assert len(sketches) == 75_481  # every sketch is paired with a photo
    assert (sketches["class"] == sketches["class_p"]).all()
    assert (sketches["split"] == sketches["split_p"]).all()  # a pair never straddles splits


@pytest.mark.slow
def test_cpu_smoke_runs_every_step() -> None:
    res = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = dict(re.findall(r"^\| (.+?) \| (.+?) \|$", res.stdout, flags=re.M))
    steps = [s for s in rows if s not in ("step", "---")]
    for prefix in ("extract fp32", "extract bf16", "zsbir index", "evaluate"):
        assert any(s.startswith(prefix) for s in steps), (prefix, steps)
    for model in ("raw", "semantic-regression", "twotower", "cvae", "cvaegan"):
        assert any(s.startswith(f"train 1 epoch {model} (") for s in steps), (model, steps)
    rates = [float(v.split()[0]) for s, v in rows.items() if v.endswith("img/s")]
    assert len(rates) == 3 and min(rates) > 0
