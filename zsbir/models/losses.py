"""The training objective as pure functions (equation numbers refer to docs/objective.md).

Every function takes tensors and returns a tensor or a dict of named scalar terms; the
weighted sum is the ``"total"`` entry. A term whose weight is 0 is neither computed nor
returned. Reconstruction and KL terms are per-dimension means (Sec. 3), so the weights of
``loss.*`` are comparable across feature and code sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from zsbir.config import LossConfig
from zsbir.models.outputs import CVAEGANOutputs, CVAEOutputs


Adversarial = Literal["lsgan", "nonsaturating"]


# ------------------------------------------------------------------- elementary terms
def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over batch and dimensions (Eqs. 4, 5, 8, 12)."""
    return F.mse_loss(pred, target)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(0, I)), closed form, averaged over batch and dims (Eq. 6).

    KL per dimension = -1/2 (1 + logvar - mu^2 - e^logvar).
    """
    return (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).mean()


def adversarial_discriminator(
    real: torch.Tensor, fake: torch.Tensor, kind: Adversarial
) -> torch.Tensor:
    """Discriminator loss on real / generated logits (Eq. 7a).

    lsgan (Mao et al. 2017): 1/2 E[(D(x) - 1)^2] + 1/2 E[D(x_hat)^2];
    nonsaturating (Goodfellow et al. 2014): -E[log s(D(x))] - E[log(1 - s(D(x_hat)))].
    """
    if kind == "lsgan":
        return 0.5 * ((real - 1.0).pow(2).mean() + fake.pow(2).mean())
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def adversarial_generator(fake: torch.Tensor, kind: Adversarial) -> torch.Tensor:
    """Generator loss on generated logits (Eq. 7b): lsgan 1/2 E[(D(x_hat) - 1)^2],
    nonsaturating -E[log s(D(x_hat))]."""
    if kind == "lsgan":
        return 0.5 * (fake - 1.0).pow(2).mean()
    return F.softplus(-fake).mean()


def semantic_cosine(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 - cos(S(.), x_sem), averaged over rows whose class has a semantic vector (Eq. 9).

    ``mask`` (B,) bool drops classes with ``semantic_source: none`` (all-zero x_sem).
    """
    if not bool(mask.any()):
        return pred.sum() * 0.0
    cos = F.cosine_similarity(pred[mask], target[mask], dim=1)  # (B',)
    return (1.0 - cos).mean()


def cross_correlation(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean squared batch cross-correlation of codes a (B, Za) and b (B, Zb) (Eq. 10).

    0 when every structure dimension is uncorrelated with every appearance dimension.
    """
    a = (a - a.mean(0)) / (a.std(0, unbiased=False) + eps)  # (B, Za)
    b = (b - b.mean(0)) / (b.std(0, unbiased=False) + eps)  # (B, Zb)
    corr = a.T @ b / a.shape[0]  # (Za, Zb)
    return corr.pow(2).mean()


# ------------------------------------------------------------------ the cVAE-GAN terms
@dataclass(frozen=True)
class Needs:
    """Which outputs a training step needs (a loss weight of 0 skips its outputs)."""

    recon: bool = True
    cross: bool = True
    adversarial: bool = True
    semantic: bool = True


def needs(cfg: LossConfig) -> Needs:
    """Which forward outputs the configured objective uses (weight 0 -> not computed)."""
    return Needs(
        recon=cfg.recon_weight > 0,
        cross=cfg.cross_recon_weight > 0,
        adversarial=cfg.adv_weight > 0,
        semantic=cfg.semantic_weight > 0,
    )


def generator_losses(
    out: CVAEGANOutputs,
    photo: torch.Tensor,
    sketch: torch.Tensor,
    x_sem: torch.Tensor,
    sem_mask: torch.Tensor,
    fake_logits: dict[str, torch.Tensor] | None,
    cfg: LossConfig,
) -> dict[str, torch.Tensor]:
    """All generator-side terms of Eq. 11 for one batch, plus their weighted ``total``.

    photo, sketch (B, D) are the paired targets, x_sem (B, S) their class vectors,
    ``fake_logits`` the discriminators' logits on generated features (G step of Eq. 7b).
    """
    t: dict[str, torch.Tensor] = {}
    w: dict[str, float] = {}
    if cfg.recon_weight > 0:  # Eq. 4
        _add_mse(t, w, cfg.recon_weight,
                 ("recon_photo", _need(out.img_from_img, "img_from_img"), photo),
                 ("recon_sketch", out.ske_from_ske, sketch))
    if cfg.cross_recon_weight > 0:  # Eq. 5
        _add_mse(t, w, cfg.cross_recon_weight,
                 ("cross_sketch2photo", _need(out.img_from_ske, "img_from_ske"), photo),
                 ("cross_photo2sketch", out.ske_from_img, sketch))
    if cfg.kl_weight > 0:  # Eq. 6
        posts = {"kl_photo_structure": out.img_s, "kl_sketch_structure": out.ske_s}
        if out.img_a is not None:
            posts["kl_photo_appearance"] = out.img_a
        for name, q in posts.items():
            t[name] = kl_standard_normal(q.mu, q.logvar)
            w[name] = cfg.kl_weight
    if cfg.adv_weight > 0:  # Eq. 7b
        if fake_logits is None:
            raise ValueError("loss.adv_weight > 0 needs the discriminators' fake logits")
        for dom in ("img", "ske"):
            if f"{dom}_fake" in fake_logits:
                name = "adv_photo" if dom == "img" else "adv_sketch"
                t[name] = adversarial_generator(fake_logits[f"{dom}_fake"], cfg.adversarial)
                w[name] = cfg.adv_weight
    if cfg.semantic_weight > 0:  # Eq. 9
        if out.sem_img is not None and out.sem_ske is not None:
            t["semantic_structure"] = 0.5 * (
                semantic_cosine(out.sem_img, x_sem, sem_mask)
                + semantic_cosine(out.sem_ske, x_sem, sem_mask)
            )
            w["semantic_structure"] = cfg.semantic_weight
        if out.sem_photo_real is not None and out.sem_photo_gen is not None:
            t["semantic_generated"] = 0.5 * (
                semantic_cosine(out.sem_photo_real, x_sem, sem_mask)
                + semantic_cosine(out.sem_photo_gen, x_sem, sem_mask)
            )
            w["semantic_generated"] = cfg.semantic_weight
    if cfg.align_weight > 0:  # Eq. 8
        t["align"] = mse(out.ske_s.mu, out.img_s.mu)
        w["align"] = cfg.align_weight
    if cfg.ortho_weight > 0 and out.img_a is not None:  # Eq. 10
        t["ortho"] = cross_correlation(out.img_s.mu, out.img_a.mu)
        w["ortho"] = cfg.ortho_weight
    return _with_total(t, w)


def discriminator_losses(
    logits: dict[str, torch.Tensor], cfg: LossConfig
) -> dict[str, torch.Tensor]:
    """D^img and D^ske losses on real vs generated logits (Eq. 7a) and their sum."""
    t = {
        "disc_photo": adversarial_discriminator(
            logits["img_real"], logits["img_fake"], cfg.adversarial
        )
    }
    if "ske_real" in logits:
        t["disc_sketch"] = adversarial_discriminator(
            logits["ske_real"], logits["ske_fake"], cfg.adversarial
        )
    return _with_total(t, {k: 1.0 for k in t})


def cvae_losses(out: CVAEOutputs, photo: torch.Tensor, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """Yelamarthi et al. 2018 cVAE objective (Eq. 12): recon_weight * MSE + kl_weight * KL."""
    t: dict[str, torch.Tensor] = {}
    w: dict[str, float] = {}
    if cfg.recon_weight > 0:
        t["recon_photo"], w["recon_photo"] = mse(out.photo_hat, photo), cfg.recon_weight
    if cfg.kl_weight > 0:
        t["kl"], w["kl"] = kl_standard_normal(out.mu, out.logvar), cfg.kl_weight
    return _with_total(t, w)


# --------------------------------------------------------------- the baselines' terms
def cosine_softmax_cross_entropy(
    emb: torch.Tensor, weights: torch.Tensor, labels: torch.Tensor, scale: float
) -> torch.Tensor:
    """Cosine-softmax cross-entropy (Eq. 13; NormFace, Wang et al. 2017).

    L = -1/B sum_i log( exp(s cos(f_i, w_{y_i})) / sum_c exp(s cos(f_i, w_c)) ),
    emb f (B, E), class weights w (C, E), labels y (B,), scale s = ``loss.cosine_scale``.
    """
    logits = scale * F.normalize(emb, dim=1) @ F.normalize(weights, dim=1).T  # (B, C)
    return F.cross_entropy(logits, labels)


def semantic_regression(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str
) -> torch.Tensor:
    """Regression of predicted (B, S) onto true x_sem (B, S) over rows with ``mask`` (Eq. 14).

    mse: mean over rows and dims of (pred - x_sem)^2; cosine: mean of 1 - cos(pred, x_sem).
    """
    if kind == "cosine":
        return semantic_cosine(pred, target, mask)
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return mse(pred[mask], target[mask])


def paired_terms(
    prefix: str,
    photo: torch.Tensor,
    sketch: torch.Tensor,
    term: Callable[[torch.Tensor], torch.Tensor],
) -> dict[str, torch.Tensor]:
    """``<prefix>_photo`` = term(photo), ``<prefix>_sketch`` = term(sketch) and their sum.

    The two-domain objectives of the baselines: Eq. 13 (``twotower``, term = cosine-softmax
    cross-entropy of a tower's output) and Eq. 14 (``semantic-regression``, term = the
    regression of a head's output onto x_sem).
    """
    t = {f"{prefix}_photo": term(photo), f"{prefix}_sketch": term(sketch)}
    return _with_total(t, {k: 1.0 for k in t})


def _add_mse(
    terms: dict[str, torch.Tensor],
    weights: dict[str, float],
    weight: float,
    *pairs: tuple[str, torch.Tensor | None, torch.Tensor],
) -> None:
    """Add ``name: MSE(prediction, target)`` with ``weight`` for every (name, prediction,
    target) in order (Eqs. 4-5); a missing prediction (no sketch generator) adds nothing."""
    for name, pred, target in pairs:
        if pred is not None:
            terms[name], weights[name] = mse(pred, target), weight


def _with_total(
    terms: dict[str, torch.Tensor], weights: dict[str, float]
) -> dict[str, torch.Tensor]:
    if not terms:
        raise ValueError("every loss weight is 0: nothing to optimise")
    terms["total"] = torch.stack([weights[k] * v for k, v in terms.items()]).sum()
    return terms


def _need(x: torch.Tensor | None, name: str) -> torch.Tensor:
    if x is None:
        raise ValueError(f"model output '{name}' was not computed for a loss that needs it")
    return x
