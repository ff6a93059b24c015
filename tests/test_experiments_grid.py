"""Grid files: expansion into DVC experiments and validation against the params schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zsbir.config import ConfigError
from zsbir.experiments.grid import apply_overrides, load_grid

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def _grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def test_rows_times_seeds_with_base_overrides_and_labels(tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, """
name: g
seeds: [3, 4]
base: {data.dataset: sketchy-mini}
rows:
  raw: {model.name: raw}
  gap5: {features.layers: [gap5], data.dataset: synthetic}
tables: {comparison: [raw, gap5]}
"""), PARAMS)
    exps = grid.experiments()
    assert [e.name for e in exps] == ["g-raw-s3", "g-raw-s4", "g-gap5-s3", "g-gap5-s4"]
    assert exps[2].set_args() == [
        "-S", 'data.dataset="synthetic"', "-S", 'features.layers=["gap5"]',
        "-S", "seed=3", "-S", 'ablation="gap5"',
    ]
    assert grid.tables == {"comparison": ("raw", "gap5")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: g\nrows: {a: {loss.semantic_wieght: 0}}", r"row 'a'.*semantic_wieght"),
        ("name: g\nrows: {a: {model.name: gan}}", r"row 'a'.*model.name"),
        ("name: g\nrows: {a: {seed: 1}}", r"row 'a' sets 'seed'"),
        ("name: g\nrows: {a: {}}\ntables: {t: [a, b]}", r"table 't'.*\['b'\]"),
        ("name: G!\nrows: {a: {}}", r"name must be"),
        ("name: g\nseeds: []\nrows: {a: {}}", r"seeds"),
        ("name: g\nrow: {a: {}}", r"unknown key.*'row'"),
    ],
)
def test_bad_grids_fail_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_grid(_grid(tmp_path, text), PARAMS)


def test_apply_overrides_is_a_deep_copy() -> None:
    out = apply_overrides(PARAMS, {"loss.semantic_weight": 0, "new.section.key": 1})
    assert out["loss"]["semantic_weight"] == 0 and out["new"] == {"section": {"key": 1}}
    assert PARAMS["loss"]["semantic_weight"] != 0


def test_the_committed_paper_grid_is_valid() -> None:
    grid = load_grid(REPO / "experiments" / "paper.yaml", PARAMS)
    comparison = ["cvaegan", "raw", "semantic-regression", "twotower", "cvae"]
    assert len(grid.seeds) >= 2 and list(grid.tables["comparison"]) == comparison
    assert all(grid.seeds_of(row) == (0, 1, 2, 3, 4) for row in comparison)
    names = {e.name for e in grid.experiments()}
    assert "paper-twotower-s4" in names and "paper-no-kl-s4" not in names
    assert all(dict(e.overrides)["eval.also_generalized"] for e in grid.experiments())
    extra = load_grid(REPO / "experiments" / "paper-extra.yaml", PARAMS)
    assert extra.name != grid.name and list(extra.tables["variants"])[0] == "cvaegan"
    assert not set(extra.rows) - {"cvaegan"} & set(grid.rows)  # no variant run twice
    for g in (grid, extra):  # no ablation/variant row repeats its table's tuned reference
        runs = {e.row: dict(e.overrides) for e in g.experiments() if e.seed == 0}
        ref = {k: v for k, v in runs["cvaegan"].items() if k != "ablation"}
        for row in set(g.rows) - {"cvaegan", "raw", "semantic-regression", "twotower", "cvae"}:
            assert {k: v for k, v in runs[row].items() if k != "ablation"} != ref, row


def test_rows_take_tuned_params_below_their_own_and_own_seeds(tmp_path: Path) -> None:
    (tmp_path / "tuned.yaml").write_text(
        "twotower: {n_trials: 3, epochs: 2, seed: 0, val_map: 0.5, data: abc,\n"
        "  params: {train.lr_g: 0.01, model.hidden: 64}}\n"
    )
    (tmp_path / "g.yaml").write_text(
        "name: g\nseeds: [0]\nbase: {train.epochs: 5}\nrows:\n"
        "  tt: {model.name: twotower, tuned: true, model.hidden: 32, seeds: [1, 2]}\n"
        "  cv: {model.name: cvae, tuned: true}\n"
        "  plain: {model.name: twotower}\n"
        "tables: {t: [tt, cv, plain]}\n"
    )
    grid = load_grid(tmp_path / "g.yaml", PARAMS)
    exps = {e.name: dict(e.overrides) for e in grid.experiments()}
    assert set(exps) == {"g-tt-s1", "g-tt-s2", "g-cv-s0", "g-plain-s0"}
    assert exps["g-tt-s1"]["train.lr_g"] == 0.01 and exps["g-tt-s1"]["model.hidden"] == 32
    assert exps["g-tt-s1"]["train.epochs"] == 2  # the tuning's epoch budget, over base's 5
    assert exps["g-cv-s0"]["train.epochs"] == 5 and exps["g-plain-s0"]["train.epochs"] == 5
    assert "train.lr_g" not in exps["g-cv-s0"]  # cvae not tuned yet: runs untuned
    assert "train.lr_g" not in exps["g-plain-s0"] and "tuned" not in exps["g-tt-s2"]
    assert set(grid.tuned) == {"tt"} and grid.tuned["tt"].n_trials == 3
    from zsbir.experiments.report import caption

    text = caption(grid, "t")
    assert "seen-class val mAP only: tt (3 trials x 2 epochs);" in text and "cv (" not in text
    (tmp_path / "tuned.yaml").write_text(
        "twotower: {n_trials: 3, epochs: 2, seed: 0, val_map: 0.5, data: abc,\n"
        "  params: {train.lr_gg: 0.01}}\n"
    )
    with pytest.raises(ConfigError, match="row 'tt'.*train.lr_gg"):
        load_grid(tmp_path / "g.yaml", PARAMS)



GRIDS = sorted(p for p in (REPO / "experiments").glob("*.yaml") if not p.name.startswith("tuned"))


def test_every_grid_and_the_readme_carry_no_machine_path() -> None:
    # A grid runs from any fresh clone: data comes from $ZSBIR_DATA_SOURCE or the cache.
    assert {"paper.yaml", "paper-extra.yaml", "budget.yaml", "splits.yaml"} <= {p.name for p in GRIDS}
    for path in GRIDS:
        grid = load_grid(path, PARAMS)
        keys = {key for exp in grid.experiments() for key, _ in exp.overrides}
        assert "data.dataset" in keys and not any(k.startswith("data.source") for k in keys), path
    for text in [p.read_text() for p in GRIDS] + [(REPO / "README.md").read_text()]:
        assert "shared/datasets" not in text and "data.source=" not in text


def test_every_tuned_row_of_a_committed_grid_finds_its_tuning() -> None:
    # A `tuned: true` row whose model has no entry in its tuned file would run untuned.
    for path in GRIDS:
        raw = yaml.safe_load(path.read_text())
        asked = {row for row, o in raw["rows"].items() if (o or {}).get("tuned")}
        assert asked <= set(load_grid(path, PARAMS).tuned), path
