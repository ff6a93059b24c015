"""The tuning convergence report: running best, best trial, gains, read from a real study."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from zsbir.experiments.convergence import (FAILED_ATTR, Convergence, convergence_frame, study_values,
                                           write_convergence)

VALUES = (math.nan, 0.20, 0.15, 0.31, math.nan, 0.31, 0.29, 0.40, 0.12)


def _running_best_by_hand(values):
    out, best = [], None
    for v in values:
        if not math.isnan(v) and (best is None or v > best):
            best = v
        out.append(math.nan if best is None else best)
    return out


def test_running_best_skips_failed_trials_and_the_best_trial_is_the_first_to_reach_it():
    s = Convergence("m", VALUES)
    expected = _running_best_by_hand(VALUES)
    got = list(s.running_best)
    assert math.isnan(got[0]) and got[1:] == expected[1:]
    assert s.best == 0.40 and s.best_trial == 8
    tie = Convergence("t", (0.1, 0.3, 0.3))
    assert tie.best_trial == 2  # the first trial that reached the best
    assert s.best_at(4) == 0.31 and s.best_at(7) == 0.31 and math.isnan(s.best_at(10))
    assert Convergence("none", (math.nan, math.nan)).best_trial == 0


def test_the_frame_gives_what_the_trials_after_each_budget_bought():
    frame = convergence_frame([Convergence("m", VALUES), Convergence("flat", (0.5, 0.4, 0.3))],
                              budgets=(4, 8))
    m = frame.set_index("model")
    assert m.loc["m", "gain_after_4"] == pytest.approx(0.40 - 0.31)
    assert m.loc["m", "gain_after_8"] == 0.0
    assert m.loc["flat", "best_trial"] == 1
    assert math.isnan(m.loc["flat", "gain_after_4"])  # a budget past the study: no gain to give


def test_values_come_from_the_optuna_study_in_trial_order(tmp_path):
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="tune-m", storage=storage, direction="maximize")
    scripted = iter([0.2, None, 0.5, 0.1])

    def objective(trial):
        v = next(scripted)
        if v is None:  # the objective's own failure, as zsbir.experiments.tune marks it
            trial.set_user_attr(FAILED_ATTR, "a failed trial")
            raise ValueError("a failed trial")
        return v

    study.optimize(objective, n_trials=4, catch=(ValueError,))
    study.ask()  # a trial left running (its process killed): no result yet
    values = study_values(storage, "tune-m")
    assert len(values) == 4
    assert values[0] == 0.2 and math.isnan(values[1]) and values[2:] == (0.5, 0.1)
    paths = write_convergence([Convergence("m", values)], tmp_path / "out", budgets=(2,))
    table = pd.read_csv(paths["convergence.csv"])
    assert table.loc[0, "best_trial"] == 3 and table.loc[0, "gain_after_2"] == pytest.approx(0.3)
    trials = pd.read_csv(paths["trials.csv"])
    assert list(trials["running_best"]) == [0.2, 0.2, 0.5, 0.5]
    assert "| `m` | 4 | 0.5000 | 3 | 0.2000 | +0.3000 |" in paths["convergence.md"].read_text()
    assert paths["convergence.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_configuration_counts_and_a_killed_trial_does_not() -> None:
    """NaN for a trial whose objective failed (it carries FAILED_ATTR); nothing for one
    failed by a killed process, or still running."""
    import optuna
    from optuna.trial import TrialState

    from zsbir.experiments.convergence import FAILED_ATTR, counted_trials, trial_values

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.tell(study.ask(), 0.25)
    failed = study.ask()
    failed.set_user_attr(FAILED_ATTR, "'align' is nan at epoch 2")
    study.tell(failed, state=TrialState.FAIL)
    study.tell(study.ask(), state=TrialState.FAIL)  # its process killed, marked on resume
    study.ask()                                     # still running
    study.tell(study.ask(), 0.5)
    assert [t.number for t in counted_trials(study.trials)] == [0, 1, 4]
    values = trial_values(study.trials)
    assert values[0] == 0.25 and math.isnan(values[1]) and values[2] == 0.5
