"""Optuna tuning: search-space checks, nested MLflow runs, fresh checkpoints, no unseen data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from zsbir.config import ConfigError
from zsbir.experiments import tune as tune_mod
from zsbir.experiments.tune import load_search_space, tune
from zsbir.experiments.tuned import read_tuned, write_tuned
from zsbir.io import read_vectors, write_vectors
from zsbir.split.assign import assign_items, random_unseen, subsample_train
from zsbir.train.data import load_training_data
from toy import make_toy_dataset

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
SPACE = """train.lr_g: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
model.hidden: {type: categorical, choices: [8, 16]}
model.embed_dim: {type: int, low: 4, high: 8, step: 4}
"""
BASE = {**PARAMS, "train": {**PARAMS["train"], "batch_size": 16, "device": "cpu"}}


@pytest.mark.parametrize("model", ["raw", "semantic-regression", "twotower", "cvae", "cvaegan"])
def test_committed_search_spaces_are_valid(model: str) -> None:
    space = load_search_space(REPO / "experiments" / "search" / f"{model}.yaml", PARAMS)
    assert (len(space) == 0) == (model == "raw")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.lr_gg: {type: float, low: 0.1, high: 1.0}", "train.lr_gg"),
        ("train.epochs: {type: int, low: 1, high: 5}", "train.epochs"),
        ("split.n_unseen: {type: int, low: 1, high: 5}", "split.n_unseen"),
        ("train.lr_g: {type: float, low: 1.0, high: 0.1}", "low < high"),
        ("model.twotower_classifier: {type: categorical, choices: [learned, nope]}", "nope"),
        ("train.lr_g: {type: gauss}", "type must be"),
    ],
)
def test_bad_search_space_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "s.yaml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_search_space(tmp_path / "s.yaml", PARAMS)
    assert "s.yaml" in str(err.value)


def _write_toy(root: Path, poison: bool) -> Path:
    """The toy dataset; with ``poison`` every unseen-class feature and x_sem row is NaN."""
    toy = make_toy_dataset(n_seen=5, n_unseen=3, photos_per_class=8, dim=12, sem_dim=6, seed=2)
    toy.write(root)
    if poison:
        data = root / "data"
        test_ids = set(toy.split.loc[toy.split["split"] == "test", "id"])
        for domain in ("photo", "sketch"):
            meta, x = read_vectors(data / "pca" / f"{domain}.parquet")
            x = x.copy()
            x[meta["id"].isin(test_ids).to_numpy()] = np.nan
            write_vectors(data / "pca" / f"{domain}.parquet", x, {"id": meta["id"]})
        meta, x_sem = read_vectors(data / "classes.parquet")
        x_sem = x_sem.copy()
        x_sem[(meta["split"] != "seen").to_numpy()] = np.nan
        write_vectors(data / "classes.parquet", x_sem, {c: meta[c] for c in meta})
    return root / "data"


def _load(data: Path):
    return load_training_data(data / "pca", split_path=data / "split.parquet", classes_path=data / "classes.parquet",
                              manifest_path=data / "manifest.parquet")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stores")


def _tune(data: Path, store: Path, name: str, space_path: Path, model: str = "twotower",
          n_trials: int = 2, resume: bool = False):
    space = load_search_space(space_path, BASE)
    return tune(model, BASE, _load(data), space, n_trials=n_trials, epochs=1,
                storage=f"sqlite:///{store / (name + '.db')}",
                tracking_uri=f"sqlite:///{store / 'mlflow.db'}", resume=resume)


def test_unseen_classes_never_reach_tuning(tmp_path: Path, store: Path, monkeypatch) -> None:
    """Poisoning every unseen-class row with NaN changes nothing: they are never read."""
    (tmp_path / "s.yaml").write_text(SPACE)
    clean = _write_toy(tmp_path / "clean", poison=False)
    poisoned = _write_toy(tmp_path / "poisoned", poison=True)
    assert np.isnan(read_vectors(poisoned / "pca" / "photo.parquet")[1]).any()
    checkpoints: list[Path] = []
    real_fit = tune_mod.fit_params

    def spy(data, params, paths, **kwargs):
        assert not paths.checkpoint.exists() and paths.checkpoint not in checkpoints
        checkpoints.append(paths.checkpoint)
        return real_fit(data, params, paths, **kwargs)

    monkeypatch.setattr(tune_mod, "fit_params", spy)
    a = _tune(clean, store, "clean", tmp_path / "s.yaml")
    b = _tune(poisoned, store, "poisoned", tmp_path / "s.yaml")
    assert a.values == b.values and a.best == b.best and all(np.isfinite(a.values))
    assert len(set(checkpoints)) == 4 and not any(p.exists() for p in checkpoints)  # tmp, gone
    assert set(a.best.params) == {"train.lr_g", "model.hidden", "model.embed_dim"}
    assert a.best.val_map == max(a.values) and (a.best.n_trials, a.best.epochs) == (2, 1)


def test_study_and_nested_mlflow_runs(tmp_path: Path, store: Path) -> None:
    import mlflow
    import optuna

    (tmp_path / "s.yaml").write_text(SPACE)
    data = _write_toy(tmp_path / "d", poison=False)
    first = _tune(data, store, "study", tmp_path / "s.yaml")
    again = _tune(data, store, "study", tmp_path / "s.yaml")  # replaced, same seed: same
    assert first.values == again.values
    study = optuna.load_study(study_name="tune-twotower",
                              storage=f"sqlite:///{store / 'study.db'}")
    assert len(study.trials) == 2 and study.best_value == first.best.val_map
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["zsbir"], output_format="list")
    parents = [r for r in runs if r.data.tags.get("zsbir.kind") == "tune"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 2 and all("val_map" in r.data.metrics for r in children)


def test_resume_continues_the_study_and_skips_trials_left_running(tmp_path: Path, store: Path) -> None:
    """A resumed study keeps its trials, fails a trial an interrupted process left running
    (not counted), and runs only up to n_trials finished ones; without resume it restarts."""
    import optuna
    from optuna.trial import TrialState

    (tmp_path / "s.yaml").write_text(SPACE)
    data = _write_toy(tmp_path / "d", poison=False)
    first = _tune(data, store, "resume", tmp_path / "s.yaml")
    storage = f"sqlite:///{store / 'resume.db'}"
    optuna.load_study(study_name="tune-twotower", storage=storage).ask()  # a killed trial
    resumed = _tune(data, store, "resume", tmp_path / "s.yaml", n_trials=3, resume=True)
    states = [t.state for t in optuna.load_study(study_name="tune-twotower", storage=storage).trials]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.FAIL, TrialState.COMPLETE]
    assert len(resumed.values) == 3 and resumed.values[:2] == first.values  # the killed one
    assert all(np.isfinite(resumed.values))                                # is not counted
    assert resumed.best.val_map == max(resumed.values) and resumed.best.n_trials == 3
    again = _tune(data, store, "resume", tmp_path / "s.yaml", n_trials=3, resume=True)
    assert again.values == resumed.values  # already 3 counted trials: nothing runs
    restarted = _tune(data, store, "resume", tmp_path / "s.yaml")
    assert restarted.values == first.values  # replaced: the same seeded search again


def test_tuned_file_round_trip_keeps_other_models(tmp_path: Path) -> None:
    from zsbir.experiments.tuned import Tuned

    path = tmp_path / "tuned.yaml"
    write_tuned(path, "cvae", Tuned(3, 2, 0, 0.25, "abc", {"train.lr_g": 0.01}))
    write_tuned(path, "twotower", Tuned(3, 2, 0, 0.5, "abc", {"model.hidden": 64}))
    got = read_tuned(path)
    assert set(got) == {"cvae", "twotower"} and got["cvae"].params == {"train.lr_g": 0.01}
    assert read_tuned(tmp_path / "absent.yaml") == {}
    assert read_tuned(REPO / "experiments" / "tuned.yaml") is not None


def test_a_random_split_keeps_its_unseen_and_unused_items_out_of_training_and_tuning(
    tmp_path: Path, store: Path
) -> None:
    """A split drawn by split.seed (random, as the splits grid does) with
    split.train_per_class: NaN in every one of its unseen-class and unused rows changes no
    trial, and no such item is in what training loads."""
    (tmp_path / "s.yaml").write_text(SPACE)
    toy = make_toy_dataset(n_seen=5, n_unseen=3, photos_per_class=8, dim=12, sem_dim=6, seed=2)
    unseen = random_unseen(toy.class_meta["class"], 3, seed=11)
    assert set(unseen) != set(toy.class_meta.loc[toy.class_meta["split"] == "unseen", "class"])
    items = subsample_train(assign_items(toy.manifest, unseen, 0.2, seed=11), toy.manifest, 3, 11)
    kept_out = set(items.loc[items["split"].isin(["test", "unused"]), "id"])
    assert (items["split"] == "unused").any()
    meta = toy.class_meta.assign(split=np.where(toy.class_meta["class"].isin(unseen), "unseen", "seen"))
    roots = {}
    for name, poison in (("clean", False), ("poisoned", True)):
        features = {}
        for domain, (ids, x) in toy.features.items():
            x = x.copy()
            if poison:
                x[ids["id"].isin(kept_out).to_numpy()] = np.nan
            features[domain] = (ids, x)
        x_sem = toy.x_sem.copy()
        if poison:
            x_sem[meta["class"].isin(unseen).to_numpy()] = np.nan
        replace(toy, split=items, class_meta=meta, features=features, x_sem=x_sem).write(tmp_path / name)
        roots[name] = tmp_path / name / "data"
    loaded = _load(roots["poisoned"])
    seen_ids = {i for part in (loaded.photo_train, loaded.sketch_train, loaded.photo_val,
                               loaded.sketch_val) for i in part.ids}
    assert seen_ids and not seen_ids & kept_out and not set(loaded.classes) & set(unseen)
    a = _tune(roots["clean"], store, "random-clean", tmp_path / "s.yaml")
    b = _tune(roots["poisoned"], store, "random-poisoned", tmp_path / "s.yaml")
    assert a.values == b.values and all(np.isfinite(a.values))
