"""Where to look in an image: the window in which the models' errors differ most, cut out
of HR and of every method's output, as small PNGs for the report.

The per-pixel error is on the luma (the Y the scores are computed on), so a window is
chosen for what PSNR measures. The spread at a pixel is the largest minus the smallest
error among the compared methods; the window is the one with the largest summed spread,
found for every position at once with an integral image (no loop over windows).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from srmeta.color import rgb_to_y255
from srmeta.data.benchmarks import as_rgb
from srmeta.report.comparison import CropPanel, CropView, ImageKey

THUMBNAIL_SIDE = 192
"""The longer side of the whole-image thumbnail that shows where the window is."""


def luma(image: torch.Tensor) -> np.ndarray:
    """Y on 0..255 (float64, ``H x W``) of a uint8 ``C x H x W`` image (gray replicated)."""
    return rgb_to_y255(as_rgb(image))[0].numpy()


def spread_map(errors: Sequence[np.ndarray]) -> np.ndarray:
    """Per pixel, the largest minus the smallest of the error maps; one map is its own."""
    stack = np.stack([np.asarray(e, dtype=np.float64) for e in errors])
    return stack[0] if len(stack) == 1 else stack.max(axis=0) - stack.min(axis=0)


def window_sums(values: np.ndarray, side: int) -> np.ndarray:
    """``out[t, l] = values[t : t + side, l : l + side].sum()`` for every window inside."""
    h, w = values.shape
    if not 1 <= side <= min(h, w):
        raise ValueError(f"window {side} does not fit in {h}x{w}")
    total = np.zeros((h + 1, w + 1), dtype=np.float64)
    total[1:, 1:] = values.astype(np.float64).cumsum(axis=0).cumsum(axis=1)
    return total[side:, side:] - total[:-side, side:] - total[side:, :-side] + total[:-side, :-side]


def best_window(values: np.ndarray, side: int) -> tuple[int, int]:
    """(top, left) of the ``side`` square with the largest sum (the first, row by row, on
    ties)."""
    sums = window_sums(values, side)
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left)


def png_bytes(image: torch.Tensor) -> bytes:
    """A uint8 ``C x H x W`` image as PNG bytes (gray stays gray)."""
    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def thumbnail(image: torch.Tensor, side: int = THUMBNAIL_SIDE) -> bytes:
    """The whole image, its longer side shrunk to ``side``, as PNG bytes."""
    picture = Image.fromarray(as_rgb(image).permute(1, 2, 0).numpy())
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def crop_view(
    key: ImageKey,
    hr: torch.Tensor,
    outputs: Mapping[str, torch.Tensor],
    side: int,
    spread_over: Sequence[str],
    border: int = 0,
) -> CropView:
    """The ``side`` window where the luma errors of the outputs named in ``spread_over``
    differ most, cut out of ``hr`` and of every output (uint8 ``C x H x W``, in the order
    given), with each output's Y-PSNR inside the window. The window stays ``border`` px
    inside the edges (the pixels scores leave out) and shrinks to fit if it must."""
    y_hr = luma(hr)
    y_out = {label: luma(image) for label, image in outputs.items()}
    errors = [np.abs(y_out[label] - y_hr) for label in spread_over]
    height, width = y_hr.shape
    border = min(border, (min(height, width) - 1) // 2)
    inner = spread_map(errors)[border : height - border, border : width - border]
    side = min(side, *inner.shape)
    top, left = (border + offset for offset in best_window(inner, side))
    window = (slice(top, top + side), slice(left, left + side))
    rows, cols = window
    panels = [CropPanel("HR", png_bytes(as_rgb(hr)[:, rows, cols]), None)]
    for label, image in outputs.items():
        psnr = _psnr(y_out[label][window], y_hr[window])
        panels.append(CropPanel(label, png_bytes(as_rgb(image)[:, rows, cols]), psnr))
    return CropView(key, top, left, side, height, width, thumbnail(hr), panels)
