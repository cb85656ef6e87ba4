"""Bicubic interpolation as a zero-parameter model, scored like any network.

Like MATLAB's ``imresize``, the input's type decides the arithmetic: a uint8 LR image is
resized with rounding after each 1-D pass and comes back uint8 (exactly MATLAB's
``imresize(LR_uint8, s)``, the "bicubic" of every SR table); a float image is resized in
its own precision, differentiably. Its descriptor declares ``accepts_uint8``, so the
evaluator passes the 8-bit LR as is.
"""

from __future__ import annotations

import torch
from torch import nn

from srmeta.resize import imresize


class Bicubic(nn.Module):
    """MATLAB-bicubic upsampling of ``B x C x H x W`` images by an integer ``scale``."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return imresize(lr, float(self.scale))


def build(scale: int) -> Bicubic:
    return Bicubic(scale)
