"""``sketchy-synthetic``: a stand-in of Sketchy-Extended's size, drawn by the synthetic generator.

For the full-size rehearsal (``benchmarks/bench_full_size.py``): Sketchy's 125 class names
and WordNet ids, and exactly its file counts (73,002 photos, 75,481 sketches: the totals of
``tables/sketchy.tsv``, spread as evenly as possible over the classes, the first classes
taking one more), so the Sketchy-21 split (``split.method: published``) applies. Class ``c``
is drawn by the recipe of synthetic class ``c mod 24`` with its own random streams (index
``c``), at ``data.synthetic.image_size`` px. As in Sketchy, only the first 100 photos of a
class (the "originals") have sketches, ``sketches // 100`` or one more each; the others are
the unpaired "extended" photos.
"""

from __future__ import annotations

import logging
from pathlib import Path

from zsbir.config import DataConfig
from zsbir.data.acquire.counts import read_expected
from zsbir.data.base import BuiltDataset, DatasetError
from zsbir.data.synthetic.generate import CLASSES, ClassPlan, SyntheticClass, generate_plan
from zsbir.split.imagenet import CLASS_WNIDS_FILE, DATA_DIR

log = logging.getLogger(__name__)

NAME = "sketchy-synthetic"
COUNTS = Path(__file__).resolve().parent / "tables" / "sketchy.tsv"
PHOTO_GROUP, SKETCH_GROUP = "extended_photo", "sketch"
ORIGINALS = 100  # Sketchy photos per class that sketches were drawn from


def class_wnids(path: Path = DATA_DIR / CLASS_WNIDS_FILE) -> dict[str, str]:
    """First wnid listed under each ``# <class>`` heading of ``class_wnids.txt``."""
    out: dict[str, str] = {}
    heading: str | None = None
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            word = text[1:].strip()
            heading = word if word and " " not in word else None
        elif text and heading is not None and heading not in out:
            out[heading] = text
    return out


def spread(total: int, n: int) -> list[int]:
    """``total`` split into ``n`` near-equal integers (the first ``total mod n`` one larger)."""
    base, extra = divmod(total, n)
    return [base + (i < extra) for i in range(n)]


def plan() -> list[ClassPlan]:
    """Per class: label, recipe, seeding index and sketches of each photo (exact totals)."""
    expected = read_expected(COUNTS)
    wnids = class_wnids()
    missing = [c for c in expected.classes if c not in wnids]
    if missing:
        raise DatasetError(f"{DATA_DIR / CLASS_WNIDS_FILE}: no wnid for class(es) {missing[:5]}")
    n = len(expected.classes)
    photos = spread(expected.totals[PHOTO_GROUP].n, n)
    sketches = spread(expected.totals[SKETCH_GROUP].n, n)
    out = []
    for c, name in enumerate(expected.classes):
        recipe = CLASSES[c % len(CLASSES)]
        cls = SyntheticClass(name, wnids[name], recipe.recipe, recipe.palette)
        originals = min(ORIGINALS, photos[c])
        per_photo = spread(sketches[c], originals) + [0] * (photos[c] - originals)
        out.append(ClassPlan(name, cls, c, tuple(per_photo)))
    return out


def write(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    """Generate ``data/raw/sketchy-synthetic/`` at ``data.synthetic.image_size`` (registry entry)."""
    if cfg.source or cfg.url:
        log.warning("data.source / data.url are ignored for the sketchy-synthetic dataset")
    log.info("sketchy-synthetic: Sketchy-Extended counts, %d px", cfg.synthetic.image_size)
    manifest = generate_plan(plan(), seed, cfg.synthetic.image_size, out_dir)
    return BuiltDataset(manifest, {"kind": "generated"})
