"""Global motion between two views of one scene: a shift and a small zoom, to sub-pixel.

Real LR-HR pairs are two exposures (often through two lenses) lined up once by whoever made
them; what is left is a global misalignment of a fraction of a pixel to a few pixels, plus a
small magnification difference. :func:`estimate_motion` fits

    moving(x) ≈ gain * fixed(c + zoom * (x - c) + (dx, dy)) + offset

over the image (``c`` its centre), by Gauss-Newton (Lucas-Kanade) on Gaussian-smoothed
luma, started from the integer shift that phase correlation finds. Gain and offset absorb
exposure differences; the smoothing makes the fit see structure that survives a lens blur.
The normalised correlation of the two aligned images says whether they show the same view
at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from srmeta.color import rgb_to_y255
from srmeta.kernels import convolve, isotropic_kernel

_SMOOTH_SIGMA = 1.5  # pixels of the images compared
_BORDER = 6  # pixels left out of the fit on every side, beyond the motion itself
_ITERATIONS = 30
_FLAT = 0.5  # luma std (8-bit levels) below which an image has nothing to align on


@dataclass(frozen=True)
class Motion:
    """Where pixel ``x`` of the moving image lies in the fixed one: ``c + zoom(x - c) + d``."""

    dx: float
    dy: float
    zoom: float
    correlation: float

    def extent(self, size: tuple[int, int] | torch.Size) -> float:
        """The largest displacement over an image of ``size`` (height, width), in pixels."""
        h, w = size
        reach = abs(self.zoom - 1) * math.hypot(h - 1, w - 1) / 2
        return math.hypot(self.dx, self.dy) + reach

    def describe(self) -> str:
        return f"shift {self.dx:+.2f}, {self.dy:+.2f} px, zoom {self.zoom:.4f}"


def _luma(image: torch.Tensor) -> torch.Tensor:
    x = rgb_to_y255(image) if image.shape[0] == 3 else image[0].to(torch.float64)
    return x.to(torch.float64).reshape(image.shape[-2:])


def _smooth(x: torch.Tensor) -> torch.Tensor:
    size = 2 * int(3 * _SMOOTH_SIGMA + 0.5) + 1
    return convolve(x, isotropic_kernel(_SMOOTH_SIGMA, size))


def _integer_shift(moving: torch.Tensor, fixed: torch.Tensor) -> tuple[int, int]:
    """The whole-pixel ``(dx, dy)`` maximising the phase correlation of the two images."""
    a = torch.fft.rfft2(moving - moving.mean())
    b = torch.fft.rfft2(fixed - fixed.mean())
    cross = b * a.conj()
    surface = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-12), s=moving.shape)
    h, w = moving.shape
    row, col = divmod(int(surface.argmax()), w)
    return (col - w if col > w // 2 else col), (row - h if row > h // 2 else row)


def _sample(image: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, mode: str) -> torch.Tensor:
    """``image`` (``C x H x W``) at pixel coordinates ``xs``, ``ys`` (``H' x W'``)."""
    h, w = image.shape[-2:]
    grid = torch.stack((2 * xs / (w - 1) - 1, 2 * ys / (h - 1) - 1), dim=-1)[None]
    out = F.grid_sample(
        image[None].to(grid.dtype), grid, mode=mode, padding_mode="border", align_corners=True
    )
    return out[0]


def _grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    return xs, ys


def estimate_motion(moving: torch.Tensor, fixed: torch.Tensor) -> Motion:
    """The :class:`Motion` taking ``moving``'s pixels into ``fixed`` (both ``C x H x W``,
    same size, any dtype on the 0-255 scale)."""
    if moving.shape[-2:] != fixed.shape[-2:]:
        raise ValueError(f"sizes differ: {tuple(moving.shape)} and {tuple(fixed.shape)}")
    a, b = _smooth(_luma(moving)), _smooth(_luma(fixed))
    if min(float(a.std()), float(b.std())) < _FLAT:
        return Motion(0.0, 0.0, 1.0, 1.0)  # no structure: nothing to misalign, or to check
    h, w = a.shape
    xs, ys = _grid(h, w)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    dx, dy = (float(v) for v in _integer_shift(a, b))
    zoom, gain, offset = 1.0, 1.0, 0.0

    def warp(dx: float, dy: float, zoom: float) -> torch.Tensor:
        """``fixed`` seen through the motion: its value at each pixel's image under it."""
        px, py = cx + zoom * (xs - cx) + dx, cy + zoom * (ys - cy) + dy
        return _sample(b[None], px, py, "bilinear")[0]

    def margin(dx: float, dy: float, zoom: float) -> int:
        """Pixels left out on each side: the border plus how far the motion reaches."""
        return _BORDER + math.ceil(abs(dx) + abs(dy) + abs(zoom - 1) * max(h, w))

    for _ in range(_ITERATIONS):
        warped = warp(dx, dy, zoom)
        gx = torch.zeros_like(warped)
        gy = torch.zeros_like(warped)
        gx[:, 1:-1] = (warped[:, 2:] - warped[:, :-2]) / 2
        gy[1:-1, :] = (warped[2:, :] - warped[:-2, :]) / 2
        m = margin(dx, dy, zoom)
        inside = (slice(m, h - m), slice(m, w - m))
        if h - 2 * m < 4 or w - 2 * m < 4:
            break
        columns = [
            gain * gx,
            gain * gy,
            gain * (gx * (xs - cx) + gy * (ys - cy)),
            warped,
            torch.ones_like(warped),
        ]
        jac = torch.stack([c[inside].reshape(-1) for c in columns], dim=1)
        residual = (gain * warped + offset - a)[inside].reshape(-1)
        step = torch.linalg.lstsq(jac, -residual[:, None]).solution[:, 0]
        dx, dy = dx + float(step[0]), dy + float(step[1])
        zoom, gain, offset = zoom + float(step[2]), gain + float(step[3]), offset + float(step[4])
        if float(step[:2].abs().max()) < 1e-4 and abs(float(step[2])) * max(h, w) < 1e-4:
            break
    m = min(margin(dx, dy, zoom), h // 4, w // 4)
    warped = warp(dx, dy, zoom)
    inside = (slice(m, h - m), slice(m, w - m))
    u, v = a[inside] - a[inside].mean(), warped[inside] - warped[inside].mean()
    correlation = float((u * v).sum() / (u.norm() * v.norm()).clamp_min(1e-12))
    return Motion(dx, dy, zoom, correlation)


def warp_onto(moving: torch.Tensor, motion: Motion) -> torch.Tensor:
    """``moving`` (uint8 ``C x H x W``) resampled (bicubic) onto the fixed image's grid:
    the pixel at ``y`` of the result is ``moving`` at the motion's inverse of ``y``."""
    h, w = moving.shape[-2:]
    xs, ys = _grid(h, w)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    src_x = cx + (xs - cx - motion.dx) / motion.zoom
    src_y = cy + (ys - cy - motion.dy) / motion.zoom
    out = _sample(moving.to(torch.float64), src_x, src_y, "bicubic")
    return out.round().clamp(0, 255).to(torch.uint8)
