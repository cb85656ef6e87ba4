"""RGB <-> YCbCr exactly as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` (ITU-R BT.601, studio range).

SR papers score PSNR/SSIM on the Y channel of this transform. OpenCV's ``YCrCb`` is the
full-range JPEG formula and gives different numbers, so srmeta defines the transform once,
here, and every metric and report uses these functions.
"""

from __future__ import annotations

import torch

from srmeta.pixels import to_uint8

# Rows give Y, Cb, Cr from R, G, B in [0, 1]; results are on the 0..255 scale.
_RGB_TO_YCBCR = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
_OFFSET = (16.0, 128.0, 128.0)


def _matrix(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = like.dtype if like.is_floating_point() else torch.float64
    matrix = torch.tensor(_RGB_TO_YCBCR, dtype=dtype, device=like.device)
    offset = torch.tensor(_OFFSET, dtype=dtype, device=like.device)
    return matrix, offset


def _as_unit_float(rgb: torch.Tensor) -> torch.Tensor:
    return rgb.to(torch.float64) / 255.0 if rgb.dtype == torch.uint8 else rgb


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """RGB (``... x 3 x H x W``) to YCbCr.

    Float input in [0, 1] gives float YCbCr in [0, 1] (MATLAB's double path); uint8 input
    gives uint8 YCbCr, rounded as MATLAB does.
    """
    matrix, offset = _matrix(rgb)
    ycbcr255 = torch.einsum("ij,...jhw->...ihw", matrix, _as_unit_float(rgb))
    ycbcr255 = ycbcr255 + offset[:, None, None]
    return to_uint8(ycbcr255) if rgb.dtype == torch.uint8 else ycbcr255 / 255.0


def luma_weights() -> torch.Tensor:
    """The Y row of MATLAB's ``rgb2ycbcr`` for RGB and Y both in [0, 1] (float32, 3 values),
    without the 16/255 offset."""
    return torch.tensor([v / 255.0 for v in _RGB_TO_YCBCR[0]], dtype=torch.float32, device="cpu")


def rgb_to_y255(rgb: torch.Tensor) -> torch.Tensor:
    """The luma Y on the 0..255 scale as float64, unrounded (``... x 1 x H x W``).

    Accepts uint8 RGB or float RGB in [0, 1]; this is the Y that published evaluation
    scripts (RCAN's MATLAB code, EDSR, SwinIR, BasicSR) compute PSNR on.
    """
    unit = _as_unit_float(rgb).to(torch.float64)
    weights = torch.tensor(_RGB_TO_YCBCR[0], dtype=torch.float64, device=rgb.device)
    return (torch.einsum("j,...jhw->...hw", weights, unit) + _OFFSET[0]).unsqueeze(-3)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB's ``ycbcr2rgb``), same dtype rules."""
    matrix, offset = _matrix(ycbcr)
    inverse = torch.linalg.inv(matrix)
    ycbcr255 = _as_unit_float(ycbcr) * 255.0 - offset[:, None, None]
    rgb = torch.einsum("ij,...jhw->...ihw", inverse, ycbcr255)
    return to_uint8(rgb * 255.0) if ycbcr.dtype == torch.uint8 else rgb
