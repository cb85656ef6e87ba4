"""MATLAB-compatible bicubic ``imresize`` in torch.

Published SR tables are computed on LR images made by MATLAB's ``imresize(HR, 1/s,
'bicubic')``; PIL and OpenCV bicubic differ from it (kernel a=-0.5 vs -0.75, no antialiasing,
other borders) by several tenths of a dB. This module follows MATLAB's algorithm step by
step so that it reproduces MATLAB-made LR files bit for bit:

- cubic kernel with a = -0.5, stretched by the scale when shrinking (antialiasing);
- sample positions ``u = x / scale + 0.5 * (1 - 1 / scale)`` for 1-based output index ``x``;
- symmetric borders that repeat the edge pixel;
- one dimension at a time, the dimension with the smaller scale first (height on ties);
- for uint8 input, saturate and round halves away from zero after *each* 1-D pass.

Float input is resized in its own dtype without clamping; the operation is a gather and a
weighted sum, so it is batched and differentiable.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from srmeta.pixels import to_uint8

KERNEL_WIDTH = 4.0


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def output_length(in_length: int, scale: float) -> int:
    """Output length for a scale factor, as MATLAB: ``ceil(scale * N)``."""
    return math.ceil(scale * in_length)


@lru_cache(maxsize=256)
def contributions(
    in_length: int, out_length: int, scale: float, antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Taps and weights of a 1-D MATLAB bicubic resize.

    Returns ``(indices, weights)``, both ``out_length x P``: output pixel ``i`` is
    ``sum_k weights[i, k] * input[indices[i, k]]`` (0-based indices, borders mirrored).
    Taps whose weight is zero for every output pixel are dropped, as MATLAB does.
    """
    if in_length < 1 or out_length < 1:
        raise ValueError(f"resize lengths must be positive, got {in_length} -> {out_length}")
    shrink = scale < 1 and antialias
    width = KERNEL_WIDTH / scale if shrink else KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if shrink else cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    idx = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    return idx[:, keep], weights[:, keep]


def _resize_dim(x: torch.Tensor, dim: int, out_length: int, scale: float, antialias: bool):
    """One 1-D pass along ``dim`` (-1 or -2) of a float tensor.

    Taps are accumulated one at a time, in MATLAB's order, so memory stays at the size of
    the output (a gather of all taps at once holds P copies of it and runs 2x slower).
    """
    idx_np, w_np = contributions(x.shape[dim], out_length, scale, antialias)
    idx = torch.from_numpy(idx_np).to(x.device)
    weights = torch.from_numpy(w_np).to(device=x.device, dtype=x.dtype)
    shape = (-1, 1) if dim == -2 else (-1,)
    out = x.index_select(dim, idx[:, 0]) * weights[:, 0].view(shape)
    for k in range(1, idx.shape[1]):
        out = out + x.index_select(dim, idx[:, k]) * weights[:, k].view(shape)
    return out


def imresize(
    image: torch.Tensor,
    scale: float | tuple[float, float] | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize like MATLAB's ``imresize(image, scale_or_size, 'bicubic')``.

    Args:
        image: ``H x W``, ``C x H x W`` or ``B x C x H x W``; uint8 (MATLAB's uint8 path:
            rounding after each pass, uint8 out) or floating point (no clamping, same dtype).
        scale: one factor for both dimensions, or ``(scale_h, scale_w)``. Output lengths are
            ``ceil(scale * N)``.
        size: output ``(height, width)`` instead of a scale; the kernel then uses
            ``scale = out / in`` per dimension.
        antialias: stretch the kernel when shrinking (MATLAB's default).
    """
    if size is not None and scale is None:
        in_h, in_w = image.shape[-2:]
        out_h, out_w = int(size[0]), int(size[1])
        scale_h, scale_w = out_h / in_h, out_w / in_w
    elif scale is not None and size is None:
        in_h, in_w = image.shape[-2:]
        scale_h, scale_w = (scale, scale) if isinstance(scale, (int, float)) else scale
        if scale_h <= 0 or scale_w <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        out_h, out_w = output_length(in_h, scale_h), output_length(in_w, scale_w)
    else:
        raise ValueError("give exactly one of scale or size")

    is_uint8 = image.dtype == torch.uint8
    if not (is_uint8 or image.is_floating_point()):
        raise TypeError(f"imresize takes uint8 or floating point tensors, not {image.dtype}")
    x = image.to(torch.float64) if is_uint8 else image
    # MATLAB: dimensions in order of increasing scale; a stable sort keeps height first on ties.
    passes = [(-2, out_h, scale_h), (-1, out_w, scale_w)]
    passes.sort(key=lambda p: p[2])
    for dim, out_length, dim_scale in passes:
        if out_length == x.shape[dim] and dim_scale == 1:
            continue
        x = _resize_dim(x, dim, out_length, dim_scale, antialias)
        if is_uint8:
            x = to_uint8(x).to(torch.float64)
    return x.to(torch.uint8) if is_uint8 else x
