"""Pairs of a synthetic camera with a known lens: HR crops of Set14, LR made by brute force
(a 2-D Gaussian from its formula, convolved with mirror padding in numpy, then srmeta's
MATLAB-exact bicubic), independent of the degradation code that fits or trains on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srmeta.data.benchmarks import find_dataset, load_hr, mod_crop
from srmeta.resize import imresize


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


def write_camera(
    tmp_path: Path,
    data_root: Path,
    sigma: float,
    noise: float = 0.0,
    scale: int = 2,
    count: int = 2,
) -> Path:
    """``count`` pairs in a new folder; LR = bicubic(Gaussian(HR, sigma)) + noise, 8-bit."""
    folder = tmp_path / f"cam{sigma}_{noise}"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, path in enumerate(find_dataset("Set14", data_root).files[:count]):
        side = 160 // scale * scale
        hr = mod_crop(load_hr(path), scale)[:, :side, :side].expand(3, -1, -1).contiguous()
        soft = hr.double().numpy()
        if sigma > 0:
            soft = _gaussian_blur(soft, sigma)
        lr = imresize(torch.from_numpy(soft), 1 / scale).numpy()
        lr = lr + noise * rng.standard_normal(lr.shape)
        lr8 = np.clip(np.round(lr), 0, 255).astype(np.uint8)
        Image.fromarray(hr.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}H.png")
        Image.fromarray(lr8.transpose(1, 2, 0)).save(folder / f"{i:03d}L.png")
    return folder
