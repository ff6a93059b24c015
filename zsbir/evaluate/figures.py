"""Figures of the evaluate stage: the retrieval grid and a t-SNE of the embeddings.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas attached
directly (no pyplot global state, no backend switch) and saved atomically.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from zsbir.io import ArtifactError, atomic_path

log = logging.getLogger(__name__)

CORRECT, WRONG, QUERY = "#2ca02c", "#d62728", "#7f7f7f"
THUMBNAIL = 128  # pixels, longest side
TSNE_ITERATIONS = 500  # 250 of them early exaggeration; enough for a picture
TSNE_EXACT_MAX = 500  # points up to which exact t-SNE is used


# ------------------------------------------------------------------------ retrieval grid
def select_figure_queries(query_meta: pd.DataFrame, n: int) -> np.ndarray:
    """Row indices of ``n`` queries, chosen deterministically and spread over classes.

    Queries are ordered by (rank of the id within its class, class name): the first query
    (smallest id) of each class in alphabetical order, then the second of each, and so on.
    """
    frame = pd.DataFrame(
        {"row": np.arange(len(query_meta)), "class": query_meta["class"], "id": query_meta["id"]}
    ).sort_values(["class", "id"], kind="stable")
    frame["within"] = frame.groupby("class").cumcount()
    chosen = frame.sort_values(["within", "class"], kind="stable")["row"].to_numpy()
    return chosen[: max(n, 0)]


def load_images(
    ids: Sequence[str], manifest: pd.DataFrame, image_root: str | os.PathLike[str]
) -> list[Image.Image]:
    """RGB thumbnails of the images ``ids``, located through ``manifest`` (``id``, ``path``)."""
    paths = manifest.set_index("id")["path"]
    images = []
    for item in ids:
        if item not in paths.index:
            raise ArtifactError(f"id '{item}' of the embeddings is not in the manifest")
        file = Path(image_root) / str(paths[item])
        if not file.is_file():
            raise ArtifactError(f"missing image for the retrieval figure: {file}")
        with Image.open(file) as img:
            thumb = img.convert("RGB")
            thumb.thumbnail((THUMBNAIL, THUMBNAIL))
        images.append(thumb)
    return images


def retrieval_figure(
    queries: Sequence[Image.Image],
    query_classes: Sequence[str],
    results: Sequence[Sequence[Image.Image]],
    correct: np.ndarray,
) -> Figure:
    """One row per query: the sketch, then its ranked photos framed green (same class) / red.

    ``results[i]`` are the top photos of query ``i``; ``correct`` is (n_queries, top) bool.
    """
    n_rows, top = correct.shape
    fig = new_figure((1.3 * (top + 1), 1.45 * max(n_rows, 1)))
    axes = np.asarray(fig.subplots(max(n_rows, 1), top + 1, squeeze=False))  # (rows, top+1)
    axes[0, 0].set_title("query", fontsize=8)
    for i in range(n_rows):
        _tile(axes[i, 0], queries[i], QUERY, query_classes[i])
        for j in range(top):
            if j < len(results[i]):
                _tile(axes[i, j + 1], results[i][j], CORRECT if correct[i, j] else WRONG)
            else:
                axes[i, j + 1].set_axis_off()
            if i == 0:
                axes[i, j + 1].set_title(str(j + 1), fontsize=8)
    return fig


def _tile(ax: Axes, image: Image.Image, colour: str, label: str | None = None) -> None:
    ax.imshow(np.asarray(image))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(4)
    if label is not None:
        ax.set_xlabel(label, fontsize=7)


# -------------------------------------------------------------------------------- t-SNE
def tsne_figure(
    embeddings: np.ndarray,
    labels: np.ndarray,
    is_query: np.ndarray,
    seed: int,
    max_points: int = 2000,
) -> Figure:
    """2-D t-SNE (van der Maaten & Hinton 2008) of L2-normalised embeddings, by class.

    ``embeddings`` (M, D), ``labels`` (M,), ``is_query`` (M,) bool (sketch marker ^,
    photo marker o). At most ``max_points`` rows, drawn uniformly with ``seed``; inputs
    above 50 dimensions are first reduced by PCA to 50; 500 optimisation iterations.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(embeddings), min(max_points, len(embeddings)), replace=False))
    x = embeddings[keep].astype(np.float64)  # (M', D)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if x.shape[1] > 50 and len(x) > 50:
        x = PCA(n_components=50, random_state=seed % 2**32).fit_transform(x)  # (M', 50)
    perplexity = float(max(1.0, min(30.0, (len(x) - 1) / 3)))
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        max_iter=TSNE_ITERATIONS,
        method="exact" if len(x) <= TSNE_EXACT_MAX else "barnes_hut",  # B-H is slow on tiny sets
        random_state=seed % 2**32,
    )
    points = tsne.fit_transform(x)  # (M', 2)

    labels, is_query = np.asarray(labels).astype(str)[keep], np.asarray(is_query)[keep]
    classes = np.unique(labels)
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    fig = new_figure((7.0, 6.0))
    ax = fig.subplots()
    for c, name in enumerate(classes):
        for query, marker in ((False, "o"), (True, "^")):
            sel = (labels == name) & (is_query == query)
            ax.scatter(*points[sel].T, s=10, marker=marker, color=cmap(c % cmap.N), alpha=0.7,
                       label=name if not query else None)
    ax.set_title(f"t-SNE of {len(x)} embeddings (o photo, ^ sketch)")
    ax.set_xticks([])
    ax.set_yticks([])
    if len(classes) <= 25:
        ax.legend(fontsize=6, markerscale=1.5, loc="best", ncols=2 if len(classes) > 12 else 1)
    return fig


def new_figure(size: tuple[float, float]) -> Figure:
    """A constrained-layout figure of ``size`` inches on its own Agg canvas."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> None:
    """Write ``fig`` as PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    log.info("wrote %s", path)
