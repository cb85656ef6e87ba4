"""FSRCNN (Dong et al., ECCV 2016): an hourglass CNN at LR resolution and a deconvolution.

conv5x5(d)-PReLU, shrink conv1x1(s)-PReLU, m x conv3x3(s)-PReLU, expand conv1x1(d)-PReLU,
deconv 9x9 with stride = scale. Defaults are the paper's FSRCNN(56, 12, 4); FSRCNN-s is
``d=32, s=5, m=1``. Here it maps RGB to RGB (the paper works on Y only).

The deconvolution's padding 4 and ``output_padding = scale - 1`` make the output exactly
``scale * H x scale * W``: ``(H - 1) s - 8 + 9 + (s - 1) = s H``. Its kernel shape does not
depend on the scale, so the scale of a bare FSRCNN state dict cannot be detected.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srmeta.models.detection import Detected, StateDict, indices
from srmeta.models.layers import conv


def _conv_prelu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(conv(in_channels, out_channels, kernel_size), nn.PReLU(out_channels))


class FSRCNN(nn.Module):
    """Fast SRCNN on RGB in [0, 1]: ``d`` feature, ``s`` shrunk channels, ``m`` maps."""

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.feature = _conv_prelu(3, d, 5)
        self.shrink = _conv_prelu(d, s, 1)
        self.mapping = nn.Sequential(*[_conv_prelu(s, s, 3) for _ in range(m)])
        self.expand = _conv_prelu(s, d, 1)
        self.deconv = nn.ConvTranspose2d(d, 3, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.mapping(self.shrink(self.feature(x))))
        return self.deconv(y)


def build(scale: int, **options: Any) -> FSRCNN:  # options checked by the descriptor
    return FSRCNN(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """FSRCNN from its layer names; the scale is unknown (None), see the module docstring."""
    needed = ("feature.0.weight", "shrink.0.weight", "expand.0.weight", "deconv.weight")
    if not all(key in state for key in needed):
        return None
    d = int(state["feature.0.weight"].shape[0])
    s = int(state["shrink.0.weight"].shape[0])
    m = len(indices(state, "mapping."))
    return None, {"d": d, "s": s, "m": m}
