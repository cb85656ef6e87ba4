"""Blur kernels of the degradation model: Gaussian (isotropic, anisotropic), the generalized
Gaussian, plateau and sinc kernels of the realistic chain, from files, and the convolution
that applies them.

Kept apart from :mod:`srmeta.degrade` (which decides *what* to apply) because kernels are
reused on their own: kernel-estimation experiments, figures, and tests against SciPy.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from srmeta.errors import DegradationError


def isotropic_kernel(sigma: float, size: int) -> np.ndarray:
    """``exp(-(x² + y²) / 2σ²)`` on the integer grid centred at 0, normalised to sum 1."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return k / k.sum()


def anisotropic_kernel(sigma_x: float, sigma_y: float, angle: float, size: int) -> np.ndarray:
    """Gaussian with covariance ``R diag(sx², sy²) Rᵀ``, R the rotation by ``angle`` degrees.

    ``x`` runs along columns and ``y`` along rows (downwards), so at angle 0 ``sigma_x`` is the
    horizontal spread and at 90° the kernel is the transpose of the one at 0°.
    """
    k = np.exp(-0.5 * _mahalanobis(sigma_x, sigma_y, angle, size))
    return k / k.sum()


def _mahalanobis(sigma_x: float, sigma_y: float, angle: float, size: int) -> np.ndarray:
    """``xᵀ Σ⁻¹ x`` on the centred ``size x size`` grid, Σ = ``R diag(sx², sy²) Rᵀ``; the
    exponent every Gaussian-family kernel below shares (axes as :func:`anisotropic_kernel`)."""
    t = math.radians(angle)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T)
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    y, x = np.meshgrid(r, r, indexing="ij")
    return inv[0, 0] * x * x + (inv[0, 1] + inv[1, 0]) * x * y + inv[1, 1] * y * y


def generalized_kernel(
    sigma_x: float, sigma_y: float, angle: float, beta: float, size: int
) -> np.ndarray:
    """Generalized Gaussian ``exp(-0.5 q^β)``, q the Mahalanobis square of
    :func:`anisotropic_kernel` (β = 1 is that Gaussian).

    β < 1 gives heavier tails (a defocused lens's halo), β > 1 a flatter top; Real-ESRGAN
    draws β in [0.5, 4] to cover blurs a plain Gaussian cannot.
    """
    k = np.exp(-0.5 * np.power(_mahalanobis(sigma_x, sigma_y, angle, size), beta))
    return k / k.sum()


def plateau_kernel(
    sigma_x: float, sigma_y: float, angle: float, beta: float, size: int
) -> np.ndarray:
    """Plateau-shaped ``1 / (1 + q^β)``, q as in :func:`generalized_kernel`: a flat core with
    polynomial tails, between a box (motion / defocus disc) and a Gaussian."""
    k = 1.0 / (np.power(_mahalanobis(sigma_x, sigma_y, angle, size), beta) + 1.0)
    return k / k.sum()


def sinc_kernel(cutoff: float, size: int) -> np.ndarray:
    """Ideal circular low-pass (2-D ``sinc``, i.e. the jinc ``ωc J1(ωc r) / 2πr``) cut off at
    ``cutoff`` radians per pixel, truncated to ``size x size`` and normalised to sum 1.

    Its truncation ripples are the ringing and overshoot that sharpening and resampling
    filters leave around edges in real photos, which Gaussian-family blurs never produce.
    """
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    y, x = np.meshgrid(r, r, indexing="ij")
    dist = np.hypot(x, y)
    safe = np.where(dist == 0, 1.0, dist)
    j1 = torch.special.bessel_j1(torch.from_numpy(cutoff * safe)).numpy()
    k = np.where(dist == 0, cutoff**2 / (4 * math.pi), cutoff * j1 / (2 * math.pi * safe))
    return k / k.sum()


@lru_cache(maxsize=32)
def _load_kernel_cached(path: str, _mtime_ns: int, _size: int) -> np.ndarray:
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".npy":
            k = np.load(path, allow_pickle=False)
        elif suffix in {".png", ".bmp", ".tif", ".tiff", ".pgm"}:
            with Image.open(path) as img:
                if img.mode not in {"1", "L", "I", "F"} and not img.mode.startswith("I;16"):
                    raise DegradationError(f"kernel image {path} is {img.mode}, not grayscale")
                k = np.asarray(img)
        else:
            k = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DegradationError(f"cannot read kernel {path}: {msg}") from None
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        raise DegradationError(f"kernel {path} must be a non-empty 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise DegradationError(f"kernel {path} has non-finite values")
    total = k.sum()
    if total <= 0:
        raise DegradationError(f"kernel {path} sums to {total:g}; it must sum to > 0")
    k = k / total
    k.flags.writeable = False
    return k


def load_kernel(path: str | Path) -> np.ndarray:
    """Read a kernel (.npy, grayscale image, or whitespace-separated text), normalised to sum 1.

    Cached on (path, mtime, size) because every image of a pool asks for the same file.
    """
    try:
        st = Path(path).stat()
    except OSError as err:
        raise DegradationError(f"cannot read kernel {path}: {err.strerror}") from None
    return _load_kernel_cached(str(path), st.st_mtime_ns, st.st_size)


def _mirror_index(n: int, before: int, after: int) -> np.ndarray:
    """Indices of ``reflect`` padding (d c b | a b c d | c b a) for any pad width."""
    idx = np.arange(-before, n + after)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def convolve(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """True 2-D convolution of each channel of ``... x H x W`` with ``kernel``, same size out.

    Borders are reflected without repeating the edge pixel (scipy ``mode='mirror'``, OpenCV's
    default ``BORDER_REFLECT_101`` used by Real-ESRGAN, BSRGAN's ``mode='mirror'``): no dark
    frame as with zero padding, and no doubled edge pixel. ``conv2d`` is a correlation, so the
    kernel is flipped; kernel entry ``[a, b]`` lands ``(a - kh//2, b - kw//2)`` away from a
    source pixel, which is exactly ``scipy.ndimage.convolve``'s anchor, even sizes included.
    """
    kh, kw = kernel.shape
    shape = x.shape
    padded = _mirror_pad(x, kh, kw)
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    factors = _separable(flipped)
    if factors is not None:  # two 1-D passes: kh + kw taps per pixel instead of kh * kw
        column, row = (torch.from_numpy(f).to(x) for f in factors)
        out = F.conv2d(F.conv2d(padded, column.view(1, 1, kh, 1)), row.view(1, 1, 1, kw))
        return out.reshape(shape)
    weight = torch.from_numpy(flipped).to(x)
    return F.conv2d(padded, weight[None, None]).reshape(shape)


def _mirror_pad(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """``... x H x W`` as ``N x 1 x (H + kh - 1) x (W + kw - 1)``, reflected for a
    ``kh x kw`` kernel anchored as :func:`convolve` describes."""
    top, left = kh - 1 - kh // 2, kw - 1 - kw // 2
    rows = torch.from_numpy(_mirror_index(x.shape[-2], top, kh - 1 - top)).to(x.device)
    cols = torch.from_numpy(_mirror_index(x.shape[-1], left, kw - 1 - left)).to(x.device)
    return x.reshape(-1, 1, *x.shape[-2:]).index_select(-2, rows).index_select(-1, cols)


FFT_FROM = 11  # kernel side from which an FFT beats direct float32 conv2d on CPU


def convolve_fast(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """:func:`convolve` for float32 work where speed beats the last bits: large kernels
    that are not separable (rotated Gaussians, generalized, plateau, sinc) go through an FFT
    of the padded image, 3-4x faster than ``conv2d`` for 21 x 21 on CPU, equal to ~1e-6
    relative; the rest is :func:`convolve` itself."""
    kh, kw = kernel.shape
    if min(kh, kw) < FFT_FROM or _separable(np.ascontiguousarray(kernel[::-1, ::-1])) is not None:
        return convolve(x, kernel)
    shape = x.shape
    padded = _mirror_pad(x, kh, kw)
    size = padded.shape[-2:]
    weight = torch.from_numpy(np.ascontiguousarray(kernel)).to(x)
    spectrum = torch.fft.rfft2(padded, s=size) * torch.fft.rfft2(weight, s=size)
    full = torch.fft.irfft2(spectrum, s=size)  # circular; the valid part below wraps nothing
    return full[..., kh - 1 :, kw - 1 :].reshape(shape)


def _separable(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(column, row)`` with ``outer(column, row) == kernel`` to float64 rounding, or None.

    Isotropic Gaussians (and axis-aligned anisotropic ones) are rank 1. Float64 ``conv2d``
    has no fast CPU kernel, so a 25 x 25 blur of every training patch would cost more than
    the training step; two 1-D passes give the same values to ~1e-13 (relative).
    """
    if min(kernel.shape) < 2:
        return None
    u, s, vt = np.linalg.svd(kernel)
    if s[1] > 1e-12 * s[0]:
        return None
    scale = np.sqrt(s[0])
    column, row = u[:, 0] * scale, vt[0] * scale
    if np.abs(np.outer(column, row) - kernel).max() > 1e-13 * np.abs(kernel).max():
        return None
    return np.ascontiguousarray(column), np.ascontiguousarray(row)
