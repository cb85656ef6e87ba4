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
sigmoid give a weight per channel and pixel. The pool's window makes the mask depend on
where the image's edges are, so tiles cannot reproduce it exactly: tiled inference is
cross-faded (the receptive field is measured as unbounded).

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


class ESA(nn.Module):
    """Enhanced spatial attention; ``full``: RFDN's form (``conv_max`` and ``conv3_``)."""

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.conv1(x)
        coarse = F.max_pool2d(self.conv2(_at_least(reduced, _ESA_MIN_SIDE)), 7, stride=3)
        if self.full:
            coarse = F.relu(self.conv3(F.relu(self.conv_max(coarse))))
            coarse = self.conv3_(coarse)
        else:
            coarse = self.conv3(coarse)
        coarse = F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(coarse + self.conv_f(reduced)))


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
