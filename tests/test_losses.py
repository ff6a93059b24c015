"""Each loss term against a hand-computed or numerically integrated reference."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from zsbir.config import LossConfig, ModelConfig
from zsbir.models.factory import build_model
from zsbir.models import losses


def _numeric_kl(mu: float, sigma: float) -> float:
    """KL(N(mu, sigma^2) || N(0, 1)) by numerical integration on a fine grid."""
    x = np.linspace(mu - 12 * sigma, mu + 12 * sigma, 200_001)
    log_q = -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))
    log_p = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
    return float(np.trapezoid(np.exp(log_q) * (log_q - log_p), x))


def test_kl_closed_form_matches_numerical_integration() -> None:
    mus, sigmas = [0.0, 1.5, -0.7], [1.0, 0.3, 2.2]
    mu = torch.tensor([mus], dtype=torch.float64)
    logvar = torch.log(torch.tensor([sigmas], dtype=torch.float64) ** 2)
    expected = np.mean([_numeric_kl(m, s) for m, s in zip(mus, sigmas)])
    assert float(losses.kl_standard_normal(mu, logvar)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.kl_standard_normal(torch.zeros(4, 3), torch.zeros(4, 3))) == 0.0


def test_lsgan_on_known_logits() -> None:
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # 1/2 (mean([0, 1]) + mean([0, 1])) and 1/2 mean([1, 0])
    assert float(losses.adversarial_discriminator(real, fake, "lsgan")) == pytest.approx(0.5)
    assert float(losses.adversarial_generator(fake, "lsgan")) == pytest.approx(0.25)


def test_nonsaturating_on_known_logits() -> None:
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    sig = lambda v: 1 / (1 + math.exp(-v))
    d = -math.log(sig(2.0)) - math.log(1 - sig(-1.0))
    assert float(losses.adversarial_discriminator(real, fake, "nonsaturating")) == pytest.approx(d)
    assert float(losses.adversarial_generator(fake, "nonsaturating")) == pytest.approx(
        -math.log(sig(-1.0))
    )
    zero = torch.zeros(3)
    assert float(losses.adversarial_discriminator(zero, zero, "nonsaturating")) == pytest.approx(
        2 * math.log(2)
    )


def test_semantic_cosine_and_mask() -> None:
    pred = torch.tensor([[1.0, 0.0], [2.0, 2.0]])
    target = torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    both = torch.tensor([True, True])
    assert float(losses.semantic_cosine(pred, target, both)) == pytest.approx(0.5)  # (1 + 0) / 2
    first = torch.tensor([True, False])
    assert float(losses.semantic_cosine(pred, target, first)) == pytest.approx(1.0)
    assert float(losses.semantic_cosine(pred, target, torch.tensor([False, False]))) == 0.0


def test_cross_correlation_zero_for_orthogonal_one_for_identical() -> None:
    a = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])
    b = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]])
    assert float(losses.cross_correlation(a, b)) == pytest.approx(0.0, abs=1e-9)
    assert float(losses.cross_correlation(a, 3 * a + 1)) == pytest.approx(1.0, rel=1e-4)


def test_mse_by_hand() -> None:
    assert float(
        losses.mse(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
    ) == pytest.approx(2.5)


def _outputs(loss: LossConfig):
    torch.manual_seed(0)
    model = build_model(ModelConfig(z_structure=4, z_appearance=2, hidden=8), loss, feat_dim=6, sem_dim=3)
    photo, sketch, x_sem = torch.randn(5, 6), torch.randn(5, 6), torch.randn(5, 3)
    out = model(photo, sketch, torch.Generator().manual_seed(0), losses.needs(loss))
    fake = model.discriminate(out, photo, sketch, for_generator=True) if loss.adv_weight else None
    return out, photo, sketch, x_sem, torch.ones(5, dtype=torch.bool), fake


def test_generator_total_is_the_weighted_sum_of_named_terms() -> None:
    loss = LossConfig(
        recon_weight=2.0,
        cross_recon_weight=0.5,
        kl_weight=0.1,
        adv_weight=0.3,
        semantic_weight=1.5,
        align_weight=0.7,
        ortho_weight=0.2,
    )
    out, photo, sketch, x_sem, mask, fake = _outputs(loss)
    t = losses.generator_losses(out, photo, sketch, x_sem, mask, fake, loss)
    w = {
        "recon": 2.0,
        "cross": 0.5,
        "kl": 0.1,
        "adv": 0.3,
        "semantic": 1.5,
        "align": 0.7,
        "ortho": 0.2,
    }
    expected = sum(w[k.split("_")[0]] * v for k, v in t.items() if k != "total")
    torch.testing.assert_close(t["total"], expected)
    torch.testing.assert_close(t["align"], torch.mean((out.ske_s.mu - out.img_s.mu) ** 2))
    torch.testing.assert_close(t["recon_photo"], torch.mean((out.img_from_img - photo) ** 2))
    torch.testing.assert_close(
        t["cross_photo2sketch"], torch.mean((out.ske_from_img - sketch) ** 2)
    )
    assert len(t) == 13  # 2 recon, 2 cross, 3 KL, 2 adv, semantic, align, ortho, total


def test_zero_weights_switch_terms_off() -> None:
    loss = LossConfig(cross_recon_weight=0.0, kl_weight=0.0, align_weight=0.0, adv_weight=0.0)
    out, photo, sketch, x_sem, mask, _ = _outputs(loss)
    t = losses.generator_losses(out, photo, sketch, x_sem, mask, None, loss)
    assert set(t) == {"recon_photo", "recon_sketch", "semantic_structure", "total"}
    with pytest.raises(ValueError, match="fake logits"):
        losses.generator_losses(
            out, photo, sketch, x_sem, mask, None, dataclasses.replace(loss, adv_weight=1.0)
        )
    nothing = LossConfig(
        **{f.name: 0.0 for f in dataclasses.fields(LossConfig) if f.name.endswith("weight")}
    )
    with pytest.raises(ValueError, match="nothing to optimise"):
        losses.generator_losses(out, photo, sketch, x_sem, mask, None, nothing)


def test_discriminator_losses_sum_both_domains() -> None:
    logits = {
        "img_real": torch.ones(2),
        "img_fake": torch.zeros(4),
        "ske_real": torch.zeros(2),
        "ske_fake": torch.zeros(4),
    }
    t = losses.discriminator_losses(logits, LossConfig(adversarial="lsgan"))
    assert float(t["disc_photo"]) == 0.0 and float(t["disc_sketch"]) == pytest.approx(0.5)
    assert float(t["total"]) == pytest.approx(0.5)
