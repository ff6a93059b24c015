"""Encoders, decoders, semantic heads and discriminators: shapes and gradient flow."""

import pytest
import torch

from zsbir.models.blocks import GaussianEncoder, mlp, reparameterize
from zsbir.models.blocks import FeatureDecoder
from zsbir.models.blocks import ConditionalDiscriminator
from zsbir.models.blocks import build_encoder
from zsbir.models.blocks import SemanticHead


def test_gaussian_encoder_shapes_and_reparameterisation_gradients() -> None:
    torch.manual_seed(0)
    enc = GaussianEncoder(12, 16, 5, dropout=0.1)
    x = torch.randn(7, 12)
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (7, 5)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    z.pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())


def test_reparameterize_is_mu_plus_sigma_eps_from_the_generator() -> None:
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.log(torch.tensor([[4.0, 0.25]]))
    eps = torch.randn((1, 2), generator=torch.Generator().manual_seed(5))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(5))
    torch.testing.assert_close(z, mu + torch.tensor([[2.0, 0.5]]) * eps)


def test_mlp_depth_and_bad_depth() -> None:
    net = mlp(3, 8, 2, depth=3)
    assert sum(isinstance(m, torch.nn.Linear) for m in net) == 3
    with pytest.raises(ValueError):
        mlp(3, 8, 2, depth=0)


def test_sketch_has_no_appearance_encoder() -> None:
    with pytest.raises(ValueError, match="appearance"):
        build_encoder("sketch", "appearance", 8, 8, 4, 0.0)


def test_decoder_checks_appearance_code() -> None:
    dec = FeatureDecoder(4, 3, 16, 10, 0.0)
    assert dec(torch.randn(2, 4), torch.randn(2, 3)).shape == (2, 10)
    with pytest.raises(ValueError):
        dec(torch.randn(2, 4))
    assert FeatureDecoder(4, 0, 16, 10, 0.0)(torch.randn(2, 4)).shape == (2, 10)


def test_semantic_head_and_discriminator_shapes() -> None:
    assert SemanticHead(4, 8, 6, 0.0)(torch.randn(3, 4)).shape == (3, 6)
    disc = ConditionalDiscriminator(10, 4, 16)
    x = torch.randn(5, 10, requires_grad=True)
    out = disc(x, torch.randn(5, 4))
    assert out.shape == (5,)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
