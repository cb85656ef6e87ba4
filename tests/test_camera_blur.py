"""The blur a camera's pairs imply, recovered from pairs made with a known Gaussian.

Oracle: the pairs' LR is made here by brute force (a 2-D Gaussian from its formula,
convolved with mirror padding in numpy, then srmeta's MATLAB-exact bicubic), not by the
degradation code the fit searches with; the fit must find the sigma that made them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from camera_pairs import write_camera
from srmeta.config import PairsConfig
from srmeta.data.camera_blur import fit_blur
from srmeta.data.pairs import load_pairs, selected_files
from srmeta.errors import SrmetaError

SCALE = 2


def _fit(folder: Path):
    return fit_blur(load_pairs(selected_files(PairsConfig(folder=str(folder))), SCALE), SCALE)


@pytest.mark.parametrize("sigma", [0.8, 1.4])
def test_the_fit_finds_the_gaussian_that_made_the_pairs(tmp_path, data_root, sigma) -> None:
    fit = _fit(write_camera(tmp_path, data_root, sigma))
    assert fit.sigma == pytest.approx(sigma, abs=0.051)
    assert fit.psnr > 40  # only 8-bit rounding is left unexplained
    assert dict(fit.curve)[fit.sigma] == fit.psnr == max(p for _, p in fit.curve)
    low, high = (float(v) for v in fit.pool_degradation(0.3).split()[0][9:].split("-"))
    assert (low, high) == pytest.approx((sigma - 0.3, sigma + 0.3), abs=0.051)


def test_noise_lowers_the_ceiling_of_the_fit_not_its_sigma(tmp_path, data_root) -> None:
    clean, noisy = (_fit(write_camera(tmp_path, data_root, 1.4, n)) for n in (0.0, 4.0))
    assert noisy.sigma == pytest.approx(1.4, abs=0.11)
    assert noisy.psnr < clean.psnr - 10  # sigma-4 noise alone is about 36 dB


def test_no_pairs_is_an_error() -> None:
    with pytest.raises(SrmetaError, match="at least one pair"):
        fit_blur([], SCALE)
