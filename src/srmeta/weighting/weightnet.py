"""Weight-Net: srmeta's content-aware, meta-learned pixel weighting.

A small fully convolutional network looks at the content of a training patch (by default
the HR patch, the bicubic-upsampled LR patch and the current absolute error) and outputs a
logit per pixel. ``p = sigmoid(z)`` normalised per image gives weights with mean 1. The
network is trained to put weight where the reward says a pixel's gradient helps the few-shot
meta-dataset (:mod:`srmeta.weighting.meta`), so it learns *where* the loss should look
rather than following a fixed "bigger loss, bigger weight" rule.

The last layer starts at zero: training begins from uniform weights (plain L1) and moves
away from them only as far as the reward pushes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from srmeta.resize import imresize
from srmeta.weighting.base import StepContext
from srmeta.weighting.meta import LearnedWeighting

INPUTS = {"hr": 3, "lr_up": 3, "error": 1, "sr": 3}


class WeightNetFCN(nn.Module):
    """``depth`` 3x3 conv + ReLU layers of ``width`` channels, then a 3x3 conv to one logit."""

    def __init__(self, in_channels: int, width: int = 32, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(depth):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            channels = width
        head = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.body = nn.Sequential(*layers, head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def weightnet_inputs(ctx: StepContext, names: Sequence[str], scale: int) -> torch.Tensor:
    """The configured content channels, concatenated (``B x C_in x H x W``), no gradient."""
    with torch.no_grad():
        parts = {
            "hr": lambda: ctx.hr,
            "lr_up": lambda: imresize(ctx.lr.float(), float(scale)),
            "error": lambda: (ctx.sr.detach().float() - ctx.hr.float()).abs().mean(1, keepdim=True),
            "sr": lambda: ctx.sr.detach().float(),
        }
        return torch.cat([parts[name]().float() for name in names], dim=1)


class WeightNet(LearnedWeighting):
    """The ``weightnet`` strategy: ``w = normalise(sigmoid(FCN(content)))``.

    Options: ``inputs`` (any of hr, lr_up, error, sr), ``width``, ``depth``, plus the meta
    options of :class:`LearnedWeighting` (``lr``, ``beta``, ``every``, ``ema``,
    ``precondition``, ``cosine``).
    """

    name = "weightnet"

    def __init__(
        self,
        inputs: Sequence[str] = ("hr", "lr_up", "error"),
        width: int = 32,
        depth: int = 3,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        unknown = [name for name in inputs if name not in INPUTS]
        if unknown or not inputs:
            raise ValueError(f"weightnet inputs must be among {sorted(INPUTS)}, got {list(inputs)}")
        self.inputs = tuple(inputs)
        self.net = WeightNetFCN(sum(INPUTS[name] for name in self.inputs), width, depth)

    def probabilities(self, ctx: StepContext) -> torch.Tensor:
        scale = ctx.hr.shape[-1] // ctx.lr.shape[-1]
        logits = self.net(weightnet_inputs(ctx, self.inputs, scale))
        return torch.sigmoid(logits).squeeze(1)
