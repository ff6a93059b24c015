"""The parallel cVAE-GAN with semantic preservation (ours; docs/objective.md).

cVAE-GAN A translates photo -> sketch (``E_s^img -> G^ske``, judged by ``D^ske``);
cVAE-GAN B rebuilds photo features from sketches (``E^ske -> G^img`` with z_a) and from
photos (``E_s^img, E_a^img -> G^img``), judged by ``D^img``. Both share the structure
space z_s, which is also the retrieval space (``eval.space: structure``).
``model.parallel: false`` keeps only B; ``model.appearance: false`` removes ``E_a^img``.
"""

from __future__ import annotations


import torch
from torch import nn

from zsbir.config import LossConfig, ModelConfig
from zsbir.models import losses
from zsbir.models.base import Batch, TrainableModel
from zsbir.models.blocks import (
    ConditionalDiscriminator,
    FeatureDecoder,
    SemanticHead,
    build_encoder,
    reparameterize,
    sample_prior,
)
from zsbir.models.losses import Needs
from zsbir.models.outputs import CVAEGANOutputs, Posterior


class ParallelCVAEGAN(TrainableModel):
    """Encoders, generators, semantic heads and conditional discriminators of the model."""

    def __init__(
        self,
        cfg: ModelConfig,
        feat_dim: int,
        sem_dim: int,
        *,
        adversarial: bool = True,
        semantic: bool = True,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.feat_dim = feat_dim
        zs, za, h, p = cfg.z_structure, cfg.z_appearance, cfg.hidden, cfg.dropout
        za_used = za if cfg.appearance else 0
        self.enc_img_s = build_encoder("photo", "structure", feat_dim, h, zs, p)
        self.enc_ske = build_encoder("sketch", "structure", feat_dim, h, zs, p)
        self.enc_img_a = (
            build_encoder("photo", "appearance", feat_dim, h, za, p) if za_used else None
        )
        self.gen_img = FeatureDecoder(zs, za_used, h, feat_dim, p)
        self.gen_ske = FeatureDecoder(zs, 0, h, feat_dim, p) if cfg.parallel else None
        on_z = semantic and sem_dim > 0 and cfg.semantic_on in ("structure", "both")
        on_gen = semantic and sem_dim > 0 and cfg.semantic_on in ("generated", "both")
        self.sem_z = SemanticHead(zs, h, sem_dim, p) if on_z else None
        self.sem_gen = SemanticHead(feat_dim, h, sem_dim, p) if on_gen else None
        cond = zs if cfg.disc_condition == "structure" else feat_dim
        self.disc_img = ConditionalDiscriminator(feat_dim, cond, h) if adversarial else None
        self.disc_ske = (
            ConditionalDiscriminator(feat_dim, cond, h) if adversarial and cfg.parallel else None
        )

    # ------------------------------------------------------------------ parameters
    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [p for d in (self.disc_img, self.disc_ske) if d is not None for p in d.parameters()]

    # --------------------------------------------------------------------- forward
    def forward(
        self,
        photo: torch.Tensor,
        sketch: torch.Tensor,
        generator: torch.Generator | None = None,
        needs: Needs = Needs(),
    ) -> CVAEGANOutputs:
        """Encode a batch of (photo (B, D), sketch (B, D)) pairs and generate (Eqs. 1-3, 9)."""
        img_s = self._posterior(self.enc_img_s(photo), generator)
        ske_s = self._posterior(self.enc_ske(sketch), generator)
        img_a = (
            None if self.enc_img_a is None else self._posterior(self.enc_img_a(photo), generator)
        )
        out = CVAEGANOutputs(img_s=img_s, ske_s=ske_s, img_a=img_a)
        z_a = None if img_a is None else img_a.z  # (B, Za)
        if needs.recon or needs.adversarial:
            out.img_from_img = self.gen_img(img_s.z, z_a)
            out.ske_from_ske = None if self.gen_ske is None else self.gen_ske(ske_s.z)
        if needs.cross or needs.adversarial:
            out.img_from_ske = self.gen_img(ske_s.z, z_a)
            out.ske_from_img = None if self.gen_ske is None else self.gen_ske(img_s.z)
        if needs.adversarial or (needs.semantic and self.sem_gen is not None):
            out.img_from_ske_prior = self.translate_sketch(ske_s.z, generator)
        if needs.semantic and self.sem_z is not None:
            out.sem_img = self.sem_z(img_s.z)
            out.sem_ske = self.sem_z(ske_s.z)
        if needs.semantic and self.sem_gen is not None:
            out.sem_photo_real = self.sem_gen(photo)
            out.sem_photo_gen = self.sem_gen(out.img_from_ske_prior)
        return out

    def translate_sketch(
        self, z_s: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """G^img(z_s, z_a) with z_a ~ N(0, I): a photo feature for a sketch's structure."""
        if self.enc_img_a is None:
            return self.gen_img(z_s)
        z_a = sample_prior((z_s.shape[0], self.cfg.z_appearance), generator).to(z_s)  # (B, Za)
        return self.gen_img(z_s, z_a)

    def discriminate(
        self, out: CVAEGANOutputs, photo: torch.Tensor, sketch: torch.Tensor, *, for_generator: bool
    ) -> dict[str, torch.Tensor]:
        """Logits of D^img / D^ske on real and generated features (Eq. 7).

        ``for_generator=False`` (D step): fakes are detached, real logits included.
        ``for_generator=True`` (G step): fake logits only, gradients reach the generators.
        """
        if self.disc_img is None:
            raise RuntimeError("model was built without discriminators (loss.adv_weight = 0)")
        if self.cfg.disc_condition == "structure":
            c_img, c_ske = out.ske_s.mu.detach(), out.img_s.mu.detach()  # (B, Zs)
        else:
            c_img, c_ske = sketch, photo  # (B, D): the paired other-domain feature
        logits: dict[str, torch.Tensor] = {}
        fakes_img = [f for f in (out.img_from_ske_prior, out.img_from_img) if f is not None]
        logits["img_fake"] = self._score(self.disc_img, fakes_img, c_img, for_generator)
        if not for_generator:
            logits["img_real"] = self.disc_img(photo, c_img)
        if self.disc_ske is not None:
            fakes_ske = [f for f in (out.ske_from_img, out.ske_from_ske) if f is not None]
            logits["ske_fake"] = self._score(self.disc_ske, fakes_ske, c_ske, for_generator)
            if not for_generator:
                logits["ske_real"] = self.disc_ske(sketch, c_ske)
        return logits

    # ------------------------------------------------------------------ training
    def discriminator_step(
        self, batch: Batch, loss_cfg: LossConfig, generator: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], CVAEGANOutputs]:
        """Forward pass of the batch, then the D-side terms of Eq. 7 (none without D).

        The loop minimises the ``"total"`` of the terms with the discriminator optimizer
        before it asks for :meth:`generator_step` on the returned outputs.
        """
        out = self(batch.photo, batch.sketch, generator, losses.needs(loss_cfg))
        if self.disc_img is None:
            return {}, out
        logits = self.discriminate(out, batch.photo, batch.sketch, for_generator=False)
        return losses.discriminator_losses(logits, loss_cfg), out

    def generator_step(
        self,
        batch: Batch,
        loss_cfg: LossConfig,
        generator: torch.Generator,
        context: CVAEGANOutputs | None = None,
    ) -> dict[str, torch.Tensor]:
        """Generator-side terms of Eq. 11 on the outputs of :meth:`discriminator_step`;
        the fake logits come from the discriminators as just updated."""
        if context is None:
            raise ValueError("generator_step needs the outputs of discriminator_step")
        fake = None
        if self.disc_img is not None:
            fake = self.discriminate(context, batch.photo, batch.sketch, for_generator=True)
        return losses.generator_losses(
            context,
            batch.photo,
            batch.sketch,
            batch.class_sem[batch.cls],
            batch.sem_mask[batch.cls],
            fake,
            loss_cfg,
        )

    def space_note(self, space: str) -> str:
        if space == "structure":
            return "sketch and photo: mu of their structure encoders"
        return "sketches: mean generated photo feature; photos: their real features"

    # ----------------------------------------------------------------- retrieval
    @torch.no_grad()
    def embed_sketch(
        self, sketch: torch.Tensor, space: str, n_samples: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Retrieval embedding of sketches (B, D) -> (B, Zs) or (B, D) (Sec. 6)."""
        mu, _ = self.enc_ske(sketch)  # (B, Zs)
        if space == "structure":
            return mu
        samples = [self.translate_sketch(mu, generator) for _ in range(max(1, n_samples))]
        return torch.stack(samples).mean(0)  # (B, D)

    @torch.no_grad()
    def embed_photo(self, photo: torch.Tensor, space: str) -> torch.Tensor:
        """Retrieval embedding of photos: mu of E_s^img, or the real feature itself."""
        return self.enc_img_s(photo)[0] if space == "structure" else photo

    # ------------------------------------------------------------------- helpers
    @staticmethod
    def _posterior(
        stats: tuple[torch.Tensor, torch.Tensor], g: torch.Generator | None
    ) -> Posterior:
        mu, logvar = stats
        return Posterior(mu, logvar, reparameterize(mu, logvar, g))

    @staticmethod
    def _score(
        disc: nn.Module, fakes: list[torch.Tensor], cond: torch.Tensor, for_generator: bool
    ) -> torch.Tensor:
        x = torch.cat([f if for_generator else f.detach() for f in fakes])  # (kB, D)
        c = cond.repeat(len(fakes), 1)  # (kB, C)
        return disc(x, c)  # (kB,)
