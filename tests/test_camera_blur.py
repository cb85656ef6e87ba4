"""The blur a camera's pairs imply, recovered from pairs made with a known Gaussian.

Oracle: the pairs' LR is made here by brute force (a 2-D Gaussian from its formula,
convolved with mirror padding in numpy, then srmeta's MATLAB-exact bicubic), not by the
degradation code the fit searches with; the fit must find the sigma that made them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srmeta.config import PairsConfig
from srmeta.data.benchmarks import find_dataset, load_hr, mod_crop
from srmeta.data.camera_blur import fit_blur
from srmeta.data.pairs import load_pairs, selected_files
from srmeta.errors import SrmetaError
from srmeta.resize import imresize

SCALE = 2


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """``C x H x W`` float64 convolved with the normalised 2-D Gaussian, 6 sigma wide."""
    half = int(np.ceil(3 * sigma))
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    kernel = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(image, ((0, 0), (half, half), (half, half)), mode="reflect")
    out = np.zeros_like(image)
    h, w = image.shape[1:]
    for dy in range(2 * half + 1):
        for dx in range(2 * half + 1):
            out += kernel[dy, dx] * padded[:, dy : dy + h, dx : dx + w]
    return out


def _camera(tmp_path: Path, data_root: Path, sigma: float, noise: float = 0.0) -> Path:
    folder = tmp_path / f"cam{sigma}_{noise}"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, path in enumerate(find_dataset("Set14", data_root).files[:2]):
        hr = mod_crop(load_hr(path), SCALE)[:, :160, :160].expand(3, -1, -1).contiguous()
        soft = hr.double().numpy()
        if sigma > 0:
            soft = _gaussian_blur(soft, sigma)
        lr = imresize(torch.from_numpy(soft), 1 / SCALE).numpy()
        lr = lr + noise * rng.standard_normal(lr.shape)
        lr8 = np.clip(np.round(lr), 0, 255).astype(np.uint8)
        Image.fromarray(hr.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}H.png")
        Image.fromarray(lr8.transpose(1, 2, 0)).save(folder / f"{i:03d}L.png")
    return folder


def _fit(folder: Path):
    return fit_blur(load_pairs(selected_files(PairsConfig(folder=str(folder))), SCALE), SCALE)


@pytest.mark.parametrize("sigma", [0.8, 1.4])
def test_the_fit_finds_the_gaussian_that_made_the_pairs(tmp_path, data_root, sigma) -> None:
    fit = _fit(_camera(tmp_path, data_root, sigma))
    assert fit.sigma == pytest.approx(sigma, abs=0.051)
    assert fit.psnr > 40  # only 8-bit rounding is left unexplained
    assert dict(fit.curve)[fit.sigma] == fit.psnr == max(p for _, p in fit.curve)
    low, high = (float(v) for v in fit.pool_degradation(0.3).split()[0][9:].split("-"))
    assert (low, high) == pytest.approx((sigma - 0.3, sigma + 0.3), abs=0.051)


def test_noise_lowers_the_ceiling_of_the_fit_not_its_sigma(tmp_path, data_root) -> None:
    clean, noisy = (_fit(_camera(tmp_path, data_root, 1.4, n)) for n in (0.0, 4.0))
    assert noisy.sigma == pytest.approx(1.4, abs=0.11)
    assert noisy.psnr < clean.psnr - 10  # sigma-4 noise alone is about 36 dB


def test_no_pairs_is_an_error() -> None:
    with pytest.raises(SrmetaError, match="at least one pair"):
        fit_blur([], SCALE)
