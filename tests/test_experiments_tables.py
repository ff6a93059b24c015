"""The tables command on fake finished experiments: means, stds, bolding, Markdown, LaTeX."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zsbir.experiments.tables import latex_table, markdown_table, summarise

REPO = Path(__file__).resolve().parents[1]
# map_all per row and seed; the other metrics are map_all / 2, / 4, / 8
VALUES = {"raw": [0.10, 0.12, 0.14], "cvae": [0.20, 0.20, 0.26], "ours": [0.30, 0.33, 0.27]}
GRID = """name: fake
seeds: [0, 1, 2]
base: {data.dataset: synthetic}
rows: {raw: {model.name: raw}, cvae: {model.name: cvae}, ours: {}}
tables: {comparison: [ours, raw, cvae], ablation: [ours, cvae]}
"""
CLASSES = [f"c{k}" for k in range(6)]


def _class_ap(row: str, seed: int) -> list[float]:
    """ours beats raw on all 6 classes (exact sign-flip p = 2/64); cvae ties raw on average."""
    if row == "ours":
        return [0.3 + 0.01 * seed] * 6
    if row == "cvae":
        return [0.1 + (0.05 if k % 2 else -0.05) for k in range(6)]
    return [0.1] * 6


def _per_class() -> pd.DataFrame:
    return pd.DataFrame([{"row": r, "seed": s, "class": c, "ap": ap, "ap_gzs": ap / 2}
                         for r in VALUES for s in range(3)
                         for c, ap in zip(CLASSES, _class_ap(r, s))])


def _results() -> pd.DataFrame:
    rows = [{"row": r, "seed": s, "map_all": v, "p_100": v / 2, "map_200": v / 4, "p_200": v / 8}
            for r, vs in VALUES.items() for s, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_summary_matches_numpy_mean_and_sample_std() -> None:
    table = summarise(_results(), ["raw", "cvae", "ours", "missing"])
    np.testing.assert_allclose(table["map_all_mean"][:3], [0.12, 0.22, 0.30])
    np.testing.assert_allclose(table["map_all_std"][:3],
                               [np.std(VALUES[r], ddof=1) for r in ("raw", "cvae", "ours")])
    np.testing.assert_allclose(table["delta_map_all"][:3], [0.0, 0.10, 0.18])
    assert table["n_seeds"].tolist() == [3, 3, 3, 0] and np.isnan(table["map_all_mean"][3])


def test_markdown_and_latex_content() -> None:
    table = summarise(_results(), ["raw", "cvae", "ours"])
    md = markdown_table(table, "Comparison.")
    assert "Mean ± sample std over 3 seeds; best in bold." in md
    assert "| `ours` | **0.300 ± 0.030** | **0.150 ± 0.015** |" in md
    assert "| `raw` | 0.120 ± 0.020 |" in md and "| +0.180 | [0.225, 0.375] | – | – | 3 |" in md
    tex = latex_table(table, "Comparison.", "tab:cmp")
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"ours & \textbf{0.300 $\pm$ 0.030} & \textbf{0.150 $\pm$ 0.015}" in tex
    assert r"raw & 0.120 $\pm$ 0.020 & 0.060 $\pm$ 0.010 & 0.030 $\pm$ 0.005" in tex
    assert r"\label{tab:cmp}" in tex and tex.count(r"\textbf") == 4


def test_ties_are_all_bold_and_single_seed_has_no_std() -> None:
    results = pd.DataFrame([
        {"row": "a", "seed": 0, "map_all": 0.5, "p_100": 0.1, "map_200": 0.1, "p_200": 0.1},
        {"row": "b", "seed": 0, "map_all": 0.5, "p_100": 0.2, "map_200": 0.1, "p_200": 0.1},
    ])
    md = markdown_table(summarise(results, ["a", "b"]), "T.")
    assert "| `a` | **0.500** | 0.100 | **0.100** | **0.100** | – | – | – | – | 1 |" in md
    assert "over 1 seeds" in md


def test_p_values_ci_dagger_and_generalized_group() -> None:
    results = _results()
    results["gzs_map_all"] = results["map_all"] / 2
    for m in ("p_100", "map_200", "p_200"):
        results[f"gzs_{m}"] = results[m] / 2
    table = summarise(results, ["raw", "ours", "cvae"], _per_class())
    p = dict(zip(table["row"], table["p_value"]))
    assert np.isnan(p["raw"]) and p["ours"] == pytest.approx(2 / 64) and p["cvae"] == 1.0
    assert dict(zip(table["row"], table["gzs_p_value"]))["ours"] == pytest.approx(2 / 64)
    low, high = table.loc[1, ["ci95_low", "ci95_high"]]
    half = 4.302652729911275 * np.std(VALUES["ours"], ddof=1) / np.sqrt(3)  # t_{0.975, 2}
    assert (low, high) == pytest.approx((0.30 - half, 0.30 + half))
    assert table.loc[1, "gzs_ci95_low"] == pytest.approx((0.30 - half) / 2)
    # Holm over the 2 tests: ours 2 x 2/64 = 0.0625 (no dagger), cvae max(0.0625, 1) = 1
    assert list(table["p_holm"][1:]) == pytest.approx([0.0625, 1.0])
    md = markdown_table(table, "C.")
    assert "| `ours` |" in md and "| `cvae` |" in md and "| 0.031 | 0.062 |" in md
    assert "GZS mAP@all" in md and "p vs raw" in md and "p Holm < 0.05" in md
    tex = latex_table(table, "C.", "tab:c")
    assert r"$^\dagger$ &" not in tex and r"\multicolumn{8}{c}{Generalized ZS-SBIR}" in tex
    assert r"\cmidrule(lr){2-9} \cmidrule(lr){11-18}" in tex
    csv = pd.read_csv(__import__("io").StringIO(table.to_csv(index=False)))
    assert {"p_value", "p_holm", "ci95_low", "ci95_high", "gzs_p_holm"} <= set(csv.columns)
    # one test only: Holm = the raw p, and the dagger marks it
    single = summarise(results, ["raw", "ours"], _per_class())
    assert single["p_holm"][1] == pytest.approx(2 / 64)
    assert "| `ours`† |" in markdown_table(single, "C.")
    assert r"ours$^\dagger$ &" in latex_table(single, "C.", "tab:c")


def test_no_generalized_results_no_second_group() -> None:
    table = summarise(_results(), ["raw", "ours"])
    assert "GZS" not in markdown_table(table, "C.") and "multicolumn" not in latex_table(
        table, "C.", "t")
    assert np.isnan(table["p_value"]).all()  # no per-class AP: no p-values


@pytest.fixture()
def fake_store(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An MLflow store with the grid's runs, an older duplicate and an unfinished run."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("zsbir")
    figure = tmp_path / "reports" / "figures" / "cases_best_worst.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"\x89PNG fake")

    def log_run(row: str, seed: int, value: float | None, dataset: str = "synthetic") -> None:
        per_class = tmp_path / "plots" / "per_class_ap.csv"
        per_class.parent.mkdir(exist_ok=True)
        pd.DataFrame({"class": CLASSES, "ap": _class_ap(row, seed), "n_queries": 3}).to_csv(
            per_class, index=False)
        with mlflow.start_run():
            mlflow.set_tags({"dvc_exp_name": f"fake-{row}-s{seed}", "ablation": row,
                             "mlflow.source.git.commit": "abc"})
            mlflow.log_params({"seed": seed, "ablation": row, "data.dataset": dataset,
                               "model.name": "cvaegan" if row == "ours" else row})
            if value is not None:
                mlflow.set_tag("stage.evaluate", "done")
                mlflow.log_metrics({"eval.map_all": value, "eval.p_100": value / 2,
                                    "eval.map_200": value / 4, "eval.p_200": value / 8})
                mlflow.log_artifact(str(per_class), artifact_path="evaluate/plots")
            if row == "ours" and seed == 0:
                mlflow.log_artifact(str(figure), artifact_path="evaluate/reports/figures")
        time.sleep(0.01)  # distinct start times

    log_run("ours", 0, 0.99)  # older duplicate: superseded by the later run
    for row, values in VALUES.items():
        for seed, value in enumerate(values):
            log_run(row, seed, value)
    log_run("ours", 2, None)  # a later, unfinished re-run does not replace the finished one
    log_run("ours", 1, 0.77, dataset="other")  # a later run with other params: not this grid's
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "grid.yaml").write_text(GRID)
    return tmp_path, {**os.environ, "MLFLOW_TRACKING_URI": uri}


def test_tables_command_end_to_end(fake_store: tuple[Path, dict[str, str]]) -> None:
    tmp_path, env = fake_store
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "experiments.py"), "tables", "grid.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "reports" / "tables" / "fake"
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 9 and results["map_all"].max() == pytest.approx(0.33)
    assert 0.77 not in set(results["map_all"])
    md = (out / "comparison.md").read_text()
    assert "| `ours` | **0.300 ± 0.030** |" in md and "| `cvae` | 0.220 ± 0.035 |" in md
    summary = pd.read_csv(out / "comparison.csv").set_index("row")
    assert summary.loc["raw", "p_value"] == pytest.approx(2 / 64)  # vs the reference, ours
    assert summary.loc["cvae", "p_value"] == pytest.approx(2 / 64)  # 0.15/0.05 vs 0.3: all <
    assert list(summary["p_holm"].iloc[1:]) == pytest.approx([4 / 64, 4 / 64])  # no dagger
    assert len(pd.read_csv(out / "per_class.csv")) == 9 * 6
    assert "Δ mAP@all vs ours" in (out / "ablation.md").read_text()
    assert r"\begin{tabular}" in (out / "ablation.tex").read_text()
    assert "## comparison" in proc.stdout and "## ablation" in proc.stdout
    assert (out / "figures" / "ours-s0-cases_best_worst.png").read_bytes() == b"\x89PNG fake"
