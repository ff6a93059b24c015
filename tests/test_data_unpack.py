"""Listing and extracting packages: zip, tar.gz, 7z and folders, with or without a wrapper."""

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import py7zr
import pytest
from PIL import Image

from zsbir.data.base import DatasetError
from zsbir.data.acquire.archives import extract, hash_files, list_package


def _png(color: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (3, 3), (color, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


FILES = {"root/a/1.png": _png(1), "root/b c/2.png": _png(2), "root/notes.txt": b"x"}


def _write(kind: str, where: Path, prefix: str) -> Path:
    names = {prefix + k: v for k, v in FILES.items()}
    if kind == "folder":
        for name, data in names.items():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            (where / name).write_bytes(data)
        return where
    if kind == "zip":
        path = where / "p.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in names.items():
                zf.writestr(name, data)
    elif kind == "tar":
        path = where / "p.tar.gz"
        with tarfile.open(path, "w:gz") as tf:
            for name, data in names.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    else:
        path = where / "p.7z"
        with py7zr.SevenZipFile(path, "w") as sz:
            for name, data in names.items():
                sz.writestr(data, name)
    return path


@pytest.mark.parametrize("prefix", ["", "wrapper/"])
@pytest.mark.parametrize("kind", ["folder", "zip", "tar", "7z"])
def test_list_extract_hash(tmp_path: Path, kind: str, prefix: str) -> None:
    (tmp_path / "in").mkdir()
    listing = list_package(_write(kind, tmp_path / "in", prefix), "root")
    assert sorted(listing.members) == sorted(FILES)
    out = tmp_path / "out"
    extract(listing, ["root/a/1.png", "root/b c/2.png"], out, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "root/a/1.png",
        "root/b c/2.png",
    ]
    digests = hash_files(out, ["root/a/1.png", "root/b c/2.png"], progress=False)
    assert digests["root/a/1.png"] == hashlib.sha256(FILES["root/a/1.png"]).hexdigest()


def test_missing_root_and_non_images_are_named(tmp_path: Path) -> None:
    path = _write("zip", tmp_path, "")
    with pytest.raises(DatasetError, match="no files below a 'png/' folder"):
        list_package(path, "png")
    out = tmp_path / "out"
    extract(list_package(path, "root"), ["root/notes.txt"], out, progress=False)
    with pytest.raises(DatasetError, match="root/notes.txt: unreadable or truncated image"):
        hash_files(out, ["root/notes.txt"], progress=False)
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DatasetError, match="bad.zip"):
        list_package(tmp_path / "bad.zip", "root")
