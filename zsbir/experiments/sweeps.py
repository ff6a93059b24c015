"""One table over a grid's tables: the same models at several levels of one quantity.

A grid's ``sweep:`` (e.g. ``experiments/splits.yaml``: one table per class split;
``experiments/learning-curve.yaml``: one per number of train photos per class) names the
tables that are its levels and the models, in table-row order; the first model is the
reference. Per level and model the sweep reports mAP@all over seeds (mean, Student-t 95 %
CI) and the gap ``reference - model`` over the level's unseen classes: the mean of the
per-class differences d_k = AP_ref,k - AP_model,k (each AP averaged over seeds), its t CI
over classes and the paired sign-flip p-value (:mod:`zsbir.experiments.significance`),
Holm-adjusted over the level's models.

Pooled over the L levels, per model: the mean of the level means with a t CI over levels;
the mean gap with a t CI over levels; ``wins``, the levels where the gap is positive (the
reference's mean class AP is higher); ``p_split``, the sign-flip test whose unit is the level (the L level gaps, an
exact test over 2^L signs); ``p_class``, the sign-flip test over every (level, class)
difference; both Holm-adjusted over the models. With numeric levels (a learning curve),
``gap_slope`` is the least-squares slope of the level gaps on the level value, with its
t CI (L - 2 degrees of freedom; ``scipy.stats.linregress``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy import stats

from zsbir.evaluate.figures import new_figure, save_figure
from zsbir.experiments.grid import Sweep
from zsbir.experiments.significance import holm, sign_flip_test, t_interval
from zsbir.experiments.tables import latex_escape

POOLED = "pooled"
LEVEL = 0.95


def sweep_summary(
    sweep: Sweep,
    tables: Mapping[str, tuple[str, ...]],
    results: pd.DataFrame,
    per_class: pd.DataFrame,
) -> pd.DataFrame:
    """One line per (level, model) and per (``pooled``, model); columns in the module doc.

    ``results``: one line per (row, seed) with ``map_all``; ``per_class``: one line per
    (row, seed, class) with ``ap``.
    """
    ap = per_class.groupby(["row", "class"])["ap"].mean() if len(per_class) else pd.Series(
        dtype=float)
    lines, diffs = [], {m: [] for m in sweep.models}  # model -> per-level class differences
    for level, x in sweep.levels.items():
        rows = tables[level]
        ref_ap = ap.get(rows[0], pd.Series(dtype=float))
        level_lines = []
        for model, row in zip(sweep.models, rows):
            seeds = results.loc[results["row"] == row, "map_all"].to_numpy(np.float64)
            low, high = t_interval(seeds, LEVEL)
            line = {"level": level, "x": x, "model": model, "row": row, "n_seeds": len(seeds),
                    "map_all_mean": seeds.mean() if len(seeds) else np.nan,
                    "ci95_low": low, "ci95_high": high}
            mine = ap.get(row, pd.Series(dtype=float))
            common = sorted(set(ref_ap.index) & set(mine.index))
            line["n_classes"] = len(common)
            if model != sweep.models[0] and common:
                d = ref_ap[common].to_numpy() - mine[common].to_numpy()  # (K,)
                diffs[model].append(d)
                line["gap"] = d.mean()
                line["gap_ci95_low"], line["gap_ci95_high"] = t_interval(d, LEVEL)
                line["p_value"] = sign_flip_test(ref_ap[common].to_numpy(), mine[common].to_numpy())
            level_lines.append(line)
        frame = pd.DataFrame(level_lines)
        frame["p_holm"] = holm(frame.get("p_value", pd.Series(np.nan, index=frame.index)).to_numpy())
        lines += frame.to_dict("records")
    table = pd.DataFrame(lines)
    pooled = [_pooled(sweep, table[table["model"] == m], diffs[m], m) for m in sweep.models]
    pooled_frame = pd.DataFrame(pooled)
    for column in ("p_split", "p_class"):
        pooled_frame[f"{column}_holm"] = holm(pooled_frame[column].to_numpy())
    return pd.concat([table, pooled_frame], ignore_index=True)


def _pooled(sweep: Sweep, levels: pd.DataFrame, diffs: list[np.ndarray], model: str) -> dict:
    """The pooled line of one model over its levels' lines."""
    means = levels["map_all_mean"].dropna().to_numpy(np.float64)  # (L,)
    low, high = t_interval(means, LEVEL)
    line = {"level": POOLED, "model": model, "n_levels": len(means),
            "map_all_mean": means.mean() if len(means) else np.nan,
            "ci95_low": low, "ci95_high": high, "p_split": np.nan, "p_class": np.nan}
    if model == sweep.models[0] or not diffs:
        return line
    gaps = levels["gap"].to_numpy(np.float64)  # (L,) one per level with per-class AP
    gaps = gaps[~np.isnan(gaps)]
    line["gap"] = gaps.mean()
    line["gap_ci95_low"], line["gap_ci95_high"] = t_interval(gaps, LEVEL)
    line["wins"] = int((gaps > 0).sum())
    line["p_split"] = sign_flip_test(gaps, np.zeros_like(gaps))
    pairs = np.concatenate(diffs)  # (sum_l K_l,)
    line["p_class"] = sign_flip_test(pairs, np.zeros_like(pairs))
    if sweep.numeric and len(gaps) > 2:
        x = levels.dropna(subset=["gap"])["x"].to_numpy(np.float64)
        fit = stats.linregress(x, gaps)
        half = stats.t.ppf(0.5 + LEVEL / 2, len(gaps) - 2) * fit.stderr
        line.update(gap_slope=fit.slope, gap_slope_ci95_low=fit.slope - half,
                    gap_slope_ci95_high=fit.slope + half)
    return line


def _num(value: float, digits: int = 3) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _interval(line: pd.Series, prefix: str) -> str:
    low, high = line.get(f"{prefix}ci95_low"), line.get(f"{prefix}ci95_high")
    return "" if pd.isna(low) else f" [{_num(low)}, {_num(high)}]"


def _p(value: float) -> str:
    return "–" if pd.isna(value) else (f"{value:.2g}" if value >= 1e-3 else f"{value:.0e}")


def _cells(sweep: Sweep, summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the sweep table (levels, then the pooled lines)."""
    ref = sweep.models[0]
    head = [sweep.label, "model", "mAP@all [95 % CI]", f"{ref} − model [95 % CI]", "p",
            "p Holm", f"{ref} wins", "p split (Holm)", "p class (Holm)"]
    rows = []
    for _, r in summary.iterrows():
        pooled = r["level"] == POOLED
        level = r["level"] if pooled or str(r["x"]) == r["level"] else f"{r['level']} ({r['x']})"
        cells = [level, r["model"],
                 _num(r["map_all_mean"]) + _interval(r, ""),
                 "" if pd.isna(r.get("gap")) else _num(r["gap"]) + _interval(r, "gap_")]
        if pooled:
            tested = not pd.isna(r.get("p_split"))
            cells += ["", "", f"{int(r['wins'])}/{int(r['n_levels'])}" if tested else "",
                      f"{_p(r['p_split'])} ({_p(r['p_split_holm'])})" if tested else "",
                      f"{_p(r['p_class'])} ({_p(r['p_class_holm'])})" if tested else ""]
        else:
            cells += [_p(r.get("p_value")), _p(r.get("p_holm")), "", "", ""]
        rows.append(cells)
    return head, rows


def _notes(sweep: Sweep, summary: pd.DataFrame,
           classes: Mapping[str, list[str]] | None) -> list[str]:
    """Each model's trend (numeric levels) and each level's unseen classes (if they differ)."""
    notes = []
    if "gap_slope" in summary:
        for _, r in summary[summary["gap_slope"].notna()].iterrows():
            notes.append(f"Trend of {sweep.models[0]} − {r['model']} per unit of {sweep.label}: "
                         f"{r['gap_slope']:+.4f} [{r['gap_slope_ci95_low']:+.4f}, "
                         f"{r['gap_slope_ci95_high']:+.4f}] (least-squares slope over the levels).")
    if classes and len({tuple(v) for v in classes.values()}) > 1:
        notes += [f"Unseen classes of {level}: {', '.join(names)}." for level, names in classes.items()]
    return notes


def markdown_sweep(sweep: Sweep, summary: pd.DataFrame, caption: str,
                   classes: Mapping[str, list[str]] | None = None) -> str:
    """The sweep table in Markdown, with its notes."""
    head, rows = _cells(sweep, summary)
    lines = [caption, "", "| " + " | ".join(head) + " |",
             "|---|---|---|---|" + "---:|" * (len(head) - 4)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [f"\n{note}" for note in _notes(sweep, summary, classes)]
    return "\n".join(lines) + "\n"


def latex_sweep(sweep: Sweep, summary: pd.DataFrame, caption: str, label: str,
                classes: Mapping[str, list[str]] | None = None) -> str:
    """The sweep table in LaTeX (booktabs), its notes below it."""
    head, rows = _cells(sweep, summary)
    esc = latex_escape
    body = [" & ".join(esc(c) for c in r) + r" \\" for r in rows]
    notes = "".join(f"\\par\\footnotesize {esc(n)}\n" for n in _notes(sweep, summary, classes))
    return ("\\begin{table}[t]\n\\centering\n\\small\n"
            f"\\caption{{{esc(caption)}}}\\label{{{label}}}\n"
            f"\\begin{{tabular}}{{ll{'r' * (len(head) - 2)}}}\n\\toprule\n"
            + " & ".join(esc(h) for h in head) + " \\\\\n\\midrule\n"
            + "\n".join(body) + "\n\\bottomrule\n\\end{tabular}\n" + notes
            + "\\end{table}\n")


def level_classes(sweep: Sweep, tables: Mapping[str, tuple[str, ...]],
                  per_class: pd.DataFrame) -> dict[str, list[str]]:
    """``{level: its unseen classes}``, read off the reference row's per-class AP."""
    out = {}
    for level in sweep.levels:
        mine = per_class[per_class["row"] == tables[level][0]] if len(per_class) else per_class
        out[level] = sorted(set(mine["class"])) if len(mine) else []
    return out


def plot_sweep(sweep: Sweep, summary: pd.DataFrame, path: Path) -> None:
    """mAP@all per level and model (95 % CI bars), and the reference's gap to each model."""
    levels = summary[summary["level"] != POOLED]
    order = list(sweep.levels)
    x = np.array([sweep.levels[lv] if sweep.numeric else i for i, lv in enumerate(order)], float)
    fig = new_figure((10, 3.8))
    left, right = fig.subplots(1, 2)
    style = {"linestyle": "-" if sweep.numeric else "none", "marker": "o", "capsize": 3}
    dodge = 0.0 if sweep.numeric else 0.08  # categorical levels: models side by side
    for i, model in enumerate(sweep.models):
        mine = levels[levels["model"] == model].set_index("level").reindex(order)
        shift = x + dodge * (i - (len(sweep.models) - 1) / 2)
        _bars(left, shift, mine, "", label=model, color=f"C{i}", **style)
        if i:  # the reference's gap to itself is 0
            _bars(right, shift, mine, "gap_", label=model, color=f"C{i}", **style)
    right.axhline(0.0, color="grey", linewidth=0.8)
    titles = ("mAP@all (95 % CI over seeds)", f"{sweep.models[0]} − model (95 % CI over classes)")
    for ax, title in zip((left, right), titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(sweep.label)
        if not sweep.numeric:
            ax.set_xticks(range(len(order)), order, rotation=30)
        ax.legend(fontsize=8)
    save_figure(fig, path)


def _bars(ax: Axes, x: np.ndarray, lines: pd.DataFrame, prefix: str, **style: Any) -> None:
    """Points with CI bars: mAP@all (``prefix`` "") or the gap (``"gap_"``) per level."""
    y = lines["map_all_mean" if not prefix else "gap"].to_numpy(float)  # (L,)
    err = np.vstack([y - lines[f"{prefix}ci95_low"].to_numpy(float),
                     lines[f"{prefix}ci95_high"].to_numpy(float) - y])  # (2, L)
    ax.errorbar(x, y, yerr=np.nan_to_num(err), **style)
