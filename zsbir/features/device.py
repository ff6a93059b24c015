"""Where and in what precision the extractor runs, and its forward pass over decoded images.

Shared by both extraction engines (:mod:`zsbir.features.extract`, local;
:mod:`zsbir.features.engine_ray`, Ray actors) and by the search retriever.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import torch

from zsbir.features.vgg import VGGFeatures

log = logging.getLogger(__name__)


class ExtractError(ValueError):
    """Bad manifest, device or feature config; the message names the file or key."""


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA if available, else CPU. The GPU is the first visible one: Ray (and
    any scheduler) gives each worker its own through ``CUDA_VISIBLE_DEVICES``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ExtractError("features.device=cuda but torch sees no CUDA device")
        return torch.device("cuda", 0)
    if name == "cpu":
        return torch.device("cpu")
    raise ExtractError(f"features.device must be auto, cpu or cuda, got {name!r}")


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 matmul/conv: CUDA with bf16, or oneDNN with AVX512-BF16/AMX on CPU."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision that will actually run (bf16 falls back to fp32 with a warning)."""
    if precision == "bf16" and not bf16_supported(device):
        log.warning("bf16 is not supported natively on %s; extracting in fp32", device)
        return "fp32"
    return precision


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """bf16 autocast on ``device``; nothing for fp32."""
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def forward_batches(
    model: VGGFeatures, images: torch.Tensor, batch_size: int, device: torch.device,
    precision: str,
) -> np.ndarray:
    """F of decoded images ``uint8 (N, 3, S, S)`` in batches of ``batch_size``: ``(N, D)``.

    The loop of :func:`zsbir.features.extract.extract_images` without its loader: the same
    batches give the same features, bit for bit.
    """
    out = np.zeros((len(images), model.dim), dtype=np.float32)  # (N, D)
    model = model.to(device, memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(device, precision):
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device).contiguous(
                memory_format=torch.channels_last
            )  # (B, 3, S, S) uint8
            out[start : start + len(x)] = model(x).float().cpu().numpy()  # (B, D)
    return out
