"""Full-size rehearsal: every DVC stage at Sketchy-Extended's size; the stages after extract
at QuickDraw-Extended's size. Prints per stage wall time, peak RSS and output size on disk.

``sketchy`` mode: copies this checkout (its tracked files) into ``--workdir``, makes it its
own git + DVC workspace (``cache.dir`` = ``<workdir>-cache``), sets ``data.dataset:
sketchy-synthetic`` (125 classes, 73,002 photos, 75,481 sketches, Sketchy-21 split) drawn
and extracted at ``--size`` px (the stages after extract see full-size 1,280-d tables), and
runs ``dvc repro -s <stage>`` for each stage under ``/usr/bin/time -v`` (wall and peak RSS of
the largest process: DVC's own hashing included). Then ``dvc status`` and a no-op
``dvc repro``, timed, and extraction at 224 px on ``--probe`` of the generated images
(images/s, projected to the whole dataset).

``quickdraw`` (and ``sketchy-tables``, the same at Sketchy-Extended's counts) mode: a manifest with QuickDraw-Extended's counts (``tables/quickdraw.tsv``:
110 classes; no images), class-structured random 1,280-d features written straight into
``data/features``, then ``stages/{split,pca,train,embed,evaluate}.py`` run directly (not
through DVC: there are no images to download or extract), each under ``/usr/bin/time -v``.

    python benchmarks/bench_full_size.py sketchy --workdir /work/rehearse-run
    python benchmarks/bench_full_size.py quickdraw --workdir /work/rehearse-qd
    python benchmarks/bench_full_size.py sketchy-tables --workdir /work/rehearse-st
    python benchmarks/bench_full_size.py sketchy --workdir /tmp/smoke --smoke   # synthetic, tiny
    python benchmarks/bench_full_size.py sketchy --workdir /work/rehearse-run --resume

``--resume`` goes on in an existing ``sketchy`` workspace: stages already up to date there
are skipped by DVC and reported as such (their figures are those of the earlier run).

Wall times depend on the machine's load; RSS and disk sizes do not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ("validate", "download", "split", "extract", "pca", "train", "embed", "evaluate", "package")
QD_STAGES = ("split", "pca", "train", "embed", "evaluate")
GB = 1024**3


def sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` in ``cwd``; its stdout (fail loudly with its stderr)."""
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res.stdout


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """``(wall seconds, peak RSS in GiB, stdout)`` of ``cmd`` under ``/usr/bin/time -v``."""
    start = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=cwd, env=env, capture_output=True,
                         text=True)
    wall = time.perf_counter() - start
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)[1])
    return wall, kb * 1024 / GB, res.stdout


def du(paths: list[Path]) -> float:
    """Bytes on disk under ``paths`` (files and folders that exist), in MiB."""
    total = 0
    for p in paths:
        files = [p] if p.is_file() else (p.rglob("*") if p.is_dir() else [])
        total += sum(f.stat().st_blocks * 512 for f in files if f.is_file())
    return total / 2**20


def stage_outs(workdir: Path) -> dict[str, list[Path]]:
    """The ``outs`` of each stage of ``dvc.yaml`` (metrics and plots left out)."""
    spec = yaml.safe_load((workdir / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, st in spec.items():
        items = [next(iter(o)) if isinstance(o, dict) else o for o in st.get("outs", [])]
        out[name] = [workdir / i for i in items]
    return out


def set_params(workdir: Path, params: dict[str, dict]) -> None:
    """Overwrite ``section.key`` values of ``workdir/params.yaml`` (dotted keys allowed)."""
    doc = yaml.safe_load((workdir / "params.yaml").read_text())
    for section, values in params.items():
        for key, value in values.items():
            node = doc
            *head, last = f"{section}.{key}".split(".")
            for h in head:
                node = node[h]
            node[last] = value
    (workdir / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def make_workspace(workdir: Path, params: dict[str, dict]) -> dict[str, str]:
    """Copy the tracked files of this checkout to ``workdir`` as a fresh git + DVC workspace."""
    if workdir.exists():
        sys.exit(f"{workdir} exists: remove it or pass another --workdir")
    files = sh(["git", "ls-files", "-z"], REPO).split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, workdir / rel)
    set_params(workdir, params)
    (workdir / "dvc.lock").unlink(missing_ok=True)
    env = workspace_env(workdir)
    sh(["git", "init", "-q"], workdir, env)
    sh(["git", "add", "-A"], workdir, env)
    sh(["git", "commit", "-qm", "rehearsal workspace"], workdir, env)
    sh(["dvc", "config", "--local", "cache.dir", f"{workdir}-cache"], workdir, env)
    return env


def workspace_env(workdir: Path) -> dict[str, str]:
    """The environment every command of a rehearsal workspace runs in."""
    return {**os.environ, "PYTHONPATH": str(workdir), "ZSBIR_FEATURE_CACHE": "off",
           "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost"}


def table(rows: list[tuple[str, float, float, float]], note: str) -> str:
    lines = [f"| stage | wall (s) | peak RSS (GiB) | output (MiB) |  {note}",
             "|---|---:|---:|---:|"]
    lines += [f"| {s} | {w:.1f} | {r:.2f} | {d:.1f} |" for s, w, r, d in rows]
    return "\n".join(lines)


def probe_224(workdir: Path, n: int) -> float:
    """Images/s of the extractor at 224 px (fp32 or bf16 as params say) on ``n`` images."""
    sys.path.insert(0, str(workdir))
    from dataclasses import replace

    from zsbir.config import parse_params
    from zsbir.features.extract import extract_images, resolve_device, resolve_precision
    from zsbir.features.weights import build_extractor

    params = parse_params(yaml.safe_load((workdir / "params.yaml").read_text()))
    cfg = replace(params.features, image_size=224)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    paths = sorted((workdir / "data/raw/sketchy-synthetic/photo").rglob("*.jpg"))[:n]
    model = build_extractor(cfg.weights, cfg.layers, cfg.onnx_path, 0, cfg.normalize_layers)
    extract_images(model, paths[: cfg.batch_size], "photo", cfg, device, precision)  # warm-up
    start = time.perf_counter()
    extract_images(model, paths, "photo", cfg, device, precision)
    return len(paths) / (time.perf_counter() - start)


def run_sketchy(args: argparse.Namespace) -> None:
    workdir = args.workdir.resolve()
    if args.smoke:  # the default synthetic dataset: checks the script, not the scale
        data = {"dataset": "synthetic", "synthetic.image_size": 32}
        split: dict = {}
    else:
        data = {"dataset": "sketchy-synthetic", "synthetic.image_size": args.size}
        split = {"method": "published"}
    params = {
        "data": data, "split": split,
        "features": {"image_size": args.size},
        "train": {"epochs": args.epochs, "patience": args.epochs},
    }
    env = workspace_env(workdir) if args.resume else make_workspace(workdir, params)
    outs = stage_outs(workdir)
    rows = []
    for name in STAGES:
        wall, rss, said = timed(["dvc", "repro", "-s", name], workdir, env)
        if "didn't change, skipping" in said:
            print(f"{name}: up to date (figures of the earlier run)", flush=True)
            continue
        rows.append((name, wall, rss, du(outs.get(name, []))))
        print(f"{name}: {wall:.1f} s, {rss:.2f} GiB, {rows[-1][3]:.1f} MiB", flush=True)
    status_wall, status_rss, _ = timed(["dvc", "status"], workdir, env)
    noop_wall, noop_rss, _ = timed(["dvc", "repro"], workdir, env)
    noop_out = sh(["dvc", "repro"], workdir, env)
    extract = json.loads((workdir / "metrics/extract.json").read_text())
    n_items = extract["photo"]["count"] + extract["sketch"]["count"]
    print()
    print(f"Sketchy-Extended size ({n_items} items; images drawn and extracted at "
          f"{args.size} px; train.epochs {args.epochs})")
    print(table(rows, ""))
    print(f"dvc status: {status_wall:.1f} s ({status_rss:.2f} GiB); "
          f"no-op dvc repro: {noop_wall:.1f} s ({noop_rss:.2f} GiB); "
          f"it says: {noop_out.strip().splitlines()[-1] if noop_out.strip() else '(nothing)'}")
    print(f"extract at {args.size} px: {extract['images_per_s']:.1f} images/s "
          f"({extract['device']}, {extract['precision']})")
    if not args.smoke and args.probe:
        ips = probe_224(workdir, args.probe)
        print(f"extract at 224 px ({args.probe} images): {ips:.1f} images/s -> projected "
              f"{n_items / ips / 3600:.1f} h for the {n_items} items on this CPU")
    print(f"disk: workspace {du([workdir]):.0f} MiB, cache {du([Path(f'{workdir}-cache')]):.0f} MiB")


def table_manifest(counts: str, scale: float = 1.0) -> "pd.DataFrame":
    """Manifest rows (no files) with ``counts``' numbers of items, times ``scale``.

    ``sketchy``: the sketchy-synthetic plan (125 classes, Sketchy-Extended's counts, sketches
    paired with photos); ``quickdraw``: ``tables/quickdraw.tsv`` (110 classes, unpaired).
    """
    from zsbir.data.acquire.counts import read_expected
    from zsbir.data.datasets.sketchy_synthetic import plan, spread
    from zsbir.schema import item_id, make_manifest

    rows = []
    if counts == "sketchy":
        for entry in plan():
            n_photos = max(1, round(len(entry.sketches) * scale))
            for pi, k in enumerate(entry.sketches[:n_photos]):
                stem = f"{entry.cls.wnid}_{pi + 1}"
                pid = item_id("photo", entry.name, stem)
                rows.append({"id": pid, "path": f"photo/{entry.name}/{stem}.jpg", "domain": "photo",
                             "wnid": entry.cls.wnid, "pair_id": None, "class": entry.name})
                n_sketches = k if scale >= 1 or k == 0 else max(1, round(k * scale))
                for j in range(n_sketches):
                    sk = f"{stem}-{j + 1}"
                    rows.append({"id": item_id("sketch", entry.name, sk), "class": entry.name,
                                 "path": f"sketch/{entry.name}/{sk}.png", "domain": "sketch",
                                 "wnid": entry.cls.wnid, "pair_id": pid})
        return make_manifest(rows)
    expected = read_expected(REPO / "zsbir/data/datasets/tables/quickdraw.tsv")
    for group, ext in (("photo", ".jpg"), ("sketch", ".png")):
        per_class = spread(round(expected.totals[group].n * scale), len(expected.classes))
        for name, n in zip(expected.classes, per_class):
            for i in range(n):
                stem = f"{name}_{i}"
                rows.append({"id": item_id(group, name, stem), "path": f"{group}/{name}/{stem}{ext}",
                             "domain": group, "wnid": None, "pair_id": None, "class": name})
    return make_manifest(rows)


def write_tables(workdir: Path, counts: str, scale: float = 1.0) -> int:
    """``data/manifest.parquet`` and class-structured random 1,280-d ``data/features``
    (class centre + noise); returns the number of items."""
    sys.path.insert(0, str(REPO))
    from zsbir import io

    manifest = table_manifest(counts, scale)
    io.write_table(manifest, workdir / "data/manifest.parquet")
    dataset = "sketchy-synthetic" if counts == "sketchy" else "quickdraw"
    (workdir / "data/raw" / dataset).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    classes = sorted(manifest["class"].unique())
    centres = rng.standard_normal((len(classes), 1280)).astype(np.float32)  # (C, 1280)
    code = manifest["class"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    for domain in ("photo", "sketch"):
        rows = manifest[manifest["domain"] == domain]
        idx = code[rows.index.to_numpy()]
        x = np.empty((len(rows), 1280), dtype=np.float32)  # (N_d, 1280)
        for lo in range(0, len(rows), 65536):  # in chunks: no float64 (N, 1280) temporary
            hi = min(lo + 65536, len(rows))
            noise = rng.standard_normal((hi - lo, 1280), dtype=np.float32)
            x[lo:hi] = centres[idx[lo:hi]] + 2.0 * noise
        io.write_vectors(workdir / f"data/features/{domain}.parquet", x,
                         {"id": rows["id"].to_numpy()})
        del x
    return len(manifest)


def tables_params(counts: str, epochs: int) -> dict[str, dict]:
    """Params of a workspace whose features are written by :func:`write_tables`."""
    dataset = "sketchy-synthetic" if counts == "sketchy" else "quickdraw"
    return {
        "data": {"dataset": dataset}, "split": {"method": "published"},
        "train": {"epochs": epochs, "patience": epochs},
        "eval": {"n_figure_queries": 0, "n_case_classes": 0, "tsne": False},
    }


def run_tables(args: argparse.Namespace) -> None:
    counts = "quickdraw" if args.mode == "quickdraw" else "sketchy"
    workdir = args.workdir.resolve()
    env = make_workspace(workdir, tables_params(counts, args.epochs))
    n_items = write_tables(workdir, counts, args.scale)
    outs = stage_outs(workdir)
    rows_out = []
    for name in QD_STAGES:
        wall, rss, _ = timed([sys.executable, f"stages/{name}.py"], workdir, env)
        rows_out.append((name, wall, rss, du(outs.get(name, []))))
        print(f"{name}: {wall:.1f} s, {rss:.2f} GiB, {rows_out[-1][3]:.1f} MiB", flush=True)
    print()
    size = "QuickDraw-Extended" if counts == "quickdraw" else "Sketchy-Extended"
    print(f"{size} size ({n_items} items): features of the right shape "
          f"(1,280-d, random class-structured) written straight into data/features; "
          f"stages run directly, not through DVC; train.epochs {args.epochs}")
    print(table(rows_out, ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["sketchy", "sketchy-tables", "quickdraw"])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--size", type=int, default=32, help="px of drawing and extraction")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--probe", type=int, default=64, help="images timed at 224 px (0: skip)")
    ap.add_argument("--smoke", action="store_true", help="sketchy: tiny synthetic dataset instead")
    ap.add_argument("--resume", action="store_true", help="sketchy: go on in --workdir")
    ap.add_argument("--scale", type=float, default=1.0, help="quickdraw: fraction of the counts")
    args = ap.parse_args()
    (run_sketchy if args.mode == "sketchy" else run_tables)(args)


if __name__ == "__main__":
    main()
