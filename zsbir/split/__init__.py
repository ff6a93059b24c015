"""zsbir.split: zero-shot class split by ImageNet-1K overlap, class semantic vectors x_sem,
and the per-item train/val/test assignment (see docs/ARCHITECTURE.md)."""

from zsbir.split.run import SplitResult, make_split, write_split

__all__ = ["SplitResult", "make_split", "write_split"]
