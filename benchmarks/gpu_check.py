"""GPU check: the figures the README's "Full-size rehearsal" table needs from one CUDA machine.

In one run, on data it generates itself (nothing is downloaded; the ONNX ImageNet weights
come with the project's own install, ``make setup``):

1. extraction images/s at 224 px in fp32, fp16 and bf16 (autocast) on synthetic photos
   drawn by ``zsbir.data.synthetic`` (real DataLoader decoding, channels_last);
2. ``zsbir index`` images/s (:func:`zsbir.search.gallery.index_folder`, what the command
   runs) on the same photos, with a bundle made from the model trained in 3 and a PCA fitted
   on the fp32 features of 1;
3. one training epoch (with its seen-class val mAP) of each model on rehearsal tables of
   Sketchy-Extended's size: 73,002 photos and 75,481 sketches over 125 classes (the
   ``sketchy-synthetic`` plan), Sketchy-21 split, class-structured random ``pca.dim``-d
   features (what ``data/pca`` holds at that size), random unit semantic vectors;
4. the evaluation's scoring (:func:`zsbir.retrieval.metrics.retrieval_metrics`) at
   Sketchy-21 test size: every unseen-class sketch against every unseen-class photo.

Prints one markdown table. ``--cpu-smoke`` runs the same code on CPU at a tiny size (checks
the script, measures nothing worth reporting)::

    python benchmarks/gpu_check.py                # on a CUDA machine, after `make setup`
    python benchmarks/gpu_check.py --cpu-smoke    # anywhere, ~1 min
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from zsbir import io
from zsbir.config import (
    EvalConfig,
    FeaturesConfig,
    LossConfig,
    ModelConfig,
    PCAConfig,
    SyntheticConfig,
    TrainConfig,
)
from zsbir.data.datasets.sketchy_synthetic import plan
from zsbir.data.synthetic.generate import generate
from zsbir.features.extract import extract_images, resolve_device, resolve_precision
from zsbir.features.pca import fit_pca, save_models
from zsbir.features.weights import build_extractor
from zsbir.retrieval.metrics import retrieval_metrics
from zsbir.search.bundle import BundleInputs, write_bundle
from zsbir.search.gallery import index_folder
from zsbir.split.assign import assign_items
from zsbir.split.published import published_unseen
from zsbir.train.data import TrainData, build_training_data
from zsbir.train.loop import FitPaths, fit

MODELS = ("raw", "semantic-regression", "twotower", "cvae", "cvaegan")
SEM_DIM = 384  # minilm sentence embeddings
VAL_FRACTION = 0.15


def rehearsal_counts(scale: float = 1.0) -> list[tuple[str, tuple[int, ...]]]:
    """Per class: name and sketches of each photo (the ``sketchy-synthetic`` plan), photos
    thinned to ``scale`` of each class (at least one)."""
    out = []
    for entry in plan():
        keep = max(1, round(len(entry.sketches) * scale))
        out.append((entry.name, entry.sketches[:keep]))
    return out


def rehearsal_tables(
    dim: int, seed: int, scale: float = 1.0
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, dict[str, tuple[pd.DataFrame, np.ndarray]],
           pd.DataFrame]:
    """``(split, class_meta, x_sem (C, S), features {domain: (meta, (N, dim))}, manifest)``.

    Sketchy-21 split by the split stage's own :func:`assign_items` (unseen classes: test;
    seen: a seeded ``VAL_FRACTION`` of each class's photos and their sketches val, the rest
    train); feature = class centre + noise.
    """
    rng = np.random.default_rng(seed)
    unseen = set(published_unseen("sketchy-21"))
    counts = rehearsal_counts(scale)
    names = [name for name, _ in counts]
    centres = rng.standard_normal((len(names), dim)).astype(np.float32)  # (C, dim)
    rows: list[tuple[str, str, str, str | None, int]] = []
    for c, (name, per_photo) in enumerate(counts):
        for p, k in enumerate(per_photo):
            pid = f"photo/{name}/{p}"
            rows.append((pid, "photo", name, None, c))
            rows += [(f"sketch/{name}/{p}-{j}", "sketch", name, pid, c) for j in range(k)]
    table = pd.DataFrame(rows, columns=["id", "domain", "class", "pair_id", "code"])
    split = assign_items(table, unseen, VAL_FRACTION, seed)
    features = {}
    for domain in ("photo", "sketch"):
        part = table[table["domain"] == domain].reset_index(drop=True)
        noise = rng.standard_normal((len(part), dim), dtype=np.float32)  # (N, dim)
        features[domain] = (part[["id"]], centres[part["code"].to_numpy()] + 2.0 * noise)
    x_sem = rng.standard_normal((len(names), SEM_DIM)).astype(np.float32)  # (C, S)
    x_sem /= np.linalg.norm(x_sem, axis=1, keepdims=True)
    class_meta = pd.DataFrame(
        {"class": names, "split": ["unseen" if n in unseen else "seen" for n in names]}
    )
    return split, class_meta, x_sem, features, table[["id", "pair_id"]]


@contextlib.contextmanager
def fp16_autocast(device: torch.device) -> Iterator[None]:
    """fp16 autocast around an fp32 :func:`extract_images` call (the engine has no fp16)."""
    with torch.autocast(device_type=device.type, dtype=torch.float16):
        yield


def time_extract(
    photos: list[Path], cfg: FeaturesConfig, device: torch.device, precisions: tuple[str, ...]
) -> tuple[dict[str, float], np.ndarray]:
    """Images/s of each precision (after a one-batch warm-up) and the fp32 features."""
    model = build_extractor(cfg.weights, cfg.layers, cfg.onnx_path, 0, cfg.normalize_layers)
    rates: dict[str, float] = {}
    fp32 = np.empty((0, model.dim), dtype=np.float32)
    for name in precisions:
        run = "fp32" if name == "fp16" else resolve_precision(name, device)
        ctx = fp16_autocast(device) if name == "fp16" else contextlib.nullcontext()
        with ctx:
            extract_images(model, photos[: cfg.batch_size], "photo", cfg, device, run)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            feats, _ = extract_images(model, photos, "photo", cfg, device, run)  # (N, D)
            if device.type == "cuda":
                torch.cuda.synchronize()
        rates[name if run == name or name == "fp16" else f"{name} (ran {run})"] = (
            len(photos) / (time.perf_counter() - start)
        )
        if name == "fp32":
            fp32 = feats
    return rates, fp32


def time_train(
    data: TrainData, device: str, workdir: Path, seed: int
) -> dict[str, tuple[float, float]]:
    """Per model: seconds of one epoch (train + val mAP) and that epoch's val mAP."""
    out = {}
    for name in MODELS:
        paths = FitPaths(workdir / name / "model.pt", workdir / name / "last.pt",
                         workdir / name / "history.csv")
        start = time.perf_counter()
        result = fit(
            data,
            model_cfg=ModelConfig(name=name),
            loss_cfg=LossConfig(),
            train_cfg=TrainConfig(epochs=1, patience=1, device=device,
                                  threads=0 if device == "cuda" else 1),
            eval_cfg=EvalConfig(),
            seed=seed,
            paths=paths,
        )
        out[name] = (time.perf_counter() - start, result.best_val_map)
    return out


def time_index(
    photo_dir: Path, fp32: np.ndarray, data_dim: int, model: Path, class_meta: pd.DataFrame,
    cfg: FeaturesConfig, device: str, workdir: Path,
) -> float:
    """Images/s of ``index_folder`` (what ``zsbir index`` runs) on ``photo_dir``."""
    pca_cfg = PCAConfig(dim=data_dim)
    save_models({"joint": fit_pca(fp32, data_dim)}, pca_cfg, workdir / "pca.npz")
    io.write_table(class_meta, workdir / "classes.parquet")
    io.write_json({}, workdir / "eval.json")
    inputs = BundleInputs(model, workdir / "pca.npz", workdir / "classes.parquet",
                          workdir / "eval.json")
    write_bundle(workdir / "bundle", inputs, cfg,
                 {"space": "structure", "n_samples": 10, "seed": 0}, "gpu-check")
    start = time.perf_counter()
    summary = index_folder(photo_dir, workdir / "bundle", workdir / "index", device=device)
    return summary["embedded"] / (time.perf_counter() - start)


def time_eval(split: pd.DataFrame, dim: int, seed: int) -> tuple[float, int, int, float]:
    """Seconds, queries, gallery and mAP of scoring unseen sketches against unseen photos."""
    rng = np.random.default_rng(seed)
    test = split[split["split"] == "test"]
    labels = {d: test.loc[test["domain"] == d, "class"].to_numpy() for d in ("sketch", "photo")}
    classes = sorted(set(labels["photo"]))
    centres = rng.standard_normal((len(classes), dim)).astype(np.float32)  # (C, dim)
    emb = {}
    for d, lab in labels.items():
        code = np.searchsorted(classes, lab)
        emb[d] = centres[code] + 3.0 * rng.standard_normal((len(lab), dim), dtype=np.float32)
    start = time.perf_counter()
    scores = retrieval_metrics(emb["sketch"], labels["sketch"], emb["photo"], labels["photo"])
    return (time.perf_counter() - start, len(labels["sketch"]), len(labels["photo"]),
            float(scores.ap.mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny, on CPU: checks the script")
    ap.add_argument("--images", type=int, default=1024, help="photos extracted and indexed")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.cpu_smoke:
        device_name, scale, dim, n_images, size = "cpu", 0.002, 16, 32, 64
        precisions: tuple[str, ...] = ("fp32", "bf16")
    else:
        if not torch.cuda.is_available():
            ap.error("no CUDA device: run on a GPU machine, or pass --cpu-smoke")
        device_name, scale, dim, n_images, size = "cuda", 1.0, 256, args.images, 224
        precisions = ("fp32", "fp16", "bf16")
    device = resolve_device(device_name)
    per_class = max(1, n_images // 16)
    cfg = FeaturesConfig(image_size=size, batch_size=64 if device.type == "cuda" else 16,
                         num_workers=args.workers, device=device_name)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="zsbir-gpu-check-") as tmp:
        root = Path(tmp)
        generate(SyntheticConfig(n_classes=16, photos_per_class=per_class, image_size=size),
                 args.seed, root / "raw")
        photos = sorted((root / "raw" / "photo").rglob("*.jpg"))
        rates, fp32 = time_extract(photos, cfg, device, precisions)
        for name, rate in rates.items():
            rows.append((f"extract {name}, {size} px ({len(photos)} photos)", f"{rate:.1f} img/s"))
        if "fp16" not in rates:
            rows.append(("extract fp16", "n/a on CPU"))

        split, class_meta, x_sem, features, manifest = rehearsal_tables(dim, args.seed, scale)
        data = build_training_data(split, class_meta, x_sem, features, manifest)
        n_items = sum(len(x) for _, x in features.values())
        for name, (seconds, val) in time_train(data, device_name, root / "train", args.seed).items():
            rows.append((f"train 1 epoch {name} ({n_items} items, {dim}-d)",
                         f"{seconds:.1f} s (val mAP {val:.3f})"))

        index_cfg = replace(cfg, precision="bf16")
        rate = time_index(root / "raw" / "photo", fp32, dim, root / "train" / "cvaegan" /
                          "model.pt", class_meta, index_cfg, device_name, root)
        rows.append((f"zsbir index ({len(photos)} photos, {size} px)", f"{rate:.1f} img/s"))

        seconds, n_q, n_g, m = time_eval(split, 64, args.seed)
        rows.append((f"evaluate: {n_q} sketches x {n_g} photos (Sketchy-21 test)",
                     f"{seconds:.1f} s (mAP {m:.3f})"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke)"
    print(f"\nGPU check on {name}, torch {torch.__version__}\n")
    print("| step | figure |\n|---|---:|")
    for step, figure in rows:
        print(f"| {step} | {figure} |")


if __name__ == "__main__":
    main()
