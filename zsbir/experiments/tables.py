"""Comparison and ablation tables: mean ± std over seeds, in Markdown and LaTeX (booktabs).

For each table row (a grid row) and metric the cell is ``mean ± std`` over that row's
seeds, std the sample standard deviation (ddof = 1; shown only with 2+ seeds). The best
mean of each metric column is bold (every row that ties it, after rounding to the shown
digits). ``Δ mAP@all`` is each row's mean minus the first (reference) row's mean.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from zsbir.experiments.collect import METRICS

LABELS = {"map_all": "mAP@all", "p_100": "P@100", "map_200": "mAP@200", "p_200": "P@200"}
DIGITS = 3


def summarise(results: pd.DataFrame, rows: Sequence[str]) -> pd.DataFrame:
    """Per row: ``<metric>_mean``, ``<metric>_std``, ``n_seeds``, ``seeds``, ``delta_map_all``.

    ``results`` has one line per (row, seed) with the :data:`METRICS` columns; rows of
    ``rows`` without results are kept with ``n_seeds`` 0 and NaN metrics.
    """
    records = []
    for row in rows:
        sel = results[results["row"] == row]
        rec: dict[str, object] = {"row": row, "n_seeds": len(sel),
                                  "seeds": " ".join(str(s) for s in sorted(sel["seed"]))}
        for m in METRICS:
            values = sel[m].to_numpy(dtype=np.float64)
            rec[f"{m}_mean"] = values.mean() if len(values) else np.nan
            rec[f"{m}_std"] = values.std(ddof=1) if len(values) > 1 else np.nan
        records.append(rec)
    table = pd.DataFrame.from_records(records)
    table["delta_map_all"] = table["map_all_mean"] - table["map_all_mean"].iloc[0]
    return table


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


def markdown_table(table: pd.DataFrame, caption: str) -> str:
    """A GitHub Markdown table of :func:`summarise` output, caption first."""
    header = ["", *(LABELS[m] for m in METRICS), f"Δ mAP@all vs {table['row'].iloc[0]}", "seeds"]
    lines = [f"{caption} Mean ± sample std over {_seeds_note(table)} seeds; best in bold.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {m: _best(table, m) for m in METRICS}
    for i, r in table.iterrows():
        cells = [f"`{r['row']}`"]
        for m in METRICS:
            cell = _cell(r[f"{m}_mean"], r[f"{m}_std"], " ± ")
            cells.append(f"**{cell}**" if best[m][i] else cell)
        cells += [_delta(r["delta_map_all"], i == 0), str(r["n_seeds"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def latex_table(table: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs ``table`` environment of :func:`summarise` output."""
    best = {m: _best(table, m) for m in METRICS}
    ref = _latex_escape(str(table["row"].iloc[0]))
    head = " & ".join(["Method", *(LABELS[m] for m in METRICS),
                       rf"$\Delta$ mAP@all vs {ref}", "Seeds"])
    body = []
    for i, r in table.iterrows():
        cells = [_latex_escape(str(r["row"]))]
        for m in METRICS:
            cell = _cell(r[f"{m}_mean"], r[f"{m}_std"], r" $\pm$ ")
            cells.append(rf"\textbf{{{cell}}}" if best[m][i] else cell)
        cells += [_delta(r["delta_map_all"], i == 0).replace("–", "--"), str(r["n_seeds"])]
        body.append(" & ".join(cells).replace("–", "--") + r" \\")
    note = f"Mean $\\pm$ sample std over {_seeds_note(table)} seeds; best in bold."
    return "\n".join([
        r"\begin{table}[t]", r"\centering",
        rf"\caption{{{_latex_escape(caption)} {note}}}", rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "c" * (len(METRICS) + 2) + "}", r"\toprule", head + r" \\",
        r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}", "",
    ])


def _latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in row labels and captions (no backslashes there)."""
    for char in ("&", "%", "$", "#", "_"):
        text = text.replace(char, "\\" + char)
    return text
