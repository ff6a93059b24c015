"""zsbir: zero-shot sketch-based image retrieval with parallel cVAE-GANs."""

__version__ = "0.1.0"
