"""Comparison and ablation tables: mean ± std over seeds, in Markdown and LaTeX (booktabs).

For each table row (a grid row) and metric the cell is ``mean ± std`` over that row's
seeds, std the sample standard deviation (ddof = 1; shown only with 2+ seeds). The best
mean of each metric column is bold (every row that ties it, after rounding to the shown
digits). ``Δ mAP@all`` is each row's mean minus the first (reference) row's mean.
``95 % CI`` is the Student-t interval of the mAP@all mean over seeds; ``p`` the paired
sign-flip test of the row against the reference row over the unseen classes' AP, each
class's AP first averaged over the row's seeds (:mod:`zsbir.experiments.significance`);
``p Holm`` the same p-values Holm-adjusted over the table's rows; a dagger marks
p Holm < 0.05. When the runs also scored
the generalized setting (``eval.also_generalized``), a second column group ``GZS`` holds
the same numbers for it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from zsbir.experiments.collect import METRICS
from zsbir.experiments.significance import holm, paired_p_values, t_interval
from zsbir.schema import GZS
from zsbir.schema import TABLE_METRICS as LABELS

DIGITS = 3
ALPHA = 0.05
DAGGER = "†"


def summarise(
    results: pd.DataFrame, rows: Sequence[str], per_class: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per row: ``<metric>_mean``, ``<metric>_std``, ``n_seeds``, ``seeds``, ``delta_map_all``,
    ``ci95_low``, ``ci95_high``, ``p_value``, ``p_holm`` (and the ``gzs_`` versions of all).

    ``results`` has one line per (row, seed) with the :data:`METRICS` columns (``gzs_*``
    optional); ``per_class`` one line per (row, seed, class) with ``ap`` (and ``ap_gzs``).
    Rows of ``rows`` without results are kept with ``n_seeds`` 0 and NaN metrics. The
    reference of ``delta`` and ``p_value`` is the first row.
    """
    records = []
    for row in rows:
        sel = results[results["row"] == row]
        rec: dict[str, object] = {"row": row, "n_seeds": len(sel),
                                  "seeds": " ".join(str(s) for s in sorted(sel["seed"]))}
        for prefix in ("", GZS):
            for m in METRICS:
                col = f"{prefix}{m}"
                values = (sel[col] if col in sel else pd.Series(dtype=float)).to_numpy(np.float64)
                values = values[~np.isnan(values)]
                rec[f"{col}_mean"] = values.mean() if len(values) else np.nan
                rec[f"{col}_std"] = values.std(ddof=1) if len(values) > 1 else np.nan
                if m == "map_all":
                    rec[f"{prefix}ci95_low"], rec[f"{prefix}ci95_high"] = t_interval(values)
        records.append(rec)
    table = pd.DataFrame.from_records(records)
    for prefix, ap in (("", "ap"), (GZS, "ap_gzs")):
        table[f"{prefix}delta_map_all"] = (
            table[f"{prefix}map_all_mean"] - table[f"{prefix}map_all_mean"].iloc[0]
        )
        p = paired_p_values(_class_means(per_class, ap), list(rows), rows[0])
        table[f"{prefix}p_value"] = [p[r] for r in rows]
        table[f"{prefix}p_holm"] = holm(table[f"{prefix}p_value"].to_numpy())
    return table


def has_gzs(table: pd.DataFrame) -> bool:
    """Whether any row has generalized-setting results."""
    return bool(table[f"{GZS}map_all_mean"].notna().any())


def _class_means(per_class: pd.DataFrame | None, column: str) -> dict[str, dict[str, float]]:
    """``{row: {class: AP averaged over the row's seeds}}`` from the per-class table."""
    if per_class is None or column not in per_class or per_class.empty:
        return {}
    frame = per_class.dropna(subset=[column])
    means = frame.groupby(["row", "class"])[column].mean()
    out: dict[str, dict[str, float]] = {}
    for (row, cls), value in means.items():
        out.setdefault(str(row), {})[str(cls)] = float(value)
    return out


def _best(table: pd.DataFrame, metric: str) -> np.ndarray:
    """(R,) bool: rows whose rounded mean equals the column's best rounded mean."""
    means = table[f"{metric}_mean"].round(DIGITS)
    return (means == means.max()).to_numpy() & means.notna().to_numpy()


def _cell(mean: float, std: float, pm: str) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean:.{DIGITS}f}" if np.isnan(std) else f"{mean:.{DIGITS}f}{pm}{std:.{DIGITS}f}"


def _delta(value: float, first: bool) -> str:
    return "–" if first or np.isnan(value) else f"{value:+.{DIGITS}f}"


def _seeds_note(table: pd.DataFrame) -> str:
    counts = sorted(set(table["n_seeds"]))
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def _ci(low: float, high: float) -> str:
    return "–" if np.isnan(low) else f"[{low:.{DIGITS}f}, {high:.{DIGITS}f}]"


def _p(value: float) -> str:
    if np.isnan(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _significant(r: pd.Series, prefix: str = "") -> bool:
    p = r[f"{prefix}p_holm"]
    return bool(not np.isnan(p) and p < ALPHA)


def _stats_note(table: pd.DataFrame) -> str:
    ref = table["row"].iloc[0]
    return (f" 95 % CI: Student-t interval of the mAP@all mean over seeds. p: two-sided "
            f"paired sign-flip test vs {ref} over the unseen classes (per-class AP averaged "
            f"over seeds); p Holm: Holm-adjusted over the table's rows; {DAGGER} p Holm < "
            f"{ALPHA}.")


def _group_cells(table: pd.DataFrame, i: int, r: pd.Series, prefix: str, bold: str,
                 pm: str) -> list[str]:
    """The metric, Δ, CI and p cells of one column group (``prefix`` '' or 'gzs_')."""
    cells = []
    for m in METRICS:
        cell = _cell(r[f"{prefix}{m}_mean"], r[f"{prefix}{m}_std"], pm)
        cells.append(bold.format(cell) if _best(table, prefix + m)[i] else cell)
    return cells + [_delta(r[f"{prefix}delta_map_all"], i == 0),
                    _ci(r[f"{prefix}ci95_low"], r[f"{prefix}ci95_high"]),
                    _p(r[f"{prefix}p_value"]), _p(r[f"{prefix}p_holm"])]


def markdown_table(table: pd.DataFrame, caption: str) -> str:
    """A GitHub Markdown table of :func:`summarise` output, caption first."""
    ref = table["row"].iloc[0]
    group = [*(LABELS[m] for m in METRICS), f"Δ mAP@all vs {ref}", "95 % CI", f"p vs {ref}",
             "p Holm"]
    gzs = has_gzs(table)
    header = ["", *group, "seeds", *([f"GZS {h}" for h in group] if gzs else [])]
    lines = [f"{caption} Mean ± sample std over {_seeds_note(table)} seeds; best in bold."
             f"{_stats_note(table)}" + (" GZS: generalized setting (gallery + seen-class "
                                          "photos)." if gzs else ""), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, r in table.iterrows():
        dagger = DAGGER if _significant(r) else ""
        cells = [f"`{r['row']}`{dagger}", *_group_cells(table, i, r, "", "**{}**", " ± ")]
        cells.insert(1 + len(group), str(r["n_seeds"]))
        if gzs:
            cells += _group_cells(table, i, r, GZS, "**{}**", " ± ")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def latex_table(table: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs ``table`` environment of :func:`summarise` output."""
    ref = latex_escape(str(table["row"].iloc[0]))
    group = [*(LABELS[m] for m in METRICS), rf"$\Delta$ mAP@all vs {ref}", r"95\,\% CI",
             f"$p$ vs {ref}", r"$p_\mathrm{Holm}$"]
    gzs = has_gzs(table)
    n = len(group)
    head = " & ".join(["Method", *group, "Seeds", *(group if gzs else [])]) + r" \\"
    top = []
    if gzs:  # column groups: ZS-SBIR | seeds | generalized ZS-SBIR
        top = [rf" & \multicolumn{{{n}}}{{c}}{{ZS-SBIR}} & & \multicolumn{{{n}}}{{c}}"
               rf"{{Generalized ZS-SBIR}} \\",
               rf"\cmidrule(lr){{2-{n + 1}}} \cmidrule(lr){{{n + 3}-{2 * n + 2}}}"]
    body = []
    for i, r in table.iterrows():
        name = latex_escape(str(r["row"])) + (r"$^\dagger$" if _significant(r) else "")
        cells = [name, *_group_cells(table, i, r, "", r"\textbf{{{}}}", r" $\pm$ "),
                 str(r["n_seeds"])]
        if gzs:
            cells += _group_cells(table, i, r, GZS, r"\textbf{{{}}}", r" $\pm$ ")
        body.append(" & ".join(cells).replace("–", "--").replace("<", "$<$") + r" \\")
    note = (f"Mean $\\pm$ sample std over {_seeds_note(table)} seeds; best in bold."
            + latex_escape(_stats_note(table)).replace(DAGGER, r"$^\dagger$")
            .replace("<", "$<$"))
    cols = "l" + "c" * (n + 1) + ("c" * n if gzs else "")
    return "\n".join([
        r"\begin{table}[t]", r"\centering",
        rf"\caption{{{latex_escape(caption)} {note}}}", rf"\label{{{label}}}",
        r"\begin{tabular}{" + cols + "}", r"\toprule", *top, head,
        r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}", "",
    ])


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in row labels and captions (no backslashes there)."""
    for char in ("&", "%", "$", "#", "_"):
        text = text.replace(char, "\\" + char)
    return text
