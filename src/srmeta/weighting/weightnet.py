"""Weight-Net: srmeta's content-aware, meta-learned pixel weighting.

A small fully convolutional network looks at the content of a training patch (by default
the HR patch, the bicubic-upsampled LR patch and the current absolute error) and outputs a
logit per HR pixel. ``p = sigmoid(z)`` (floored at 1e-4) normalised per image gives
weights with mean 1. The network is trained to put weight where the reward says a pixel's
gradient helps the few-shot meta-dataset (:mod:`srmeta.weighting.meta`), so it learns
*where* the loss should look rather than following a fixed "bigger loss, bigger weight"
rule.

By default the network runs on the LR grid: HR-sized inputs are folded into ``s*s`` channels
per LR pixel (``pixel_unshuffle``) and its ``s*s`` output channels unfold back into one logit
per HR pixel (``pixel_shuffle``). That is the same information and one logit per HR pixel
as on the HR grid, at ``1/s^2`` of the cost and with an ``s`` times wider view of the
content; on that grid the bicubic-upsampled LR patch is represented by the LR patch itself
(the upsampling is a fixed function of it). ``grid: hr`` keeps the plain HR-resolution FCN.

Inputs (option ``inputs``, any combination): ``hr`` the target patch, ``lr`` the LR patch,
``lr_up`` its bicubic upsampling, ``error`` the current absolute error, ``sr`` the current
output, ``consistency`` the LR-consistency residual ``imresize(HR, 1/s) - LR``. The last
one says whether a target agrees with its own input: a blurred, shifted or compressed target
no longer downsamples to the LR it is paired with.

``image_head: true`` adds a per-image logit offset, a linear map of the spatial means of the
last hidden features and of the absolute inputs. A pixel-local net sees only its receptive
field; the head lets evidence gathered over the whole patch (this target looks corrupted)
move the whole image, which matters when ``normalise: batch`` lets images compete for
weight. The mean absolute inputs give it that evidence directly (the mean |consistency
residual| alone separates blurred targets from clean ones), rather than only through
features the per-pixel objective shaped.

``input_norm: true`` divides each input channel by its running root mean square (an EMA
over the Weight-Net's updates, kept with its state). The inputs differ in scale by orders
of magnitude (image values near 0.5, a consistency residual near 0.01), and Adam moves
every weight by about ``lr`` per update: without it, a small but telling input would need
thousands of updates to reach the logits.

The last layer (and the image head) starts at zero: training begins from uniform weights
(plain L1) and moves away from them only as far as the reward pushes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srmeta.options import WeightNetOptions
from srmeta.resize import imresize
from srmeta.weighting.base import StepContext, read_options
from srmeta.weighting.meta import LearnedWeighting, RunningRMS

# name -> (channels, whether the input lives on the LR grid)
INPUTS = {
    "hr": (3, False),
    "lr": (3, True),
    "lr_up": (3, True),
    "error": (1, False),
    "sr": (3, False),
    "consistency": (3, True),
}


class WeightNetFCN(nn.Module):
    """``depth`` 3x3 conv + ReLU layers of ``width`` channels, then a 3x3 conv to the logits;
    with ``image_head``, plus a linear map of the mean hidden features and mean absolute
    inputs added to every logit of the image."""

    def __init__(
        self,
        in_channels: int,
        width: int = 32,
        depth: int = 3,
        out_channels: int = 1,
        image_head: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(depth):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            channels = width
        head = nn.Conv2d(channels, out_channels, 3, padding=1)
        for param in head.parameters():  # weight and bias start at zero
            nn.init.zeros_(param)
        self.body = nn.Sequential(*layers, head)
        self.image_head: nn.Linear | None = None
        if image_head:
            self.image_head = nn.Linear(channels + in_channels, out_channels)
            nn.init.zeros_(self.image_head.weight)
            nn.init.zeros_(self.image_head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_head is None:
            return self.body(x)
        features = self.body[:-1](x)
        summary = torch.cat([features.mean(dim=(-2, -1)), x.abs().mean(dim=(-2, -1))], dim=1)
        offset = self.image_head(summary)
        return self.body[-1](features) + offset[:, :, None, None]


def input_channels(names: Sequence[str], grid: str, scale: int) -> int:
    """Channels the FCN sees: HR-sized inputs fold into ``s*s`` each on the LR grid."""
    total = 0
    for name in names:
        channels, on_lr = INPUTS[name]
        total += channels * (scale * scale if grid == "lr" and not on_lr else 1)
    return total


def weightnet_inputs(ctx: StepContext, names: Sequence[str], scale: int, grid: str = "hr"):
    """The configured content channels, concatenated on the chosen grid, no gradient."""
    with torch.no_grad():
        on_lr = grid == "lr"
        fold = (lambda x: F.pixel_unshuffle(x, scale)) if on_lr else (lambda x: x)

        def consistency() -> torch.Tensor:
            residual = imresize(ctx.hr.float(), 1 / scale) - ctx.lr.float()
            return residual if on_lr else imresize(residual, float(scale))

        parts = {
            "hr": lambda: fold(ctx.hr.float()),
            "lr": lambda: (
                ctx.lr.float()
                if on_lr
                else F.interpolate(ctx.lr.float(), scale_factor=scale, mode="nearest")
            ),
            "lr_up": lambda: ctx.lr.float() if on_lr else imresize(ctx.lr.float(), float(scale)),
            "consistency": consistency,
            "error": lambda: fold(
                (ctx.sr.detach().float() - ctx.hr.float()).abs().mean(1, keepdim=True)
            ),
            "sr": lambda: fold(ctx.sr.detach().float()),
        }
        return torch.cat([parts[name]() for name in names], dim=1)


class WeightNet(LearnedWeighting):
    """The ``weightnet`` strategy: ``w = normalise(sigmoid(FCN(content)))``.

    Options: ``inputs`` (any of hr, lr, lr_up, error, sr, consistency), ``width``,
    ``depth``, ``grid`` (lr or hr), ``image_head``, ``input_norm``, plus the meta options of
    :class:`LearnedWeighting` (``lr``, ``beta``, ``every``, ``ema``, ``precondition``,
    ``cosine``, ``meta_loss``, ``normalise``, ``image_beta``, ``center``). ``scale`` comes
    from the run.
    """

    name = "weightnet"
    uses_scale = True

    Options = WeightNetOptions

    def __init__(self, scale: int, **options: Any) -> None:
        o = read_options(WeightNetOptions, options, self.name)
        super().__init__(o, o.normalise)
        inputs, grid, width, depth = o.inputs, o.grid, o.width, o.depth
        image_head, input_norm = o.image_head, o.input_norm
        self.inputs, self.grid, self.scale = tuple(inputs), grid, int(scale)
        folded = self.scale * self.scale if grid == "lr" else 1
        channels = input_channels(self.inputs, grid, self.scale)
        fcn = WeightNetFCN(channels, width, depth, folded, bool(image_head))
        self.net = nn.Sequential(RunningRMS(channels), fcn) if input_norm else fcn

    def probabilities(self, ctx: StepContext) -> torch.Tensor:
        scale = ctx.hr.shape[-1] // ctx.lr.shape[-1]
        if scale != self.scale:
            raise ValueError(f"this Weight-Net was built for x{self.scale}, the batch is x{scale}")
        logits = self.net(weightnet_inputs(ctx, self.inputs, scale, self.grid))
        if self.grid == "lr":
            logits = F.pixel_shuffle(logits, scale)
        return self.to_probabilities(logits.squeeze(1))
