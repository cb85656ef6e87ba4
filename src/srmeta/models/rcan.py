"""RCAN (Zhang et al., ECCV 2018): residual-in-residual groups of channel-attention blocks.

Each RCAB is conv-ReLU-conv followed by channel attention (global average pool, a 1x1
squeeze by ``reduction``, ReLU, a 1x1 excitation, sigmoid), with an identity skip; a
residual group is ``n_resblocks`` RCABs and a conv under a short skip; the body is
``n_resgroups`` groups and a conv under the long skip. Head, upsampler, tail and the DIV2K
mean shift are EDSR's (shared in ``layers``). Defaults are the paper's 10 x 20 x 64 with
reduction 16; the key layout follows the official code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srmeta.models.detection import Detected, StateDict, indices, out_channels, upsampler_scale
from srmeta.models.layers import MeanShiftedResidualSR, conv, squeeze_excite


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: per-channel weights in (0, 1) from the channel means."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.conv_du = squeeze_excite(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(x.mean(dim=(-2, -1), keepdim=True))


class RCAB(nn.Module):
    """Residual channel-attention block."""

    def __init__(self, n_feats: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(n_feats, n_feats),
            nn.ReLU(inplace=True),
            conv(n_feats, n_feats),
            ChannelAttention(n_feats, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """RCABs and a conv under a short skip connection."""

    def __init__(self, n_feats: int, n_resblocks: int, reduction: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [RCAB(n_feats, reduction) for _ in range(n_resblocks)]
        self.body = nn.Sequential(*blocks, conv(n_feats, n_feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class RCAN(MeanShiftedResidualSR):
    """Residual channel attention network on RGB in [0, 1]."""

    def __init__(
        self,
        scale: int,
        n_resgroups: int = 10,
        n_resblocks: int = 20,
        n_feats: int = 64,
        reduction: int = 16,
    ) -> None:
        groups: list[nn.Module] = [
            ResidualGroup(n_feats, n_resblocks, reduction) for _ in range(n_resgroups)
        ]
        super().__init__(scale, n_feats, groups)


def build(scale: int, **options: Any) -> RCAN:  # options checked by the descriptor
    return RCAN(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """RCAN from ``body.g.body.b.body.3.conv_du`` attention weights."""
    if "head.0.weight" not in state or "tail.1.weight" not in state:
        return None
    attention = "body.0.body.0.body.3.conv_du.0.weight"
    if attention not in state:
        return None
    groups = [i for i in indices(state, "body.") if f"body.{i}.body.0.body.0.weight" in state]
    blocks = [
        b for b in indices(state, "body.0.body.") if f"body.0.body.{b}.body.0.weight" in state
    ]
    n_feats = out_channels(state, "head.0.weight")
    scale = upsampler_scale(state, "tail.0.", n_feats)
    if scale is None:
        return None
    reduction = n_feats // out_channels(state, attention)
    options: dict[str, object] = {
        "n_resgroups": len(groups),
        "n_resblocks": len(blocks),
        "n_feats": n_feats,
        "reduction": reduction,
    }
    return scale, options
