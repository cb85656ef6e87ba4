"""CARN-M (Ahn et al., ECCV 2018): the mobile Cascading Residual Network, ~0.41 M parameters.

Written so its state dict matches the official release (``carn_m.pth`` of CARN-pytorch, one
network for x2, x3 and x4): those weights are an independent oracle for the evaluation
path, since the published Set5 scores must come out of it.

The network works on RGB in [0, 1] (the official code's input range, so nothing to
convert). A fixed 1x1 mean shift subtracts the DIV2K mean; ``entry`` (3x3 conv) makes
``n_feats`` features; three cascading blocks follow, and after the i-th one the entry
features and every block output so far are concatenated and fused by a 1x1 conv with ReLU
(``c1``, ``c2``, ``c3``). Each block cascades the same way over one efficient residual unit
applied three times with shared weights (``b1``: grouped 3x3, ReLU, grouped 3x3, ReLU, 1x1,
plus the input, then ReLU). The upsampler is a grouped 3x3 conv to ``s^2 n_feats``
channels, ReLU and a pixel shuffle (x4: two x2 steps); ``exit`` maps back to RGB and the
mean is added again.

``multi_scale`` (the release): the module holds the x2, x3 and x4 upsamplers
(``upsample.up2/up3/up4``) and runs the one of its scale, so the one file loads strictly at
every scale and the scale comes from the command; the other branches are carried along
untouched (they get no gradient when training). ``multi_scale: false`` holds only its own
(``upsample.up``), as the official code's single-scale variant.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from srmeta.errors import ModelError
from srmeta.models.detection import Detected, StateDict, in_channels, out_channels
from srmeta.models.layers import DIV2K_RGB_MEAN, conv

SCALES = (2, 3, 4)


class FixedShift(nn.Module):
    """A frozen 1x1 conv (identity weight, +-mean bias), as the official ``MeanShift``.

    Its weight and bias are persistent buffers, not parameters: the released file stores
    them (``*.shifter.weight``/``bias``), so they must be in the state dict, but they are a
    fixed part of the architecture and are never trained.
    """

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, sign: float) -> None:
        super().__init__()
        self.register_buffer("weight", torch.eye(3).view(3, 3, 1, 1))
        self.register_buffer("bias", sign * torch.tensor(DIV2K_RGB_MEAN))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias)


class MeanShift(nn.Module):
    """Holds the shift under ``shifter``, the official key layout."""

    def __init__(self, sign: float) -> None:
        super().__init__()
        self.shifter = FixedShift(sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class ConvReLU(nn.Module):
    """A conv then ReLU under ``body`` (the official ``BasicBlock``; CARN uses it 1x1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(in_channels, out_channels, kernel_size), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _grouped(channels_in: int, channels_out: int, group: int) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, 3, padding=1, groups=group)


class EfficientResidual(nn.Module):
    """CARN-M's residual unit: two grouped 3x3 convs and a 1x1 that mixes the groups."""

    def __init__(self, n_feats: int, group: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _grouped(n_feats, n_feats, group),
            nn.ReLU(),
            _grouped(n_feats, n_feats, group),
            nn.ReLU(),
            conv(n_feats, n_feats, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


def _cascade(x: torch.Tensor, units: list[nn.Module], fusions: list[nn.Module]) -> torch.Tensor:
    """The cascading scheme: after each unit, everything so far is concatenated and fused."""
    gathered = x
    out = x
    for unit, fuse in zip(units, fusions, strict=True):
        gathered = torch.cat([gathered, unit(out)], dim=1)
        out = fuse(gathered)
    return out


class CascadingBlock(nn.Module):
    """One local cascade: the shared residual unit ``b1`` three times, fused by ``c1..c3``."""

    def __init__(self, n_feats: int, group: int) -> None:
        super().__init__()
        self.b1 = EfficientResidual(n_feats, group)
        self.c1 = ConvReLU(2 * n_feats, n_feats)
        self.c2 = ConvReLU(3 * n_feats, n_feats)
        self.c3 = ConvReLU(4 * n_feats, n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cascade(x, [self.b1] * 3, [self.c1, self.c2, self.c3])


class UpsampleBranch(nn.Module):
    """Grouped 3x3 conv to ``s^2 n`` channels, ReLU, pixel shuffle; x4 as two x2 steps."""

    def __init__(self, scale: int, n_feats: int, group: int) -> None:
        super().__init__()
        steps = [3] if scale == 3 else [2] * int(math.log2(scale))
        layers: list[nn.Module] = []
        for step in steps:
            layers += [_grouped(n_feats, step * step * n_feats, group), nn.ReLU()]
            layers += [nn.PixelShuffle(step)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """The x2/x3/x4 branches (``multi_scale``) or the one of ``scale`` (``up``)."""

    def __init__(self, scale: int, n_feats: int, group: int, multi_scale: bool) -> None:
        super().__init__()
        self.active = f"up{scale}" if multi_scale else "up"
        for s in SCALES if multi_scale else (scale,):
            name = f"up{s}" if multi_scale else "up"
            self.add_module(name, UpsampleBranch(s, n_feats, group))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.active)(x)


class CARNM(nn.Module):
    """CARN-M on RGB in [0, 1]."""

    def __init__(
        self, scale: int, n_feats: int = 64, group: int = 4, multi_scale: bool = True
    ) -> None:
        super().__init__()
        if n_feats % group:
            raise ModelError(f"option n_feats ({n_feats}) must be a multiple of group ({group})")
        if scale not in SCALES:
            raise ModelError(f"CARN-M supports scales {SCALES}, not {scale}")
        self.scale = scale
        self.sub_mean = MeanShift(-1.0)
        self.add_mean = MeanShift(1.0)
        self.entry = conv(3, n_feats)
        self.b1 = CascadingBlock(n_feats, group)
        self.b2 = CascadingBlock(n_feats, group)
        self.b3 = CascadingBlock(n_feats, group)
        self.c1 = ConvReLU(2 * n_feats, n_feats)
        self.c2 = ConvReLU(3 * n_feats, n_feats)
        self.c3 = ConvReLU(4 * n_feats, n_feats)
        self.upsample = Upsample(scale, n_feats, group, multi_scale)
        self.exit = conv(n_feats, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.entry(self.sub_mean(x))
        out = _cascade(features, [self.b1, self.b2, self.b3], [self.c1, self.c2, self.c3])
        return self.add_mean(self.exit(self.upsample(out)))


def build(scale: int, **options: Any) -> CARNM:  # options checked by the descriptor
    return CARNM(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """CARN-M from its mean shifts, ``entry`` and the shared unit ``b1.b1``; the group from
    that unit's first conv. A multi-scale file (``upsample.up2``...) does not say which
    scale is wanted: None, the caller gives it. A single-scale one does, by its shuffle."""
    needed = ("sub_mean.shifter.weight", "entry.weight", "b1.b1.body.0.weight", "exit.weight")
    if not all(key in state for key in needed) or in_channels(state, "entry.weight") != 3:
        return None
    n_feats = out_channels(state, "entry.weight")
    per_group = in_channels(state, "b1.b1.body.0.weight")
    if per_group < 1 or n_feats % per_group:
        return None
    options: dict[str, object] = {"n_feats": n_feats, "group": n_feats // per_group}
    if "upsample.up2.body.0.weight" in state:
        return None, {**options, "multi_scale": True}
    first = state.get("upsample.up.body.0.weight")
    if first is None:
        return None
    if first.shape[0] == 9 * n_feats:
        scale = 3
    elif first.shape[0] == 4 * n_feats:
        scale = 4 if "upsample.up.body.3.weight" in state else 2
    else:
        return None
    return scale, {**options, "multi_scale": False}
