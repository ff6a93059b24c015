"""Baselines: the Yelamarthi et al. (2018) cVAE and the untrained raw model."""

import torch

from zsbir.config import LossConfig, ModelConfig
from zsbir.models.cvae import SketchConditionedCVAE
from zsbir.models.raw import RawFeatures
from zsbir.models.factory import build_model
from zsbir.models.losses import cvae_losses, kl_standard_normal

CFG = ModelConfig(name="cvae", z_structure=4, hidden=16, dropout=0.0)


def test_cvae_forward_loss_and_gradients() -> None:
    torch.manual_seed(0)
    model = build_model(CFG, LossConfig(), feat_dim=10, sem_dim=0)
    assert isinstance(model, SketchConditionedCVAE) and model.discriminator_parameters() == []
    photo, sketch = torch.randn(6, 10), torch.randn(6, 10)
    out = model(photo, sketch, torch.Generator().manual_seed(0))
    assert out.photo_hat.shape == (6, 10) and out.mu.shape == (6, 4)
    terms = cvae_losses(out, photo, LossConfig(kl_weight=0.5))
    expected = torch.mean((out.photo_hat - photo) ** 2) + 0.5 * kl_standard_normal(
        out.mu, out.logvar
    )
    torch.testing.assert_close(terms["total"], expected)
    terms["total"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_cvae_sketch_embedding_averages_prior_samples() -> None:
    torch.manual_seed(0)
    model = build_model(CFG, LossConfig(), feat_dim=10, sem_dim=0).eval()
    sketch = torch.randn(3, 10)
    emb = model.embed_sketch(sketch, "photo", 4, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    manual = torch.stack(
        [model.decoder(torch.cat([torch.randn(3, 4, generator=g), sketch], 1)) for _ in range(4)]
    ).mean(0)
    torch.testing.assert_close(emb, manual)
    photo = torch.randn(2, 10)
    assert torch.equal(model.embed_photo(photo, "photo"), photo)


def test_raw_model_is_identity_without_parameters() -> None:
    model = build_model(ModelConfig(name="raw"), LossConfig(), feat_dim=10, sem_dim=0)
    assert isinstance(model, RawFeatures) and list(model.parameters()) == []
    x = torch.randn(2, 10)
    assert torch.equal(model.embed_sketch(x, "structure", 5, None), x)
    assert torch.equal(model.embed_photo(x, "structure"), x)
