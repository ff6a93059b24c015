"""All file I/O of artifacts: Parquet tables, vector tables, JSON, YAML, checkpoints.

Every write is atomic: the content goes to a temporary file in the destination's
directory and is renamed over the target only once complete, so a crash never leaves a
half-written artifact: the temporary file is removed when the write fails (a full disk is
reported as such, naming the file), and one left behind by a killed process is removed
by the next write of the same file. Feature matrices are stored as a ``fixed_size_list<float32>``
column, which reads back into a contiguous ``float32`` matrix without copying rows.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from zsbir.config import ConfigError

VECTOR_COLUMN = "vector"


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
LOW_SPACE_BYTES = 1 << 20  # a failed write with less free space than this is a full disk
RESTORE_HINT = (
    "restore it with `dvc checkout {path}`, or delete it and rerun the stage that writes it "
    "(`dvc repro` reruns a stage whose output changed)"
)


class ArtifactError(ValueError):
    """An artifact is missing or malformed; the message names the file."""


class DiskFullError(ArtifactError):
    """No space left while writing an artifact; nothing was written (the message names it)."""


def repo_root(cwd: Path | None = None) -> Path:
    """The user's checkout: ``cwd``, or the folder above ``.dvc/tmp/exps/<tmp>``.

    DVC runs queued and ``--temp`` experiments in a copy under ``.dvc/tmp/exps``; shared
    state (the MLflow store, caches) belongs to the checkout that holds that copy.
    """
    here = (cwd or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return here


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it to ``path`` if the block succeeds.

    The temporary file is ``.<name>.<pid>.<random>.tmp``; those of dead processes (a
    SIGKILL mid-write) are removed first. A write that fails on a full disk raises
    :class:`DiskFullError` naming ``path``; the temporary file is removed in every case.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            if tmp.exists():
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use normal permissions
            os.replace(tmp, target)
        except Exception as exc:
            if not isinstance(exc, ArtifactError) and _is_disk_full(exc, target.parent):
                # A writer that failed mid-file (torch.save) still holds the temporary file
                # open in its frame; release it so unlinking frees the space at once.
                traceback.clear_frames(exc.__traceback__)
                raise DiskFullError(
                    f"disk full while writing {target}: no space left on the device of "
                    f"{target.parent} ({type(exc).__name__}: {exc}); nothing was written. "
                    f"Free space there (or move the DVC cache / data to a larger disk) and "
                    f"rerun",
                ) from exc
            raise
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove ``.<name>.<pid>.*.tmp`` siblings of ``target`` whose process is gone."""
    removed = []
    for tmp in target.parent.glob(f".{glob_escape(target.name)}.*.tmp"):
        pid = tmp.name[len(target.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_disk_full(exc: BaseException, directory: Path) -> bool:
    """Whether ``exc`` (from any writer: OS, pyarrow, torch) came from a full disk."""
    for err in (exc, exc.__cause__, exc.__context__):
        if isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS:
            return True
    text = str(exc)
    if "No space left on device" in text or "Disk quota exceeded" in text:
        return True
    if not isinstance(exc, (OSError, RuntimeError)):
        return False
    try:
        return shutil.disk_usage(directory).free < LOW_SPACE_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory; it replaces ``path`` if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    )
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; use normal permissions
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- tables
def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a DataFrame to Parquet atomically (index dropped)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table; a missing file is an :class:`ArtifactError` naming it."""
    return _read_parquet(path, columns).to_pandas()


# --------------------------------------------------------------------------- vectors
def write_vectors(
    path: str | os.PathLike[str],
    vectors: np.ndarray,
    columns: Mapping[str, Any],
) -> None:
    """Write an ``(N, D)`` matrix as a fixed-size-list<float32> column beside ``columns``.

    ``columns`` holds the row metadata (at least ``id``), each of length N.
    """
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ArtifactError(f"{path}: vectors must be 2-D, got shape {matrix.shape}")
    n, dim = matrix.shape
    arrays: dict[str, pa.Array] = {}
    for name, values in columns.items():
        arr = pa.array(np.asarray(values) if not isinstance(values, pa.Array) else values)
        if len(arr) != n:
            raise ArtifactError(f"{path}: column '{name}' has {len(arr)} rows, vectors {n}")
        arrays[name] = arr
    flat = pa.array(matrix.reshape(-1), type=pa.float32())
    arrays[VECTOR_COLUMN] = pa.FixedSizeListArray.from_arrays(flat, dim)
    table = pa.table(arrays)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_vectors(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a vector table: ``(metadata DataFrame, float32 matrix of shape (N, D))``."""
    table = _read_parquet(path)
    if VECTOR_COLUMN not in table.column_names:
        raise ArtifactError(f"{path}: no '{VECTOR_COLUMN}' column")
    col = table.column(VECTOR_COLUMN).combine_chunks()
    if not pa.types.is_fixed_size_list(col.type):
        raise ArtifactError(f"{path}: '{VECTOR_COLUMN}' is {col.type}, not a fixed-size list")
    dim = col.type.list_size
    matrix = col.values.to_numpy(zero_copy_only=False).reshape(len(col), dim)
    meta = table.drop_columns([VECTOR_COLUMN]).to_pandas()
    return meta, matrix


# ------------------------------------------------------------------------------ json
def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically, keys sorted, indented."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    _require(path)
    return json.loads(Path(path).read_text())


# ------------------------------------------------------------------------------ yaml
def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Load a YAML file (safe subset); a key given twice in one mapping is an error.

    PyYAML silently keeps the last of duplicated keys; here :class:`ConfigError` names the
    file, the dotted key and both line numbers instead, at any depth.
    """
    _require(path)
    text = Path(path).read_text()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if node is not None:
        _check_unique_keys(node, "", path)
    return yaml.safe_load(text)


def _check_unique_keys(node: yaml.Node, prefix: str, path: str | os.PathLike[str]) -> None:
    """Walk the composed YAML tree; raise on the first mapping key that appears twice."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_unique_keys(item, f"{prefix}[{i}]", path)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value)
            dotted = f"{prefix}.{name}" if prefix else name
            line = key_node.start_mark.line + 1
            if name in lines:
                raise ConfigError(
                    f"{path}: key '{dotted}' is given twice (lines {lines[name]} and {line})"
                )
            lines[name] = line
            _check_unique_keys(value_node, dotted, path)


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


# ------------------------------------------------------------------------- checksums
def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(digests: Mapping[str, str], path: str | os.PathLike[str]) -> None:
    """Write ``{relative path: sha256}`` as a ``sha256sum`` file (``<hex>  <path>`` lines,
    sorted by path), atomically; ``sha256sum -c`` verifies it from the files' root."""
    bad = [p for p in digests if "\n" in p or "\\" in p]
    if bad:
        raise ArtifactError(f"{path}: path {bad[0]!r} cannot be written to a checksum file")
    write_text("".join(f"{digests[p]}  {p}\n" for p in sorted(digests)), path)


# ----------------------------------------------------------------------- checkpoints
def save_checkpoint(
    path: str | os.PathLike[str],
    state: Mapping[str, Any],
    config: Mapping[str, Any],
) -> None:
    """Save ``{"state": state, "config": config}`` with torch, atomically.

    ``state`` holds state_dicts (model, optimizers) and plain training counters;
    ``config`` is the plain-dict model/training configuration that built them. The same
    content gives the same bytes.
    """
    import torch

    # Through a file object: torch names the archive inside after a *path* it is given
    # (here the random temporary name, so the bytes differ run to run), and on a write
    # error (full disk) a path it opened itself stays open until the process exits.
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save({"state": dict(state), "config": dict(config)}, fh)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint`: ``(state, config)``."""
    import torch

    _require(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ArtifactError(
            f"{path}: unreadable checkpoint, truncated or corrupted "
            f"({type(err).__name__}); delete it and re-run the stage that writes it"
        ) from err
    if not isinstance(blob, dict) or "state" not in blob or "config" not in blob:
        raise ArtifactError(f"{path}: not a zsbir checkpoint; delete it and re-run its stage")
    return blob["state"], blob["config"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pa.Table:
    """``pq.read_table``; an unreadable (corrupted, truncated) file is an ArtifactError."""
    _require(path)
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise ArtifactError(
            f"{path}: not a readable Parquet file, it is corrupted or truncated "
            f"({type(exc).__name__}: {exc}); " + RESTORE_HINT.format(path=path)
        ) from exc


def _require(path: str | os.PathLike[str]) -> None:
    if not Path(path).exists():
        raise ArtifactError(f"missing artifact: {path}")
