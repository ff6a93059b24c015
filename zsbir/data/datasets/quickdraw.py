"""``quickdraw``: QuickDraw-Extended (Dey et al., "Doodle to Search", CVPR 2019).

110 classes; two archives from the authors' server (datasets.cvc.uab.es):

- ``QuickDraw_sketches_final.zip``: ``QuickDraw_sketches_final/<class>/<key_id>.png``,
  ~330,000 sketches from Google's Quick, Draw! (the file name is the drawing's ``key_id``);
- ``QuickDraw_images_final.zip``: ``QuickDraw_images_final/<class>/image_<n>.jpg``,
  ~204,000 Flickr photos.

Five class folders hold spaces (``palm tree``): class names use ``_``. Sketches and photos
are unpaired and carry no WordNet id (the split maps names, ``zsbir.split.names``).
"""

from __future__ import annotations

import re
from pathlib import Path

from zsbir.config import DataConfig
from zsbir.data.acquire.benchmark import Benchmark, Item, Package, write_benchmark
from zsbir.data.base import BuiltDataset

NAME = "quickdraw"
TABLES = Path(__file__).resolve().parent / "tables"
SERVER = "datasets.cvc.uab.es/QuickDraw"
_FILE = re.compile(
    r"^QuickDraw_(?P<domain>sketches|images)_final/(?P<folder>[^/]+)/(?P<stem>[^/]+)"
    r"\.(?P<ext>png|jpe?g)$",
    re.IGNORECASE,
)


def parse(rel: str) -> Item | None:
    """A sketch (``.png`` under the sketches folder) or photo; other files are skipped."""
    m = _FILE.match(rel)
    if m is None:
        return None
    if m["domain"] == "sketches":
        if m["ext"] != "png":
            return None
        return Item(domain="sketch", folder=m["folder"], stem=m["stem"], group="sketch")
    return Item(domain="photo", folder=m["folder"], stem=m["stem"], group="photo")


def _locations(filename: str) -> tuple[str, ...]:
    return tuple(f"{scheme}://{SERVER}/{filename}" for scheme in ("https", "http"))


def benchmark(cfg: DataConfig) -> Benchmark:
    """The two QuickDraw-Extended packages (``cfg`` has no QuickDraw options)."""
    packages = tuple(
        Package(
            name=kind, filename=f"QuickDraw_{kind}_final.zip", root=f"QuickDraw_{kind}_final",
            parse=parse, groups=(group,), locations=_locations(f"QuickDraw_{kind}_final.zip"),
        )
        for kind, group in (("sketches", "sketch"), ("images", "photo"))
    )
    return Benchmark(name=NAME, packages=packages, counts=TABLES / "quickdraw.tsv")


def write(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    """Build ``data/raw/quickdraw/`` from the published archives (the registry's entry)."""
    return write_benchmark(benchmark(cfg), cfg, out_dir, repo_root)
