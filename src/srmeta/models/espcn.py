"""ESPCN (Shi et al., CVPR 2016): convolutions at LR resolution, then one pixel shuffle.

conv5x5(64)-tanh, conv3x3(32)-tanh, conv3x3(3 s^2), pixel shuffle. All work happens on the
small LR grid, so it is the cheapest network here. By default (``residual=True``) a bicubic
upsample of the input (``F.interpolate``, not MATLAB's: it only has to be cheap and smooth)
is added to the output, so the network learns the missing high frequencies instead of the
whole image; with a CPU training budget this converges far faster than the plain network,
which must first learn to reproduce colours and low frequencies through tanh layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srmeta.models.detection import (
    Detected,
    StateDict,
    in_channels,
    indices,
    out_channels,
    scale_from_shuffle,
)
from srmeta.models.layers import conv


class ESPCN(nn.Module):
    """Efficient sub-pixel CNN on RGB in [0, 1]; ``features`` are the hidden widths."""

    def __init__(
        self, scale: int, features: Sequence[int] = (64, 32), residual: bool = True
    ) -> None:
        super().__init__()
        widths = list(features)
        self.scale = scale
        self.residual = residual
        channels = [3, *widths]
        kernels = [5] + [3] * (len(widths) - 1)
        layers = [
            conv(a, b, k) for a, b, k in zip(channels[:-1], channels[1:], kernels, strict=True)
        ]
        layers.append(conv(widths[-1], 3 * scale * scale, 3))
        self.convs = nn.ModuleList(layers)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for layer in self.convs[:-1]:
            y = torch.tanh(layer(y))
        y = self.shuffle(self.convs[-1](y))
        if self.residual:
            size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
            y = y + F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        return y


def build(scale: int, **options: Any) -> ESPCN:  # options checked by the descriptor
    return ESPCN(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """ESPCN from its ``convs.i`` layers; ``residual`` leaves no trace in the weights, so
    it is reported as the default (True): files saved by srmeta carry it in metadata."""
    layers = indices(state, "convs.")
    if not layers or layers != list(range(len(layers))) or len(layers) < 2:
        return None
    first, last = f"convs.{layers[0]}.weight", f"convs.{layers[-1]}.weight"
    if first not in state or last not in state or in_channels(state, first) != 3:
        return None
    scale = scale_from_shuffle(out_channels(state, last))
    if scale is None:
        return None
    features = tuple(out_channels(state, f"convs.{i}.weight") for i in layers[:-1])
    return scale, {"features": features, "residual": True}
