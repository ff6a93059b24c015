"""The three posterior encoders of the parallel cVAE-GAN (docs/objective.md Sec. 2).

``E_s^img`` (photo -> structure), ``E^ske`` (sketch -> structure) and ``E_a^img``
(photo -> appearance) are the same network type; they differ only by the domain and the
code they produce, which :func:`build_encoder` takes as parameters.
"""

from __future__ import annotations

from typing import Literal

from zsbir.models.blocks import GaussianEncoder

Domain = Literal["photo", "sketch"]
Code = Literal["structure", "appearance"]


class FeatureEncoder(GaussianEncoder):
    """q(z | x) for one domain and one code (Eq. 1); ``forward`` returns (mu, logvar)."""

    def __init__(
        self, domain: Domain, code: Code, in_dim: int, hidden: int, z_dim: int, dropout: float
    ) -> None:
        if domain == "sketch" and code == "appearance":
            raise ValueError("sketches have no appearance code (only E_a^img exists)")
        super().__init__(in_dim, hidden, z_dim, dropout)
        self.domain = domain
        self.code = code

    def extra_repr(self) -> str:
        return f"domain={self.domain}, code={self.code}, z_dim={self.z_dim}"


def build_encoder(
    domain: Domain, code: Code, in_dim: int, hidden: int, z_dim: int, dropout: float
) -> FeatureEncoder:
    """E_s^img = build_encoder("photo", "structure", ...), E^ske = ("sketch", "structure")."""
    return FeatureEncoder(domain, code, in_dim, hidden, z_dim, dropout)
