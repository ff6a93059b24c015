"""``sketchy-mini``: real Sketchy photos and sketches (Sangkloy et al. 2016), 128 px.

125 classes x (25 photos + 25 sketches): ``photo/<class>/<wnid>_<n>.jpg`` and
``sketch/<class>/<wnid>_<n>-<k>.png``, sketch ``k`` drawn from photo ``<wnid>_<n>``; the
WordNet id comes from the file name. The committed list ``checksums/sketchy-mini.sha256``
(``scripts/make_sketchy_checksums.py``) names every file and its SHA-256: only listed files
are ingested, each verified.

Sources, in order: ``data.source`` (a folder or a .zip/.tar(.gz) archive; relative paths
from the repository root; ``$ZSBIR_DATA_SOURCE`` overrides it), else the archive of the
public GitHub repository below (``data.url`` overrides its URL), downloaded into the cache
with resume. The images are never part of the project; they land in ``data/raw`` only.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path, PurePosixPath

import pandas as pd
import pooch

from zsbir.config import DataConfig
from zsbir.data.acquire.fetch import (
    SOURCE_ENV,
    download,
    ingest,
    open_source,
    read_checksums,
    resolve_source,
)
from zsbir.data.base import BuiltDataset, DatasetError
from zsbir.schema import item_id, make_manifest, validate_manifest
from zsbir.io import atomic_dir

log = logging.getLogger(__name__)

NAME = "sketchy-mini"
REPO = "sahibgoa/DCGAN-MNIST"
COMMIT = "49d36e677642c2ed0f637eac8fffccf841a4119b"
URL = f"https://github.com/{REPO}/archive/{COMMIT}.zip"  # top folder DCGAN-MNIST-<COMMIT>/
CHECKSUMS = Path(__file__).resolve().parent / "checksums" / "sketchy-mini.sha256"
DOMAIN_DIRS = ("photo", "sketch")

_PHOTO = re.compile(r"^photo/(?P<cls>[^/]+)/(?P<stem>(?P<wnid>n\d{8})_\d+)\.jpg$")
_SKETCH = re.compile(r"^sketch/(?P<cls>[^/]+)/(?P<stem>(?P<photo>(?P<wnid>n\d{8})_\d+)-\d+)\.png$")


def parse_path(rel: str) -> dict[str, str | None]:
    """The manifest row of a listed file, from its path; :class:`DatasetError` if malformed."""
    if m := _PHOTO.match(rel):
        domain, pair = "photo", None
    elif m := _SKETCH.match(rel):
        domain, pair = "sketch", item_id("photo", m["cls"], m["photo"])
    if m:
        return {
            "id": item_id(domain, m["cls"], m["stem"]),
            "path": rel,
            "domain": domain,
            "class": m["cls"],
            "wnid": m["wnid"],
            "pair_id": pair,
        }
    raise DatasetError(
        f"{rel}: not photo/<class>/<wnid>_<n>.jpg nor sketch/<class>/<wnid>_<n>-<k>.png"
    )


def manifest_from_paths(paths: list[str]) -> pd.DataFrame:
    """The (validated) manifest of the listed files."""
    return validate_manifest(make_manifest(parse_path(p) for p in paths))


def _check_class_folders(folders: set[str], listed: set[str], location: Path) -> None:
    """Every ``photo/<class>`` or ``sketch/<class>`` folder of the source must hold listed files."""
    used = {str(PurePosixPath(rel).parent) for rel in listed}
    for folder in sorted(folders):
        parts = folder.split("/")
        if len(parts) == 2 and parts[0] in DOMAIN_DIRS and folder not in used:
            raise DatasetError(
                f"class {parts[1]!r}: folder {folder}/ in {location} holds no listed files"
            )


def build(
    cfg: DataConfig,
    out_dir: str | Path,
    repo_root: str | Path,
    *,
    checksums: str | Path = CHECKSUMS,
    cache: str | Path | None = None,
    retries: int = 3,
    retry_wait: float = 1.0,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Verify and copy the listed files into ``out_dir`` (atomically).

    Returns ``(manifest, provenance)``; provenance holds the source's ``kind`` (``folder``,
    ``archive`` or ``url``), its ``location`` and, for archives, ``archive_sha256``.
    """
    listed = read_checksums(checksums)
    manifest = manifest_from_paths(sorted(listed))
    source = resolve_source(cfg.source, Path(repo_root))
    given = str(os.environ.get(SOURCE_ENV) or cfg.source)  # as configured, not machine-specific
    if source is not None and source.is_dir():
        provenance = {"kind": "folder", "location": given}
    elif source is not None:
        provenance = {
            "kind": "archive",
            "location": given,
            "archive_sha256": pooch.file_hash(str(source)),
        }
    else:
        url = cfg.url or URL
        source, digest = download(url, cache, retries=retries, retry_wait=retry_wait)
        provenance = {"kind": "url", "location": url, "archive_sha256": digest}
    log.info("ingesting %d listed files of %s from %s", len(listed), NAME, source)
    with open_source(source, set(listed)) as src, atomic_dir(out_dir) as tmp:
        _check_class_folders(src.folders(), set(listed), src.location)
        ingest(src, listed, tmp)
        validate_manifest(manifest, tmp)
    return manifest, provenance


def write(cfg: DataConfig, seed: int, out_dir: Path, repo_root: Path) -> BuiltDataset:
    """Build ``data/raw/sketchy-mini/`` (the registry's entry; see :func:`build`)."""
    manifest, provenance = build(cfg, out_dir, repo_root)
    return BuiltDataset(manifest, provenance)
