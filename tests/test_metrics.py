"""Protocol metrics against independent oracles (NumPy PSNR, scikit-image SSIM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from srmeta.metrics import crop_border, lr_consistency, luma, psnr, score, ssim
from srmeta.resize import imresize


@pytest.fixture(scope="module")
def butterfly(data_root) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(data_root / "Set5/HR/butterfly.png"))).permute(
        2, 0, 1
    )


def test_ssim_matches_scikit_image(butterfly):
    hr = luma(butterfly)[0].numpy()
    noisy = hr + np.random.default_rng(0).normal(0, 8, hr.shape)
    expected = structural_similarity(
        noisy, hr, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    ours = ssim(torch.from_numpy(noisy)[None], torch.from_numpy(hr)[None])
    assert ours == pytest.approx(expected, abs=1e-10)
    assert ssim(torch.from_numpy(hr)[None], torch.from_numpy(hr)[None]) == pytest.approx(1.0)


def test_psnr_matches_numpy_definition():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 256, (2, 1, 20, 30)).astype(np.float64)
    mse = np.mean((a - b) ** 2)
    assert psnr(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(
        10 * math.log10(255**2 / mse), abs=1e-12
    )
    assert psnr(torch.from_numpy(a), torch.from_numpy(a)) == math.inf


def test_score_ignores_the_cropped_border(butterfly):
    spoiled = butterfly.clone()
    spoiled[:, :4, :] = 0
    spoiled[:, :, -4:] = 255
    s = score(spoiled, butterfly, border=4)
    assert s.psnr == math.inf and s.ssim == pytest.approx(1.0)
    assert score(spoiled, butterfly, border=3).psnr < 40


def test_score_quantises_float_output_and_uses_float_y(butterfly):
    sr = butterfly.double() / 255 + 0.4 / 255  # rounds back to the HR values
    assert score(sr, butterfly, border=2).psnr == math.inf
    noisy = (butterfly.int() + torch.randint(-3, 4, butterfly.shape)).clamp(0, 255).to(torch.uint8)
    y_sr = 16 + (65.481 * noisy[0] + 128.553 * noisy[1] + 24.966 * noisy[2]).double() / 255
    y_hr = (
        16 + (65.481 * butterfly[0] + 128.553 * butterfly[1] + 24.966 * butterfly[2]).double() / 255
    )
    mse = ((y_sr - y_hr)[2:-2, 2:-2] ** 2).mean().item()
    assert score(noisy, butterfly, border=2).psnr == pytest.approx(10 * math.log10(255**2 / mse))
    assert (
        score(noisy, butterfly, border=2, round_y=True).psnr
        != score(noisy, butterfly, border=2).psnr
    )


def test_gray_image_is_its_own_luma():
    gray = torch.randint(0, 256, (1, 10, 10), dtype=torch.uint8)
    assert torch.equal(luma(gray), gray.double())
    assert crop_border(gray, 2).shape == (1, 6, 6)


def test_lr_consistency(butterfly):
    lr = imresize(butterfly, 0.25)
    assert lr_consistency(butterfly, lr, 4) == math.inf  # the HR downscales to its own LR
    blurry = imresize(imresize(butterfly, 0.125), 2.0)
    assert lr_consistency(blurry, lr, 4) < 35
