"""The split report (computed overlap split vs. the published one) and its metrics."""

from __future__ import annotations

from typing import Any

import pandas as pd

from zsbir.config import SplitConfig
from zsbir.schema import DOMAINS, SPLITS


def split_metrics(classes: pd.DataFrame, items: pd.DataFrame) -> dict[str, Any]:
    """``n_classes``, ``n_seen``, ``n_unseen``, ``counts[split][domain]`` (zeros included)."""
    counts = items.groupby(["split", "domain"]).size()
    metrics: dict[str, Any] = {
        "n_classes": int(len(classes)),
        "n_seen": int((classes["split"] == "seen").sum()),
        "n_unseen": int((classes["split"] == "unseen").sum()),
        "n_items": int(len(items)),
        "counts": {s: {d: int(counts.get((s, d), 0)) for d in DOMAINS} for s in SPLITS},
        "n_overlap_unseen": int((classes["overlap_split"] == "unseen").sum()),
    }
    if classes["published_split"].notna().any():
        pub = classes["published_split"]
        metrics["n_published_unseen"] = int((pub == "unseen").sum())
        metrics["n_agree_published"] = int((pub == classes["overlap_split"]).sum())
    return metrics


def _cell(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def split_report(
    classes: pd.DataFrame,
    metrics: dict[str, Any],
    config: SplitConfig,
    dataset: str,
    seed: int,
    published_list: str | None = None,
) -> str:
    """Markdown: settings, summary, overlap vs. published comparison, per-class table."""
    relations = ", ".join(config.overlap_relations)
    method = {
        "published": f"`published` (list `{published_list}`)",
        "random": f"`random` ({config.n_unseen} unseen classes drawn with seed {seed})",
    }.get(config.method, f"`{config.method}`")
    lines = [
        f"# Zero-shot class split: {dataset}",
        "",
        f"- method: {method}; ImageNet-1K overlap rule: seen iff relation in "
        f"[{relations}] (hypernym/hyponym within {config.max_hops} WordNet hops)",
        f"- val_fraction {config.val_fraction}, split seed {seed} "
        f"({'split.seed' if config.seed is not None else 'the run seed'}), train photos per "
        f"seen class {config.train_per_class or 'all'}, semantic `{config.semantic}`",
        f"- classes: {metrics['n_classes']} ({metrics['n_seen']} seen, "
        f"{metrics['n_unseen']} unseen)",
        "- relation directions: `hyponym` = an ImageNet-1K synset lies below the class "
        "(a kind of it); `hypernym` = an ImageNet-1K synset lies above it",
        "",
        "| split | " + " | ".join(DOMAINS) + " |",
        "|---|" + "---|" * len(DOMAINS),
    ]
    for s in SPLITS:
        lines.append(f"| {s} | " + " | ".join(str(metrics["counts"][s][d]) for d in DOMAINS) + " |")
    rel_counts = classes["imagenet_relation"].value_counts()
    lines += ["", "Relations: " + ", ".join(f"{r} {n}" for r, n in rel_counts.items()), ""]
    pub = classes["published_split"]
    if pub.notna().any():
        ov = classes["overlap_split"]
        only_ov = classes.loc[(ov == "unseen") & (pub == "seen"), "class"].tolist()
        only_pub = classes.loc[(ov == "seen") & (pub == "unseen"), "class"].tolist()
        both = classes.loc[(ov == "unseen") & (pub == "unseen"), "class"].tolist()
        lines += [
            f"## Computed overlap split vs. published split `{published_list}`",
            "",
            f"- overlap unseen: {int((ov == 'unseen').sum())}; published unseen: "
            f"{int((pub == 'unseen').sum())}; unseen in both: {len(both)}; "
            f"classes agreeing: {metrics['n_agree_published']}/{metrics['n_classes']}",
            f"- unseen in both: {', '.join(both) or '-'}",
            f"- unseen only by overlap: {', '.join(only_ov) or '-'}",
            f"- unseen only in the published list: {', '.join(only_pub) or '-'}",
            "",
        ]
    else:
        lines += [f"No published split for dataset '{dataset}'.", ""]
    lines += [
        "## Classes",
        "",
        "`wnid from`: `files` = the WordNet ids in the item file names; `override` = the "
        "reviewed table zsbir/split/data/name_overrides.tsv; `first_sense` = the first WordNet "
        "noun sense of the class name (zsbir/split/names.py).",
        "",
        "| class | wnid | wnid from | synset | relation | ImageNet-1K synset | hops "
        "| items in IN-1K | overlap | published | split |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in classes.to_dict("records"):
        img = _cell(row["imagenet_synset"]) and f"{row['imagenet_synset']} {row['imagenet_lemma']}"
        lines.append(
            f"| {row['class']} | {row['wnid']} | {row['wnid_source']} | {row['wnid_lemma']}"
            f" | {row['imagenet_relation']}"
            f" | {img} | {row['imagenet_hops']} | {row['n_items_imagenet']}/{row['n_items']}"
            f" | {row['overlap_split']} | {_cell(row['published_split'])} | **{row['split']}** |"
        )
    return "\n".join(lines) + "\n"
