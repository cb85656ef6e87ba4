"""Seeded corruption of HR training *targets*: label noise of a known kind, amount and place.

A weighting strategy that works should give less weight to samples whose target is wrong.
Testing that needs wrong targets whose identity is known, so the corruption is a pure
function of ``data.train.corrupt`` and the pool, recorded with the run, never a side effect
of loader state.

Which images (of the ``N`` in the pool, after skips and held-out meta images): ``k =
round(fraction * N)`` (Python's ``round``: halves to even) indices drawn without replacement
by ``default_rng(SeedSequence([seed, CORRUPT_STREAM])).choice(N, k, replace=False)``.

How image ``i`` is corrupted: once, whole, at load time, from
``default_rng(SeedSequence([seed, i, CORRUPT_STREAM]))``, on float64 0..255 values, in the
order blur, shift, noise, jpeg:

- ``blur``: convolution with the isotropic Gaussian of that sigma (the degradation model's
  kernel and support, mirror borders), so a blurred target is what ``blur:iso:σ`` would see;
- ``shift``: draws the distance ``d`` uniform in ``[low, high]`` then one of
  :data:`DIRECTIONS`; the target becomes ``T'[y, x] = T[clamp(y + dy), clamp(x + dx)]``
  (edge pixels replicated), i.e. a misregistered pair;
- ``noise``: adds ``sigma`` times a standard-normal field (one draw per value, C x H x W);
- then the image is rounded to uint8 (:func:`srmeta.pixels.to_uint8`), and ``jpeg``
  round-trips it through Pillow at that quality.

Only the kinds configured draw, in that order, so the draws of one kind do not depend on
whether a kind after it is configured.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from srmeta.config import CorruptConfig
from srmeta.degrade import jpeg_roundtrip
from srmeta.degradespec import Blur
from srmeta.kernels import convolve, isotropic_kernel
from srmeta.pixels import to_uint8

CORRUPT_STREAM = 0x636F7272  # "corr": keeps corruption draws apart from batch and meta draws
DIRECTIONS: tuple[tuple[int, int], ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))
"""Unit ``(dy, dx)`` a shift's direction draw (0..3) indexes."""


def corrupted_indices(pool_size: int, cfg: CorruptConfig) -> list[int]:
    """The sorted pool indices whose targets ``cfg`` corrupts (module docstring)."""
    if pool_size < 0:
        raise ValueError(f"pool size must be >= 0, got {pool_size}")
    count = round(cfg.fraction * pool_size)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, CORRUPT_STREAM]))
    return sorted(int(i) for i in rng.choice(pool_size, count, replace=False))


def shift_image(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``out[..., y, x] = image[..., clamp(y + dy), clamp(x + dx)]``: edge-replicated shift.

    Replicating the edge (not wrapping) keeps every target pixel a plausible image value and
    moves no content from one border to the other.
    """
    height, width = image.shape[-2:]
    rows = torch.arange(height, device=image.device).add(dy).clamp(0, height - 1)
    cols = torch.arange(width, device=image.device).add(dx).clamp(0, width - 1)
    return image.index_select(-2, rows).index_select(-1, cols)


def corrupt_image(
    image: torch.Tensor, cfg: CorruptConfig, index: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Pool image ``index`` (uint8 ``C x H x W``) corrupted by ``cfg``, and what was drawn.

    The returned parameters (JSON-safe: ``blur`` sigma, ``shift`` as ``[dy, dx]``, ``noise``
    sigma, ``jpeg`` quality, for the kinds configured) let a run's record say exactly what
    each corrupted target is.
    """
    if image.dtype != torch.uint8 or image.dim() != 3:
        raise ValueError(f"expected a uint8 C x H x W image, got {image.dtype} {image.shape}")
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index, CORRUPT_STREAM]))
    params: dict[str, Any] = {}
    x = image.to(torch.float64)
    if cfg.blur is not None:
        size = Blur(kind="iso", sigma=(cfg.blur, cfg.blur)).kernel_size
        x = convolve(x, isotropic_kernel(cfg.blur, size))
        params["blur"] = cfg.blur
    if cfg.shift is not None:
        low, high = cfg.shift
        distance = int(rng.integers(low, high + 1))
        uy, ux = DIRECTIONS[int(rng.integers(len(DIRECTIONS)))]
        dy, dx = uy * distance, ux * distance
        x = shift_image(x, dy, dx)
        params["shift"] = [dy, dx]
    if cfg.noise is not None:
        field = torch.from_numpy(rng.standard_normal(tuple(x.shape))).to(x.device)
        x = x + cfg.noise * field
        params["noise"] = cfg.noise
    out = to_uint8(x)
    if cfg.jpeg is not None:
        out = jpeg_roundtrip(out, cfg.jpeg)
        params["jpeg"] = cfg.jpeg
    return out.contiguous(), params
