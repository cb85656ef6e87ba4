"""Focal frequency loss (FFL, Jiang et al., ICCV 2021) as an extra loss term.

Pixel losses under-penalise what the network finds hard to synthesise: high-frequency
detail, whose errors are spread thinly over many pixels. FFL compares SR and HR in the
Fourier domain and weights each frequency by its own current error, so the frequencies that
are furthest off get the most attention (a focal loss over the spectrum):

    F = fft2(x, norm="ortho") per channel,   d(u, v) = |F_sr - F_hr|^2,
    W = (|F_sr - F_hr|^alpha) / max over (u, v),   detached,
    FFL = mean(W * d).

This is not a per-pixel weighting, so the strategy's pixel weights are uniform and the term
comes from :meth:`FocalFrequency.extra_loss`, which the trainer adds to the weighted pixel
loss. With ``alpha = 0`` every frequency weighs 1 and, the orthonormal DFT being unitary,
FFL equals the pixel MSE (Parseval).
"""

from __future__ import annotations

from typing import Any

import torch

from srmeta.options import FocalFrequencyOptions
from srmeta.weighting.base import StepContext, WeightingStrategy, read_options


def _spectrum(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DFT over the last two axes; float32 at least (no bf16 FFT)."""
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return torch.fft.fft2(x, norm="ortho")


def spectrum_weight(sr: torch.Tensor, hr: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """FFL's detached ``B x C x H x W`` frequency weights in [0, 1].

    ``|F_sr - F_hr|^alpha`` divided by its maximum per image and channel, as in the
    reference implementation (where that maximum is 0, SR and HR agree and the weight is 0).
    The weight is deliberately not differentiated: it only says where to look.
    """
    with torch.no_grad():
        magnitude = (_spectrum(sr) - _spectrum(hr)).abs().pow(alpha)
        peak = magnitude.amax(dim=(-2, -1), keepdim=True)
        scaled = magnitude / peak.clamp_min(torch.finfo(magnitude.dtype).tiny)
        return torch.where(peak > 0, scaled, torch.zeros_like(scaled)).clamp(0.0, 1.0)


def focal_frequency_loss(
    sr: torch.Tensor,
    hr: torch.Tensor,
    alpha: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar FFL of ``B x C x H x W`` images, differentiable with respect to ``sr``.

    ``weight`` overrides the spectrum weight (default: :func:`spectrum_weight` of the same
    inputs), which is how tests check the gradient with the weight held fixed.
    """
    if sr.shape != hr.shape:
        raise ValueError(
            f"focal_frequency_loss: shapes differ, {tuple(sr.shape)} vs {tuple(hr.shape)}"
        )
    diff = _spectrum(sr) - _spectrum(hr)
    distance = diff.real.square() + diff.imag.square()
    if weight is None:
        weight = spectrum_weight(sr, hr, alpha)
    return (weight.to(distance.dtype) * distance).mean()


class FocalFrequency(WeightingStrategy):
    """Uniform pixel weights plus ``weight * FFL(SR, HR)`` from :meth:`extra_loss`.

    The trainer must add ``strategy.extra_loss(ctx)`` to its loss before ``backward``;
    without that this strategy is plain L1. ``weight`` scales the term (the reference
    default is 1.0), ``alpha`` is the focusing exponent (1.0 in the paper; 0 is MSE).
    """

    name = "focal_frequency"
    Options = FocalFrequencyOptions

    def __init__(self, **options: Any) -> None:
        o = read_options(FocalFrequencyOptions, options, self.name)
        self.weight, self.alpha = o.weight, o.alpha

    def extra_loss(self, ctx: StepContext) -> torch.Tensor:
        """``weight * FFL(ctx.sr, ctx.hr)``, carrying the graph to the SR network."""
        with torch.autocast(ctx.sr.device.type, enabled=False):
            return self.weight * focal_frequency_loss(ctx.sr, ctx.hr, self.alpha)


__all__ = ["FocalFrequency", "focal_frequency_loss", "spectrum_weight"]
