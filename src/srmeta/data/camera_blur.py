"""The lens blur a camera's pairs imply: the Gaussian whose synthetic LR is closest to the
camera's own.

A camera's LR differs from the MATLAB-bicubic LR a bundled model was trained on mostly by
how soft it is. For each candidate sigma (HR pixels), the pair's HR is degraded with
srmeta's own ``blur:iso:SIGMA down:bicubic`` (:class:`~srmeta.degrade.Degradation`, the
very string a training pool takes), and compared with the pair's LR on BT.601 Y; the
squared error is pooled over the pairs and minimised over sigma, first on a coarse grid,
then finely around its best. The result says what pool degradation resembles the camera,
and how well a Gaussian explains it at all (the fit's PSNR: a clean lens on a DSLR fits to
well over 30 dB; noise, JPEG or in-camera sharpening leave a lower ceiling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from srmeta.color import rgb_to_y255
from srmeta.data.pairs import Pair
from srmeta.degrade import Degradation
from srmeta.errors import SrmetaError

COARSE = tuple(np.round(np.arange(0.0, 3.01, 0.25), 2).tolist())
FINE_STEP = 0.05
CROP = 384  # HR pixels per side kept from each pair's centre: the fit is global, and fast


@dataclass(frozen=True)
class BlurFit:
    """The best sigma, the PSNR (dB, Y) of its synthetic LR against the camera's, and
    every sigma tried with its PSNR."""

    sigma: float
    psnr: float
    curve: tuple[tuple[float, float], ...]

    def pool_degradation(self, spread: float = 0.3) -> str:
        """A training-pool degradation around the fit: isotropic blurs within ``spread``
        of it, bicubic down-sampling."""
        low, high = max(self.sigma - spread, 0.05), self.sigma + spread
        return f"blur:iso:{low:.2f}-{high:.2f} down:bicubic"


def _luma(rgb: torch.Tensor) -> np.ndarray:
    return rgb_to_y255(rgb)[0].numpy()


def _centre(pair: Pair, scale: int) -> tuple[torch.Tensor, np.ndarray]:
    """The HR's central crop (float64 in [0, 1]) and the Y of the LR pixels under it."""
    lh, lw = pair.lr.shape[-2:]
    side = min(CROP // scale, lh, lw)
    top, left = (lh - side) // 2, (lw - side) // 2
    lr = pair.lr[:, top : top + side, left : left + side]
    hr = pair.hr[:, top * scale : (top + side) * scale, left * scale : (left + side) * scale]
    return hr.to(torch.float64) / 255.0, _luma(lr)


def _squared_error(hr: torch.Tensor, lr_y: np.ndarray, sigma: float, scale: int):
    """(sum of squared Y differences, pixels) between the camera's LR and the synthetic one."""
    spec = f"blur:iso:{sigma:g} down:bicubic" if sigma > 0 else "down:bicubic"
    fake = Degradation.parse(spec).apply(hr, scale, quantize=False)
    diff = (_luma(fake) - lr_y)[scale:-scale, scale:-scale]  # edges: padding differs
    return float(np.sum(diff * diff)), diff.size


class BlurFitter:
    """Fits of any subset of ``pairs``, each pair's error at a sigma computed once: the
    per-pair fits and the pooled one of ``srmeta pairs`` share them."""

    def __init__(self, pairs: Sequence[Pair], scale: int) -> None:
        if not pairs:
            raise SrmetaError("fitting a blur needs at least one pair")
        self.scale = scale
        self.crops = [_centre(pair, scale) for pair in pairs]
        if min(lr_y.shape[0] for _, lr_y in self.crops) <= 2 * scale + 8:
            raise SrmetaError("the pairs are too small to fit a blur to")
        self._errors: list[dict[float, tuple[float, int]]] = [{} for _ in self.crops]

    def _mean_error(self, which: Sequence[int], sigma: float) -> float:
        total, count = 0.0, 0
        for i in which:
            if sigma not in self._errors[i]:
                self._errors[i][sigma] = _squared_error(*self.crops[i], sigma, self.scale)
            pair_total, pair_count = self._errors[i][sigma]
            total, count = total + pair_total, count + pair_count
        return total / count

    def fit(self, which: Sequence[int] | None = None) -> BlurFit:
        """The sigma (HR pixels) that best explains the LR of the pairs at ``which``
        (default: all) from their HR: the coarse grid, then fine steps around its best."""
        which = range(len(self.crops)) if which is None else which
        errors = {sigma: self._mean_error(which, sigma) for sigma in COARSE}
        best = min(errors, key=errors.__getitem__)
        for step in range(-4, 5):
            sigma = round(best + step * FINE_STEP, 2)
            if sigma >= 0 and sigma not in errors:
                errors[sigma] = self._mean_error(which, sigma)
        curve = tuple((s, 10 * np.log10(255.0**2 / max(errors[s], 1e-12))) for s in sorted(errors))
        sigma, psnr = max(curve, key=lambda point: point[1])
        return BlurFit(sigma, float(psnr), curve)


def fit_blur(pairs: Sequence[Pair], scale: int) -> BlurFit:
    """The Gaussian sigma (HR pixels) that best explains ``pairs``' LR from their HR."""
    return BlurFitter(pairs, scale).fit()
