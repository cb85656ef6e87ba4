"""RLFN (Kong et al., CVPR 2022 workshops): residual local feature network, ~0.32 M parameters.

Written so its state dict matches the NTIRE 2022 efficient-SR winner as the challenge
released it (``team04_rlfn.pth`` of ofsoundof/NTIRE2022_ESR, ``RLFN_cut``: 4 blocks of 46
features, 48 inside): an independent oracle for the evaluation path, like IMDN's.

RLFN strips RFDN down for speed: the skeleton
(:class:`~srmeta.models.layers.DistillationNetwork`) loses the fusion over all blocks
(``LR_conv`` takes the last block's output), and a residual local feature block (RLFB) is
three 3x3 convs with LeakyReLU (slope 0.05; ``c1_r``, ``c2_r`` widen to ``mid_feats`` and
``c3_r`` narrows back) plus the block's input, a 1x1 conv (``c5``) and ESA in its short
form (:class:`~srmeta.models.rfdn.ESA` without ``conv_max``/``conv3_``, ``esa_feats``
channels). The ESA mask depends on the whole image: an image-wide layer, which tiles
reproduce exactly on the torch backend (:mod:`srmeta.models.imagewide`).

The challenge weights work on RGB in [0, 255] (the challenge's test script runs them with
``data_range`` 255, ByteDance's own multiplies by 255; no mean shift): ``rgb_range`` 255,
the default, converts srmeta's [0, 1] on the way in and out. ByteDance's own repository
(bytedance/RLFN: the 6-block paper networks and its copy of this one) names the same layers
``conv_1``, ``block_i``, ``conv_2``; its files are not recognised.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srmeta.models.detection import Detected, StateDict, detect_distillation, out_channels
from srmeta.models.layers import DistillationNetwork, conv
from srmeta.models.rfdn import ESA, NEGATIVE_SLOPE


class RLFB(nn.Module):
    """Residual local feature block: three 3x3 convs and a skip, then ``c5`` and ESA."""

    def __init__(self, channels: int, mid_feats: int, esa_feats: int) -> None:
        super().__init__()
        self.c1_r = conv(channels, mid_feats)
        self.c2_r = conv(mid_feats, mid_feats)
        self.c3_r = conv(mid_feats, channels)
        self.c5 = conv(channels, channels, 1)
        self.esa = ESA(channels, esa_feats, full=False)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.c1_r(x))
        out = self.act(self.c2_r(out))
        out = self.act(self.c3_r(out))
        return self.esa(self.c5(out + x))


class RLFN(DistillationNetwork):
    """Residual local feature network on RGB in [0, 1]."""

    def __init__(
        self,
        scale: int,
        n_feats: int = 46,
        mid_feats: int = 48,
        n_blocks: int = 4,
        esa_feats: int = 16,
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__(
            scale,
            n_feats,
            lambda: RLFB(n_feats, mid_feats, esa_feats),
            n_blocks,
            prefix="B",
            fuse=False,
            rgb_range=rgb_range,
        )


def build(scale: int, **options: Any) -> RLFN:  # options checked by the descriptor
    return RLFN(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """RLFN from ``fea_conv`` and a block of ``c1_r``, ``c5`` and ESA without RFDN's
    distilling convs (``B1.c1_d``) or fusion (``c``); widths from ``c1_r`` and the ESA's
    ``conv1``, the scale from the upsampler's channels. The pixel range is not in the
    weights: the default, the challenge release's [0, 255], comes back."""
    if "B1.c1_d.weight" in state or "c.0.weight" in state:  # RFDN's distillation, fusion
        return None
    if not all(key in state for key in ("B1.c5.weight", "B1.esa.conv1.weight")):
        return None
    found = detect_distillation(state, "B", "c1_r.weight")
    if found is None:
        return None
    scale, n_feats, blocks = found
    options: dict[str, object] = {
        "n_feats": n_feats,
        "mid_feats": out_channels(state, "B1.c1_r.weight"),
        "n_blocks": blocks,
        "esa_feats": out_channels(state, "B1.esa.conv1.weight"),
        "rgb_range": 255.0,
    }
    return scale, options
