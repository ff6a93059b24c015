"""The assembled parallel cVAE-GAN: variants, gradient routing, embeddings, save/load."""

import dataclasses

import pytest
import torch

from zsbir.config import LossConfig, ModelConfig
from zsbir.models.cvaegan import Needs, ParallelCVAEGAN
from zsbir.models.factory import build_model, load_model, save_model
from zsbir.models import losses

D, S = 12, 6
CFG = ModelConfig(z_structure=5, z_appearance=3, hidden=16, dropout=0.0)


def _batch(b: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(b, D, generator=g),
        torch.randn(b, D, generator=g),
        torch.randn(b, S, generator=g),
        torch.ones(b, dtype=torch.bool),
    )


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("appearance", [True, False])
@pytest.mark.parametrize("semantic_on", ["structure", "generated", "both"])
@pytest.mark.parametrize("disc_condition", ["structure", "paired"])
def test_every_variant_trains_all_generator_parameters(
    parallel: bool, appearance: bool, semantic_on: str, disc_condition: str
) -> None:
    cfg = dataclasses.replace(
        CFG,
        parallel=parallel,
        appearance=appearance,
        semantic_on=semantic_on,
        disc_condition=disc_condition,
    )
    loss = LossConfig(ortho_weight=0.5)
    torch.manual_seed(0)
    model = build_model(cfg, loss, feat_dim=D, sem_dim=S)
    assert isinstance(model, ParallelCVAEGAN)
    assert (model.gen_ske is not None) == parallel and (model.disc_ske is not None) == parallel
    assert (model.enc_img_a is not None) == appearance
    photo, sketch, x_sem, mask = _batch()
    out = model(photo, sketch, torch.Generator().manual_seed(1), losses.needs(loss))
    assert out.img_s.mu.shape == out.ske_s.mu.shape == (8, 5)
    assert out.img_from_ske.shape == (8, D)
    # D step: fakes are detached, so no generator parameter receives a gradient.
    d_terms = losses.discriminator_losses(
        model.discriminate(out, photo, sketch, for_generator=False), loss
    )
    d_terms["total"].backward(retain_graph=True)
    assert all(p.grad is None for p in model.generator_parameters())
    assert all(p.grad is not None for p in model.discriminator_parameters())
    # G step: every generator-side parameter gets a gradient.
    fake = model.discriminate(out, photo, sketch, for_generator=True)
    g_terms = losses.generator_losses(out, photo, sketch, x_sem, mask, fake, loss)
    g_terms["total"].backward()
    dead = [
        n
        for n, p in model.named_parameters()
        if not n.startswith("disc") and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert dead == []
    assert ("adv_sketch" in g_terms) == parallel and ("ortho" in g_terms) == appearance


def test_weight_zero_parts_are_neither_built_nor_computed() -> None:
    loss = LossConfig(adv_weight=0.0, semantic_weight=0.0, recon_weight=0.0)
    model = build_model(CFG, loss, feat_dim=D, sem_dim=S)
    assert model.disc_img is None and model.sem_z is None and model.discriminator_parameters() == []
    photo, sketch, x_sem, mask = _batch()
    out = model(photo, sketch, None, losses.needs(loss))
    assert out.img_from_img is None and out.sem_img is None and out.img_from_ske_prior is None
    terms = losses.generator_losses(out, photo, sketch, x_sem, mask, None, loss)
    assert not any(k.startswith(("recon", "adv", "semantic")) for k in terms)
    assert Needs(recon=False, adversarial=False, semantic=False) == losses.needs(loss)


def test_embeddings_and_save_load_roundtrip(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(CFG, LossConfig(), feat_dim=D, sem_dim=S).eval()
    photo, sketch, _, _ = _batch(4)
    assert model.embed_sketch(sketch, "structure", 3, None).shape == (4, 5)
    torch.testing.assert_close(model.embed_photo(photo, "structure"), model.enc_img_s(photo)[0])
    torch.testing.assert_close(model.embed_photo(photo, "photo"), photo)
    # photo space: mean of n_samples generations with z_a ~ N(0, I) around mu of E^ske.
    emb = model.embed_sketch(sketch, "photo", 3, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    mu = model.enc_ske(sketch)[0]
    manual = torch.stack(
        [model.gen_img(mu, torch.randn(4, 3, generator=g)) for _ in range(3)]
    ).mean(0)
    torch.testing.assert_close(emb, manual)
    config = {
        "model": dataclasses.asdict(CFG),
        "loss": dataclasses.asdict(LossConfig()),
        "feat_dim": D,
        "sem_dim": S,
    }
    save_model(tmp_path / "m.pt", model, config)
    loaded, cfg = load_model(tmp_path / "m.pt")
    assert cfg["feat_dim"] == D
    torch.testing.assert_close(
        loaded.embed_sketch(sketch, "structure", 1, None),
        model.embed_sketch(sketch, "structure", 1, None),
    )
