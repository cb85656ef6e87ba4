"""Bicubic interpolation as a zero-parameter model, scored like any network.

Like MATLAB's ``imresize``, the input's type decides the arithmetic: a uint8 LR image is
resized with rounding after each 1-D pass and comes back uint8 (exactly MATLAB's
``imresize(LR_uint8, s)``, the "bicubic" of every SR table); a float image is resized in
its own precision, differentiably. Its descriptor declares ``accepts_uint8``, so the
evaluator passes the 8-bit LR as is.

float32 images (what upscaling and exported graphs run) go through the polyphase form
(:mod:`polyphase`: one fixed convolution and a pixel shuffle, the same numbers as
``imresize`` to float32 rounding) rather than ``imresize`` itself: ``imresize`` computes its
taps in NumPy from the input's size, which an exported graph (ONNX, OpenVINO) freezes at
the size it was traced at, so every other size came out wrong (grid lines and noise) or
failed to export at all. Other dtypes keep ``imresize``'s own arithmetic.
"""

from __future__ import annotations

import torch
from torch import nn

from srmeta.models.polyphase import BicubicUpsample
from srmeta.resize import imresize


class Bicubic(nn.Module):
    """MATLAB-bicubic upsampling of ``B x C x H x W`` images by an integer ``scale``."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.upsample = BicubicUpsample(scale)  # no weights: its taps are a fixed buffer

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        if lr.dtype == torch.float32:
            return self.upsample(lr)
        return imresize(lr, float(self.scale))  # uint8: MATLAB's path, rounded per pass


def build(scale: int) -> Bicubic:
    return Bicubic(scale)
