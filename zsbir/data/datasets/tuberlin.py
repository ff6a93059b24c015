"""``tuberlin``: TU-Berlin sketches (Eitz et al. 2012) + TU-Berlin-Extended photos (Zhang 2016).

- ``sketches_png.zip``: ``png/<class>/<id>.png``, 250 classes x 80 sketches (ids 1..20000),
  plus ``png/filelist.txt`` (skipped). Class names keep TU-Berlin's spelling, lower case
  with ``_`` for spaces (``alarm_clock``, ``bear_(animal)``, ``t-shirt``).
- TU-Berlin-Extended (Google Drive, as used by DSH, SAKE, Doodle2Search, SEM-PCYC):
  ``ImageResized/<folder>/<name>.JPEG|.jpg``, 204,070 photos. 52 folder names differ from
  the sketch classes (run together, five misspelt: ``griaffe``, ``tromobone``, ...); the
  committed table ``tables/tuberlin_photo_folders.tsv`` maps them.

Sketches and photos are unpaired. File names that look like ImageNet ids
(``n07753592_7382.JPEG``) are *not* taken as class wnids: the split maps class names to
synsets (``zsbir.split.names``).
"""

from __future__ import annotations

import re
from pathlib import Path

from zsbir.config import DataConfig
from zsbir.data.acquire.benchmark import Benchmark, Item, Package, write_benchmark
from zsbir.data.base import BuiltDataset

NAME = "tuberlin"
TABLES = Path(__file__).resolve().parent / "tables"
SKETCHES_URL = "https://cybertron.cg.tu-berlin.de/eitz/projects/classifysketch/sketches_png.zip"
PHOTOS_GDRIVE = "gdrive://0B2U-hnwRkpRrMFVvTmFQa3dmSUk"

_SKETCH = re.compile(r"^png/(?P<folder>[^/]+)/(?P<stem>\d+)\.png$")
_PHOTO = re.compile(
    r"^ImageResized/(?P<folder>[^/]+)/(?P<stem>[^/]+)\.(?:jpe?g|png)$", re.IGNORECASE
)


def parse_sketch(rel: str) -> Item | None:
    """``png/<class>/<id>.png``; anything else (``png/filelist.txt``) is skipped."""
    m = _SKETCH.match(rel)
    return Item(domain="sketch", folder=m["folder"], stem=m["stem"], group="sketch") if m else None


def parse_photo(rel: str) -> Item | None:
    """``ImageResized/<folder>/<name>.JPEG|jpg|png``; other files are skipped."""
    m = _PHOTO.match(rel)
    return Item(domain="photo", folder=m["folder"], stem=m["stem"], group="photo") if m else None


def photo_folders(path: Path = TABLES / "tuberlin_photo_folders.tsv") -> dict[str, str]:
    """``{ImageResized folder: class}`` for the folders whose names differ from the class."""
    rows = [ln.split("\t") for ln in path.read_text().splitlines() if ln and ln[0] != "#"]
    return {folder: cls for folder, cls in rows[1:]}


def benchmark(cfg: DataConfig) -> Benchmark:
    """The two TU-Berlin packages (``cfg`` has no TU-Berlin options)."""
    sketches = Package(
        name="sketches", filename="sketches_png.zip", root="png", parse=parse_sketch,
        groups=("sketch",), locations=(SKETCHES_URL, SKETCHES_URL.replace("https://", "http://")),
    )
    photos = Package(
        name="photos", filename="ImageResized.zip", root="ImageResized", parse=parse_photo,
        groups=("photo",), locations=(PHOTOS_GDRIVE,), aliases=("images.zip",),
    )
    return Benchmark(
        name=NAME,
        packages=(sketches, photos),
        counts=TABLES / "tuberlin.tsv",
        rename=photo_folders(),
    )


def write(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    """Build ``data/raw/tuberlin/`` from the published archives (the registry's entry)."""
    return write_benchmark(benchmark(cfg), cfg, out_dir, repo_root)
