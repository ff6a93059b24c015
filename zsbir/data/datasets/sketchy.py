"""``sketchy``: Sketchy (Sangkloy et al. 2016) + Sketchy-Extended photos (Liu et al. 2017).

- ``rendered_256x256.7z`` (the Sketchy database's 256x256 renders):
  ``256x256/photo/tx_000000000000/<class>/<wnid>_<n>.jpg`` (125 classes x 100 photos) and
  ``256x256/sketch/<variant>/<class>/<wnid>_<n>-<k>.png``, sketch ``k`` drawn from photo
  ``<wnid>_<n>``. The six sketch renderings (``tx_000000000000`` = as drawn,
  ``tx_000100000000`` = the one most ZS-SBIR work uses, ...) hold the same sketches;
  ``data.sketchy.sketch_variant`` picks one, the others are skipped.
- ``EXTEND_image_sketchy.zip`` (Deep Sketch Hashing, Liu et al. 2017):
  ``EXTEND_image_sketchy/<class>/<name>.jpg``, 73,002 photos = 60,502 ``ext_<n>.jpg`` + the
  12,500 Sketchy originals, which are counted once (the 256x256 render, which the sketches
  pair with, is kept; ``data.sketchy.extended_photos: false`` leaves the archive out).

Class wnids come from the file names (``n02691156_10151``); ``ext_*`` photos have none.
"""

from __future__ import annotations

import re
from pathlib import Path

from zsbir.config import DataConfig
from zsbir.data.acquire.benchmark import Benchmark, Item, Package, Parser, write_benchmark
from zsbir.data.base import BuiltDataset

NAME = "sketchy"
TABLES = Path(__file__).resolve().parent / "tables"
# Google Drive ids of the Sketchy database (new upload first) and of DSH's extended photos
# (the upload the DSH README names after 4 Aug 2017; an earlier one was wrong).
RENDERED_GDRIVE = (
    "gdrive://1z4--ToTXYb0-2cLuUWPYM5m7ST7Ob3Ck",
    "gdrive://0B7ISyeE8QtDdTjE1MG9Gcy1kSkE?resourcekey=0-r6nB4crmdU-LK7H38xnOUw",
)
EXTENDED_GDRIVE = "gdrive://0B2U-hnwRkpRrdGZKTzkwbkEwVkk"
PHOTO_VARIANT = "tx_000000000000"

_RENDERED = re.compile(
    r"^256x256/(?P<domain>photo|sketch)/(?P<variant>tx_\d{12})/(?P<folder>[^/]+)/"
    r"(?P<stem>(?P<photo>(?P<wnid>n\d{8})_\d+)(?:-\d+)?)\.(?P<ext>jpg|png)$"
)
_EXTENDED = re.compile(
    r"^EXTEND_image_sketchy/(?P<folder>[^/]+)/(?P<stem>[^/]+)\.jpe?g$", re.IGNORECASE
)
_WNID_STEM = re.compile(r"^(n\d{8})_\d+$")


def rendered_parser(sketch_variant: str) -> Parser:
    """Parser of ``rendered_256x256.7z`` keeping one sketch rendering."""

    def parse(rel: str) -> Item | None:
        m = _RENDERED.match(rel)
        if m is None:
            return None
        is_photo = m["domain"] == "photo"
        if m["variant"] != (PHOTO_VARIANT if is_photo else sketch_variant):
            return None
        if is_photo != (m["ext"] == "jpg") or is_photo != (m["stem"] == m["photo"]):
            return None  # a sketch-named photo or a photo-named sketch: not Sketchy's layout
        if is_photo:
            return Item(
                domain="photo", folder=m["folder"], stem=m["stem"], group="photo", wnid=m["wnid"]
            )
        return Item(
            domain="sketch", folder=m["folder"], stem=m["stem"], group="sketch", wnid=m["wnid"],
            pair=m["photo"],
        )

    return parse


def parse_extended(rel: str) -> Item | None:
    """``EXTEND_image_sketchy/<class>/<name>.jpg``; wnid from Sketchy-style names only."""
    m = _EXTENDED.match(rel)
    if m is None:
        return None
    wnid = _WNID_STEM.match(m["stem"])
    return Item(
        domain="photo", folder=m["folder"], stem=m["stem"], group="extended_photo",
        wnid=wnid[1] if wnid else None,
    )


def benchmark(cfg: DataConfig) -> Benchmark:
    """The Sketchy packages for ``data.sketchy`` (sketch variant, extended photos)."""
    packages = [
        Package(
            name="rendered", filename="rendered_256x256.7z", root="256x256",
            parse=rendered_parser(cfg.sketchy.sketch_variant), groups=("photo", "sketch"),
            locations=RENDERED_GDRIVE,
        ),
    ]
    if cfg.sketchy.extended_photos:
        packages.append(
            Package(
                name="extended", filename="EXTEND_image_sketchy.zip", root="EXTEND_image_sketchy",
                parse=parse_extended, groups=("extended_photo",), locations=(EXTENDED_GDRIVE,),
                aliases=("extended_photo.zip",),
            )
        )
    return Benchmark(name=NAME, packages=tuple(packages), counts=TABLES / "sketchy.tsv")


def write(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    """Build ``data/raw/sketchy/`` from the published archives (the registry's entry)."""
    return write_benchmark(benchmark(cfg), cfg, out_dir, repo_root)
