"""Sweeps over a grid's tables (splits, learning curve) against independent references:
scipy's exact permutation test, its t intervals and regression, and pandas by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from zsbir.config import ConfigError
from zsbir.experiments.grid import load_grid
from zsbir.experiments.report import write_sweep
from zsbir.experiments.sweeps import POOLED, Sweep, markdown_sweep, sweep_summary

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
MODELS = ("ref", "a", "b")
LEVELS = {"l05": 5, "l10": 10, "l20": 20}
TABLES = {lv: tuple(f"{m}-{lv}" for m in MODELS) for lv in LEVELS}


def _frames(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """3 seeds per row; per level 4 unseen classes of its own (as splits have)."""
    per_class, results = [], []
    for i, lv in enumerate(LEVELS):
        for m, row in zip(MODELS, TABLES[lv]):
            for seed in range(3):
                ap = rng.uniform(0.1, 0.5, size=4) + (0.05 * i if m == "ref" else 0.0)
                per_class += [{"row": row, "seed": seed, "class": f"{lv}-c{k}", "ap": ap[k]}
                              for k in range(4)]
                results.append({"row": row, "seed": seed, "map_all": ap.mean()})
    return pd.DataFrame(results), pd.DataFrame(per_class)


def _exact_sign_flip(d: np.ndarray) -> float:
    res = stats.permutation_test((d, np.zeros_like(d)), lambda x, y: np.mean(x - y),
                                 permutation_type="samples", n_resamples=np.inf)
    return float(res.pvalue)


def test_levels_and_pooled_lines_match_independent_references() -> None:
    results, per_class = _frames(np.random.default_rng(0))
    sweep = Sweep("photos", MODELS, LEVELS)
    out = sweep_summary(sweep, TABLES, results, per_class)
    ap = per_class.groupby(["row", "class"])["ap"].mean()
    gaps = []
    for lv in LEVELS:
        ref = ap[f"ref-{lv}"]
        line = out[(out["level"] == lv) & (out["model"] == "a")].iloc[0]
        d = ref.to_numpy() - ap[f"a-{lv}"][ref.index].to_numpy()
        gaps.append(d)
        assert line["gap"] == pytest.approx(d.mean())
        ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
        assert (line["gap_ci95_low"], line["gap_ci95_high"]) == pytest.approx((ci.low, ci.high))
        assert line["p_value"] == pytest.approx(_exact_sign_flip(d))
        seeds = results.loc[results["row"] == f"a-{lv}", "map_all"]
        assert line["map_all_mean"] == pytest.approx(seeds.mean())
        assert line["n_classes"] == 4
    pooled = out[(out["level"] == POOLED) & (out["model"] == "a")].iloc[0]
    level_gaps = np.array([g.mean() for g in gaps])
    assert pooled["gap"] == pytest.approx(level_gaps.mean())
    assert pooled["wins"] == int((level_gaps > 0).sum())
    assert pooled["p_split"] == pytest.approx(_exact_sign_flip(level_gaps))
    assert pooled["p_class"] == pytest.approx(_exact_sign_flip(np.concatenate(gaps)))
    slope = np.polyfit(np.array(list(LEVELS.values()), float), level_gaps, 1)[0]
    assert pooled["gap_slope"] == pytest.approx(slope)
    both = out[(out["level"] == POOLED) & (out["model"] != "ref")]
    p = np.sort(both["p_split"].to_numpy())
    holm = np.minimum(1, np.maximum.accumulate(p * np.array([2, 1])))  # Holm for m = 2
    assert np.sort(both["p_split_holm"].to_numpy()) == pytest.approx(holm)
    ref_line = out[(out["level"] == POOLED) & (out["model"] == "ref")].iloc[0]
    assert np.isnan(ref_line["p_split"]) and np.isnan(ref_line.get("gap", np.nan))


def test_a_model_always_behind_loses_every_level_and_the_text_names_the_classes(tmp_path) -> None:
    results, per_class = _frames(np.random.default_rng(1))
    per_class.loc[per_class["row"].str.startswith("b-"), "ap"] -= 1.0  # b: far behind everywhere
    results.loc[results["row"].str.startswith("b-"), "map_all"] -= 1.0
    sweep = Sweep("split", MODELS, {lv: lv for lv in LEVELS})  # names: no trend line
    out = sweep_summary(sweep, TABLES, results, per_class)
    b = out[(out["level"] == POOLED) & (out["model"] == "b")].iloc[0]
    assert b["wins"] == 3 and b["p_split"] == pytest.approx(0.25)  # 2 of 2^3 sign vectors
    assert b["p_class"] == pytest.approx(2 / 2**12)
    assert "gap_slope" not in out or out["gap_slope"].isna().all()
    classes = {lv: [f"{lv}-c{k}" for k in range(4)] for lv in LEVELS}
    text = markdown_sweep(sweep, out, "caption", classes)
    assert "Unseen classes of l10: l10-c0, l10-c1, l10-c2, l10-c3." in text
    assert "| pooled | b |" in text and "3/3" in text


def test_grid_sweep_is_checked_and_written(tmp_path: Path) -> None:
    grid = load_grid(REPO / "experiments" / "learning-curve.yaml", PARAMS)
    assert grid.sweep is not None and grid.sweep.numeric
    assert grid.sweep.models == ("cvaegan", "twotower", "cvae")
    bad = yaml.safe_load((REPO / "experiments" / "learning-curve.yaml").read_text())
    bad["tables"]["n05"] = ["twotower-n05", "cvaegan-n05", "cvae-n05"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "tuned.yaml").write_text((REPO / "experiments" / "tuned.yaml").read_text())
    with pytest.raises(ConfigError, match="table 'n05' has models"):
        load_grid(tmp_path / "bad.yaml", PARAMS)
    rng = np.random.default_rng(2)
    rows = [{"row": r, "seed": s, "map_all": rng.uniform(0.1, 0.3)}
            for t in grid.tables.values() for r in t for s in range(2)]
    per_class = pd.DataFrame([{"row": r["row"], "seed": r["seed"], "class": f"c{k}",
                               "ap": rng.uniform(0.1, 0.3)} for r in rows for k in range(5)])
    summary, files = write_sweep(grid, pd.DataFrame(rows), per_class, tmp_path)
    assert {p.name for p in files} == {"sweep.md", "sweep.tex", "sweep.csv", "sweep.png"}
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    tex = (tmp_path / "sweep.tex").read_text()
    assert "\\toprule" in tex and tex.count("\\\\\n") == len(summary) + 1
    csv = pd.read_csv(tmp_path / "sweep.csv")
    assert {"p_value", "p_holm", "p_split", "p_split_holm", "p_class_holm"} <= set(csv.columns)
