"""The real-world benchmark's artifact measures: texture a model puts where the truth is
flat, and the LR's JPEG block grid sharpened into the output.

Both are measured from each image's ground truth and SR output as scored (uint8, the
protocol's border of S pixels cropped, Y = BT.601 luma on 0..255 in float64; filters pad by
mirroring without repeating the edge pixel, numpy's ``reflect``):

* *flat mask*: HR pixels whose HR Y has a population standard deviation below
  :data:`FLAT_STD` = 2 gray levels in the :data:`FLAT_WINDOW` = 7 x 7 window around them.
  Flat in the truth, so any texture the SR puts there is an artifact (noise left in, ringing,
  block edges). About 15% of the pixels of these sets are flat.
* *flat-region HF energy*: HF = SR Y minus its 5 x 5 Gaussian blur (sigma 1, taps normalised
  to sum 1); energy = mean of HF^2 over the flat pixels, pooled over a dataset's images (sum
  of HF^2 over all flat pixels / their count, so an image with a handful of flat pixels does
  not weigh as much as one with a sky). A model *passes* on a cell when its energy is at most
  bicubic's on the same inputs.
* *blockiness*: the LR's JPEG blocks are 8 x 8 LR pixels from the LR's corner, so their
  edges fall between HR columns (rows) ``8S*k - 1`` and ``8S*k``. Blockiness = mean |Y
  difference| of horizontally and vertically adjacent SR pixels that straddle such an edge
  divided by the mean over the other pairs of the same phase, those straddling the edge
  between two LR pixels' footprints (``S*k - 1 | S*k``) but no block edge; both pixels of a
  pair flat; pooled over the dataset like the energy. The same phase, not all other pairs,
  because every upscaler has a period-S structure: bicubic's steepest slope is midway
  between LR samples, so against all pairs clean bicubic LR upscaled by bicubic scores 1.5
  on Set14 x4, against the same phase 1.06. A model that sharpens the blocks is above
  bicubic. Only the final JPEG of ``realistic`` is on that grid. Many HR photos were JPEGs
  themselves, and their own 8-pixel grid holds the LR's 8S one, so the ground truth is a
  little above 1 (1.09 to 1.28 on these sets at x4).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

import numpy as np
import torch

FLAT_WINDOW = 7
FLAT_STD = 2.0
HF_SIZE = 5
HF_SIGMA = 1.0
JPEG_BLOCK = 8


def filter_separable(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``image`` (H x W, float64) filtered by ``taps`` along both axes (odd length), mirror
    padded without edge repeat, same size out."""
    half = len(taps) // 2
    padded = np.pad(image, half, mode="reflect")
    height, width = image.shape
    rows = sum(t * padded[:, k : k + width] for k, t in enumerate(taps))
    return sum(t * rows[k : k + height, :] for k, t in enumerate(taps))


def gaussian_taps(size: int = HF_SIZE, sigma: float = HF_SIGMA) -> np.ndarray:
    """1-D Gaussian taps summing to 1; their outer product is the normalised 2-D kernel."""
    x = np.arange(size, dtype=np.float64) - size // 2
    taps = np.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()


def flat_mask(hr_y: np.ndarray, window: int = FLAT_WINDOW, limit: float = FLAT_STD) -> np.ndarray:
    """Pixels whose ``window`` x ``window`` neighbourhood of ``hr_y`` has a population
    standard deviation below ``limit`` (gray levels)."""
    box = np.full(window, 1.0 / window)
    mean = filter_separable(hr_y, box)
    variance = np.maximum(filter_separable(hr_y * hr_y, box) - mean * mean, 0.0)
    return variance < limit * limit


def high_pass(y: np.ndarray) -> np.ndarray:
    """``y`` minus its 5 x 5 Gaussian blur (sigma 1): the detail a sharpening model adds."""
    return y - filter_separable(y, gaussian_taps())


def flat_hf_sums(sr_y: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(sum of HF^2 over the mask, mask pixels): pooled over images before dividing."""
    hf = high_pass(sr_y)
    return float(np.sum(hf[mask] ** 2)), int(mask.sum())


def block_edges(length: int, scale: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """For the ``length - 1`` differences ``y[i + 1] - y[i]`` of a cropped line (``offset``
    pixels were cropped before index 0): whether the pair straddles an LR JPEG block edge
    (uncropped index ``8 * scale * k``), and whether it straddles only an LR pixel edge
    (``scale * k``, not a block edge): the pairs of the same phase to compare with."""
    index = np.arange(1, length) + offset
    edge = index % (JPEG_BLOCK * scale) == 0
    return edge, (index % scale == 0) & ~edge


def blockiness_sums(
    sr_y: np.ndarray, mask: np.ndarray, scale: int, offset: int
) -> tuple[float, int, float, int]:
    """(sum |difference| across block edges, their count, the same for the same-phase pairs
    off the block edges, count), over horizontal and vertical neighbour pairs whose two
    pixels are both in ``mask``."""
    sums = [0.0, 0, 0.0, 0]
    for axis in (0, 1):
        diff = np.abs(np.diff(sr_y, axis=axis))
        both = mask[1:, :] & mask[:-1, :] if axis == 0 else mask[:, 1:] & mask[:, :-1]
        for i, line in zip((0, 2), block_edges(sr_y.shape[axis], scale, offset), strict=True):
            where = both & (line[:, None] if axis == 0 else line[None, :])
            sums[i] += float(diff[where].sum())
            sums[i + 1] += int(where.sum())
    return sums[0], sums[1], sums[2], sums[3]


def blockiness(sr_y: np.ndarray, mask: np.ndarray, scale: int, offset: int) -> float:
    """Mean |difference| across block edges over that at the same phase elsewhere (NaN
    without both)."""
    return ratio_of_means(*blockiness_sums(sr_y, mask, scale, offset))


def ratio_of_means(edge_sum: float, edges: int, other_sum: float, others: int) -> float:
    if edges == 0 or others == 0 or other_sum == 0:
        return math.nan
    return (edge_sum / edges) / (other_sum / others)


@dataclass(frozen=True)
class Artifacts:
    """One image's sums, kept so a dataset pools them (see the module docstring)."""

    flat_pixels: int
    hf_sum: float
    edge_sum: float
    edges: int
    other_sum: float
    others: int

    def __add__(self, other: Artifacts) -> Artifacts:
        return Artifacts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def flat_hf(self) -> float:
        return self.hf_sum / self.flat_pixels if self.flat_pixels else math.nan

    @property
    def blockiness(self) -> float:
        return ratio_of_means(self.edge_sum, self.edges, self.other_sum, self.others)


NONE = Artifacts(0, 0.0, 0.0, 0, 0.0, 0)


def image_y(image: torch.Tensor, border: int) -> np.ndarray:
    """The Y the metrics see: uint8 (a float SR in [0, 1] quantised), border cropped."""
    from srmeta.metrics import crop_border, luma
    from srmeta.pixels import quantize

    if image.dtype != torch.uint8:
        image = quantize(image)
    return luma(crop_border(image, border))[0].numpy()


def artifacts_of(y: np.ndarray, mask: np.ndarray, scale: int, border: int) -> Artifacts:
    hf_sum, flat = flat_hf_sums(y, mask)
    return Artifacts(flat, hf_sum, *blockiness_sums(y, mask, scale, border))
