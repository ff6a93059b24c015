"""The CI regression gate: library verdicts and the script's exit status."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from zsbir.experiments.gate import BaselineError, compare, format_table, make_baseline

BASE = {
    "metrics": {
        "map_all": {"value": 0.40, "tolerance": 0.02},
        "p_100": {"value": 0.50, "tolerance": 0.05},
    }
}


def test_within_tolerance_passes() -> None:
    checks = compare({"map_all": 0.385, "p_100": 0.46}, BASE)
    assert [c.passed for c in checks] == [True, True]
    assert "map_all" in format_table(checks) and "REGRESSED" not in format_table(checks)


def test_drop_beyond_tolerance_fails_naming_metric_and_values() -> None:
    checks = compare({"map_all": 0.37, "p_100": 0.50}, BASE)
    (bad,) = [c for c in checks if not c.passed]
    assert bad.metric == "map_all"
    msg = bad.message()
    assert "map_all" in msg and "0.4000" in msg and "0.3700" in msg


def test_missing_metric_fails() -> None:
    (check,) = [c for c in compare({"map_all": 0.5}, BASE) if c.metric == "p_100"]
    assert not check.passed and check.new is None and "p_100" in check.message()


def test_improved_metric_passes() -> None:
    assert all(c.passed for c in compare({"map_all": 0.9, "p_100": 0.9}, BASE))


def test_malformed_baseline_names_the_key() -> None:
    with pytest.raises(BaselineError, match="metrics.map_all"):
        compare({"map_all": 0.5}, {"metrics": {"map_all": {"value": "high", "tolerance": 0.1}}})


def test_make_baseline_round_trips_and_needs_every_metric() -> None:
    metrics = {"map_all": 0.3, "map_200": 0.2, "map_200_norm": 0.4, "p_100": 0.3, "p_200": 0.25}
    baseline = make_baseline(metrics, tolerance=0.01)
    assert all(c.passed for c in compare(metrics, baseline))
    assert baseline["metrics"]["p_200"] == {"value": 0.25, "tolerance": 0.01}
    with pytest.raises(BaselineError, match="map_200"):
        make_baseline({"map_all": 0.3})


def _script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "gate.py"
    spec = importlib.util.spec_from_file_location("gate_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate = _script()
    metrics, baseline = tmp_path / "eval.json", tmp_path / "ci" / "base.json"
    good = {"map_all": 0.4, "map_200": 0.2, "map_200_norm": 0.5, "p_100": 0.3, "p_200": 0.3}
    metrics.write_text(json.dumps(good))
    args = ["--metrics", str(metrics), "--baseline", str(baseline)]
    assert gate.main(args) == 2  # no baseline yet
    assert gate.main([*args, "--write-baseline"]) == 0 and baseline.is_file()
    assert gate.main(args) == 0
    assert "p_200" in capsys.readouterr().out
    metrics.write_text(json.dumps({**good, "p_200": 0.2}))
    assert gate.main(args) == 1
    err = capsys.readouterr().err
    assert "p_200" in err and "0.3000" in err and "0.2000" in err
