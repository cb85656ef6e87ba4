"""EDSR (Lim et al., CVPRW 2017): plain residual blocks without batch norm, one long skip.

Head conv, ``n_resblocks`` blocks of conv-ReLU-conv (output scaled by ``res_scale``, which
the paper sets to 0.1 only for its wide 32 x 256 model to keep training stable), a body conv
closing the long skip, the pixel-shuffle upsampler and a tail conv. The DIV2K mean is
subtracted before and added after, as in EDSR's MeanShift. Defaults are EDSR-baseline
(16 blocks x 64 features, 1,517,571 parameters at x4). The key layout (``head.0``,
``body.i.body.0``, ``tail.0``, ``tail.1``) follows the official code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srmeta.models.detection import Detected, StateDict, indices, out_channels, upsampler_scale
from srmeta.models.layers import MeanShiftedResidualSR, conv


class ResBlock(nn.Module):
    """conv-ReLU-conv with a scaled identity skip."""

    def __init__(self, n_feats: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(n_feats, n_feats), nn.ReLU(inplace=True), conv(n_feats, n_feats)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class EDSR(MeanShiftedResidualSR):
    """Enhanced deep residual network on RGB in [0, 1]."""

    def __init__(
        self, scale: int, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0
    ) -> None:
        blocks: list[nn.Module] = [ResBlock(n_feats, res_scale) for _ in range(n_resblocks)]
        super().__init__(scale, n_feats, blocks)


def build(scale: int, **options: Any) -> EDSR:  # options checked by the descriptor
    return EDSR(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """EDSR from ``body.i.body.0`` blocks. ``res_scale`` is not in the weights and is
    reported as the default (1.0); files saved by srmeta carry it in metadata."""
    if "head.0.weight" not in state or "tail.1.weight" not in state:
        return None
    blocks = [i for i in indices(state, "body.") if f"body.{i}.body.0.weight" in state]
    n_feats = out_channels(state, "head.0.weight")
    scale = upsampler_scale(state, "tail.0.", n_feats)
    if not blocks or scale is None:
        return None
    return scale, {"n_resblocks": len(blocks), "n_feats": n_feats, "res_scale": 1.0}
