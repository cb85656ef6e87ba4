"""PAN (Zhao et al., ECCV 2020 workshops): pixel attention, ~0.27 M parameters.

Written so its state dict matches the official checkpoints (``PANx{2,3,4}_DF2K.pth``, bare
state dicts): the published Set5 scores must come out of them under the evaluation
protocol, which makes them a second independent oracle beside IMDN's.

Pixel attention (PA) is a 1x1 conv and a sigmoid giving one weight per channel *and* pixel
(a 3-D map, where channel attention gives a vector and spatial attention a plane). An SCPA
block (from SCNet's self-calibrated convolution) splits its features into two halves by
1x1 convs (LeakyReLU, slope 0.2): one goes through a plain 3x3 conv, the other through a
PA conv (a 3x3 conv weighted by PA computed from the branch input, then another 3x3 conv);
the two are concatenated, fused by a 1x1 conv and added to the block's input. None of the
block's convs has a bias except the attention's 1x1.

The network: ``conv_first``, ``SCPA_trunk.0..nb-1``, ``trunk_conv`` plus a long skip, then
an upsampling stage per factor (x2, x3: one; x4: two x2 stages): nearest-neighbour
upsampling, a conv to ``unf`` channels, PA, a conv (LeakyReLU after both). ``conv_last``
maps to RGB and a bilinear upsample of the input is added.

x2 and x3 networks have the same layers and shapes (the factor lives only in the
nearest-neighbour upsampling), so a bare state dict's scale is known only at x4 (a second
stage, ``upconv2``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srmeta.errors import ModelError
from srmeta.models.detection import Detected, StateDict, in_channels, indices, out_channels
from srmeta.models.layers import conv

NEGATIVE_SLOPE = 0.2
SCALES = (2, 3, 4)


def _plain(in_ch: int, out_ch: int, kernel_size: int) -> nn.Conv2d:
    """A 'same'-padded convolution without bias (the SCPA block's convs)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=False)


class PixelAttention(nn.Module):
    """``x * sigmoid(conv1x1(x))``: a weight per channel and pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class PAConv(nn.Module):
    """A 3x3 conv (``k3``) weighted by pixel attention of the input (``k2``), then ``k4``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.k2 = nn.Conv2d(channels, channels, 1)
        self.k3 = _plain(channels, channels, 3)
        self.k4 = _plain(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    """Self-calibrated block with pixel attention: a plain and a PA branch, half width each."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.conv1_a = _plain(channels, half, 1)
        self.conv1_b = _plain(channels, half, 1)
        self.k1 = nn.Sequential(_plain(half, half, 3))
        self.PAConv = PAConv(half)
        self.conv3 = _plain(2 * half, channels, 1)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act(self.k1(self.act(self.conv1_a(x))))
        b = self.act(self.PAConv(self.act(self.conv1_b(x))))
        return self.conv3(torch.cat([a, b], dim=1)) + x


class PAN(nn.Module):
    """Pixel attention network on RGB in [0, 1]."""

    def __init__(self, scale: int, nf: int = 40, unf: int = 24, nb: int = 16) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ModelError(f"PAN supports scales 2, 3, 4, not {scale}")
        self.scale = scale
        # Upsampling factor of each stage: x4 as two x2 stages, as in the official code.
        self.factors = (2, 2) if scale == 4 else (scale,)
        self.conv_first = conv(3, nf)
        self.SCPA_trunk = nn.Sequential(*(SCPA(nf) for _ in range(nb)))
        self.trunk_conv = conv(nf, nf)
        self.upconv1 = conv(nf, unf)
        self.att1 = PixelAttention(unf)
        self.HRconv1 = conv(unf, unf)
        if scale == 4:
            self.upconv2 = conv(unf, unf)
            self.att2 = PixelAttention(unf)
            self.HRconv2 = conv(unf, unf)
        self.conv_last = conv(unf, 3)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)

    def _stages(self) -> list[tuple[nn.Module, nn.Module, nn.Module]]:
        stages: list[tuple[nn.Module, nn.Module, nn.Module]] = [
            (self.upconv1, self.att1, self.HRconv1)
        ]
        if self.scale == 4:
            stages.append((self.upconv2, self.att2, self.HRconv2))
        return stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv_first(x)
        y = features + self.trunk_conv(self.SCPA_trunk(features))
        for factor, (up, attention, hr) in zip(self.factors, self._stages(), strict=True):
            y = up(F.interpolate(y, scale_factor=factor, mode="nearest"))
            y = self.act(hr(self.act(attention(y))))
        skip = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.conv_last(y) + skip


def build(scale: int, **options: Any) -> PAN:  # options checked by the descriptor
    return PAN(scale, **options)


def receptive_radius(scale: int, options: Mapping[str, object]) -> int:
    """LR pixels on each side one output pixel depends on: one for ``conv_first`` and for
    ``trunk_conv``, two per SCPA block (the PA branch's two 3x3 convs), and what the three
    3x3 convs after upsampling reach back (HR radius 3: two LR pixels at x2, one at x3;
    at x4 two, as the first stage's two convs run at x2). The bilinear skip reaches one."""
    nb = options["nb"]
    assert isinstance(nb, int)
    return 2 * nb + 2 + (1 if scale == 3 else 2)


def detect(state: StateDict) -> Detected | None:
    """PAN from ``conv_first``, the SCPA trunk and ``att1``; the scale is 4 when there is a
    second upsampling stage (``upconv2``), else unknown (x2 and x3 have the same shapes)."""
    needed = (
        "conv_first.weight",
        "SCPA_trunk.0.conv1_a.weight",
        "SCPA_trunk.0.PAConv.k2.weight",
        "upconv1.weight",
        "att1.conv.weight",
        "conv_last.weight",
    )
    if not all(key in state for key in needed):
        return None
    if in_channels(state, "conv_first.weight") != 3 or out_channels(state, "conv_last.weight") != 3:
        return None
    scale = 4 if "upconv2.weight" in state else None
    options: dict[str, object] = {
        "nf": out_channels(state, "conv_first.weight"),
        "unf": out_channels(state, "upconv1.weight"),
        "nb": len(indices(state, "SCPA_trunk.")),
    }
    return scale, options
