"""RFDN (Liu et al., ECCV 2020 workshops): residual feature distillation, ~0.43 M parameters.

Written so its state dict matches the official AIM 2020 efficient-SR winner
(``RFDN_AIM.pth`` of njulj/RFDN, a bare x4 state dict): those weights are an independent
oracle for the evaluation path, like IMDN's, PAN's and CARN-M's.

RFDN keeps IMDN's outer skeleton (:class:`~srmeta.models.layers.DistillationNetwork`) and
replaces its block. A residual feature distillation block (RFDB) distils at each of three
steps by a 1x1 conv (``c{i}_d``, half the channels) while a 3x3 conv with a skip
(``c{i}_r``) refines the full width and passes it on; ``c4`` (3x3) distils the last
refined features. The four distilled parts are concatenated, fused by a 1x1 conv (``c5``)
and reweighted by enhanced spatial attention (ESA). Every LeakyReLU has slope 0.05.

ESA (from RFANet, Liu et al., CVPR 2020) is spatial attention over a large field at little
cost: a 1x1 conv reduces the channels (``conv1``), a strided 3x3 conv and a 7x7 max pool
with stride 3 shrink the map about sixfold, convs refine it there (RFDN: ``conv_max``,
``conv3``, ``conv3_`` with ReLUs; RLFN keeps ``conv3`` alone), bilinear upsampling brings
it back, a 1x1 skip of the reduced features (``conv_f``) is added, and a 1x1 conv and a
sigmoid give a weight per channel and pixel. The mask depends on the whole image (the
pool's grid starts at the image's edge and the resize maps the coarse map onto the whole
image), so ESA is an image-wide layer (:mod:`srmeta.models.imagewide`): tiled on the torch
backend, the output equals the whole image's.

The AIM file works on RGB in [0, 255] with no mean shift (njulj/RFDN's ``uint2tensor4``
divides by 1, its ``tensor2uint`` clamps to 255; the NTIRE 2022 challenge runs the same
baseline with ``data_range`` 255): ``rgb_range`` 255, the default, converts srmeta's
[0, 1] on the way in and out. Fed [0, 1] the file scores 26.0 dB on Set5 x4, not 32.2.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from srmeta.models.detection import Detected, StateDict, detect_distillation
from srmeta.models.imagewide import ImageWide, Placement, bilinear_window
from srmeta.models.layers import DistillationNetwork, conv

NEGATIVE_SLOPE = 0.05
# The smallest reduced map the official ESA accepts: its unpadded stride-2 3x3 conv gives
# 7 rows from 15, the least the 7x7 pool takes.
_ESA_MIN_SIDE = 15


def _at_least(x: torch.Tensor, side: int) -> torch.Tensor:
    """``x`` extended at the bottom and right, by repeating its last row and column, to
    ``side`` pixels each way where it is smaller; unchanged (and so exact against the
    official code) where it is not. Only inputs too small for the official network at
    all (under 15 LR pixels a side) are padded, so every size has an output."""
    # sym_max, not max: no branch on the size, so an exported graph keeps dynamic sizes
    # (it returns an int for int arguments; its annotation does not say so).
    height, width = x.shape[-2:]
    grow_h, grow_w = (cast(int, torch.sym_max(side - n, 0)) for n in (height, width))
    return F.pad(x, (0, grow_w, 0, grow_h), mode="replicate")


class ESA(ImageWide):
    """Enhanced spatial attention; ``full``: RFDN's form (``conv_max`` and ``conv3_``).

    Image-wide (:mod:`~srmeta.models.imagewide`): tiles gather the strided conv's output,
    the one map the pool reads, at the positions whose input they compute exactly; pooled
    and refined once for the whole image, the coarse map is resized for each tile at its
    place, so tiled output equals whole-image output.
    """

    per_image = ("image", "strided", "covered", "coarse")

    def __init__(self, channels: int, reduced: int, full: bool = True) -> None:
        super().__init__()
        self.full = full
        self.conv1 = conv(channels, reduced, 1)
        self.conv_f = conv(reduced, reduced, 1)
        if full:
            self.conv_max = conv(reduced, reduced)
        self.conv2 = nn.Conv2d(reduced, reduced, 3, stride=2)
        self.conv3 = conv(reduced, reduced)
        if full:
            self.conv3_ = conv(reduced, reduced)
        self.conv4 = conv(reduced, channels, 1)

    def _refine(self, pooled: torch.Tensor) -> torch.Tensor:
        """The convs on the pooled map, at about a sixth of the image's size."""
        if self.full:
            coarse = F.relu(self.conv3(F.relu(self.conv_max(pooled))))
            return self.conv3_(coarse)
        return self.conv3(pooled)

    def _mask(self, x: torch.Tensor, coarse: torch.Tensor, reduced: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv4(coarse + self.conv_f(reduced)))

    def whole(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.conv1(x)
        pooled = F.max_pool2d(self.conv2(_at_least(reduced, _ESA_MIN_SIDE)), 7, stride=3)
        coarse = self._refine(pooled)
        coarse = F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self._mask(x, coarse, reduced)

    def local(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.conv1(x)
        return self._mask(x, torch.zeros_like(reduced), reduced)

    def start_gathering(self, image: tuple[int, int]) -> None:
        self.image = image
        self.strided: torch.Tensor | None = None  # made at the first tile: its device, dtype

    def gather(self, x: torch.Tensor, tiles: list[Placement]) -> None:
        reduced = self.conv1(x)
        strided = self.strided
        if strided is None:
            size = [(max(n, _ESA_MIN_SIDE) - 3) // 2 + 1 for n in self.image]
            strided = self.strided = reduced.new_zeros(reduced.shape[1], *size)
            self.covered = torch.zeros(size, dtype=torch.bool, device=reduced.device)
        for features, tile in zip(reduced, tiles, strict=True):
            rows = _strided_span(tile.top, x.shape[-2], tile.valid[:2], self.image[0])
            cols = _strided_span(tile.left, x.shape[-1], tile.valid[2:], self.image[1])
            if rows is None or cols is None:
                continue
            (a0, a1, r0, r1, pad_r), (b0, b1, c0, c1, pad_c) = rows, cols
            crop = F.pad(features[None, :, r0:r1, c0:c1], (0, pad_c, 0, pad_r), "replicate")
            strided[:, a0:a1, b0:b1] = self.conv2(crop)[0]
            self.covered[a0:a1, b0:b1] = True

    def settle(self) -> None:
        if self.strided is None or not bool(self.covered.all()):
            raise RuntimeError("tiles left part of an attention map ungathered")  # a bug
        self.coarse = self._refine(F.max_pool2d(self.strided[None], 7, stride=3))[0]
        self.strided = None

    def apply_context(self, x: torch.Tensor, tiles: list[Placement]) -> torch.Tensor:
        reduced = self.conv1(x)
        height, width = x.shape[-2:]
        coarse = torch.stack(
            [
                bilinear_window(
                    self.coarse, t.image, (t.top, t.top + height, t.left, t.left + width)
                )
                for t in tiles
            ]
        )
        return self._mask(x, coarse, reduced)


def _strided_span(
    start: int, length: int, valid: tuple[int, int], image: int
) -> tuple[int, int, int, int, int] | None:
    """Along one axis of a tile at ``start`` (``length`` pixels, exact on ``valid``): the
    stride-2 positions ``[a0, a1)`` whose 3-pixel input lies where the tile is exact, the
    tile's rows ``[r0, r1)`` that feed them, and the rows to add by replication (an image
    side under the 15 the official network pads to, which one tile then covers)."""
    end = max(image, _ESA_MIN_SIDE) if valid[1] == image else valid[1]
    a0, a1 = (valid[0] + 1) // 2, (end - 3) // 2 + 1
    if a1 <= a0:
        return None
    r0, r1 = 2 * a0 - start, 2 * a1 + 1 - start
    return a0, a1, r0, min(r1, length), max(r1 - length, 0)


class RFDB(nn.Module):
    """Residual feature distillation block: three distil/refine steps, ``c4``, ``c5``, ESA."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        distilled = channels // 2
        self.c1_d = conv(channels, distilled, 1)
        self.c1_r = conv(channels, channels)
        self.c2_d = conv(channels, distilled, 1)
        self.c2_r = conv(channels, channels)
        self.c3_d = conv(channels, distilled, 1)
        self.c3_r = conv(channels, channels)
        self.c4 = conv(channels, distilled)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.c5 = conv(4 * distilled, channels, 1)
        self.esa = ESA(channels, channels // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distilled = []
        refined = x
        for distil, refine in (
            (self.c1_d, self.c1_r),
            (self.c2_d, self.c2_r),
            (self.c3_d, self.c3_r),
        ):
            distilled.append(self.act(distil(refined)))
            refined = self.act(refine(refined) + refined)
        distilled.append(self.act(self.c4(refined)))
        return self.esa(self.c5(torch.cat(distilled, dim=1)))


class RFDN(DistillationNetwork):
    """Residual feature distillation network on RGB in [0, 1]."""

    def __init__(
        self, scale: int, n_feats: int = 50, n_modules: int = 4, rgb_range: float = 255.0
    ) -> None:
        super().__init__(
            scale, n_feats, lambda: RFDB(n_feats), n_modules, "B", fuse=True, rgb_range=rgb_range
        )


def build(scale: int, **options: Any) -> RFDN:  # options checked by the descriptor
    return RFDN(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """RFDN from ``fea_conv``, the distilling conv ``B1.c1_d`` and the fusion ``c``; the
    scale from the upsampler's channels. The pixel range is not in the weights: the
    default, the AIM release's [0, 255], comes back."""
    if "c.0.weight" not in state or "B1.esa.conv3_.weight" not in state:
        return None
    found = detect_distillation(state, "B", "c1_d.weight")
    if found is None:
        return None
    scale, n_feats, modules = found
    return scale, {"n_feats": n_feats, "n_modules": modules, "rgb_range": 255.0}
