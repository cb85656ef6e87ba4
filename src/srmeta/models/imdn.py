"""IMDN (Hui et al., ACM MM 2019): information multi-distillation blocks, ~0.7 M parameters.

Written so its state dict matches the official checkpoints (``IMDN_x{2,3,4}.pth``, whose
keys only lack the ``module.`` prefix of ``DataParallel``): they are an independent oracle
for the evaluation path, since the published Set5 scores must come out of it.

An IMDB splits its features in four steps: each 3x3 conv (LeakyReLU, slope 0.05) keeps a
quarter of its channels as "distilled" and passes the rest on; the four distilled parts
are concatenated, reweighted by contrast-aware channel attention (per-channel standard
deviation plus mean, then a 1x1 squeeze by 16, ReLU, 1x1, sigmoid), fused by a 1x1 conv
and added to the block's input. The network: ``fea_conv``, ``IMDB1..n``, a 1x1 conv with
LeakyReLU (``c``) over all blocks' outputs, ``LR_conv`` plus a long skip, and a conv to
``3 s^2`` channels followed by a pixel shuffle.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srmeta.models.detection import Detected, StateDict, detect_distillation
from srmeta.models.imagewide import ImageWide, Placement
from srmeta.models.layers import DistillationNetwork, conv, squeeze_excite

NEGATIVE_SLOPE = 0.05
DISTILLATION_RATE = 0.25
# Added under the square root of the variance: the official code has none, so a channel
# that is exactly constant gives an infinite derivative (NaN gradients); 1e-12 is far
# below float32's resolution of any real variance, so outputs do not change.
_VARIANCE_EPS = 1e-12


class ContrastChannelAttention(ImageWide):
    """CCA layer: channel weights from each channel's standard deviation plus its mean.

    Image-wide (:mod:`~srmeta.models.imagewide`): tiles gather sums and sums of squares
    (in float64) over the pixels each owns, so the statistics are the whole image's.
    """

    per_image = ("sums", "squares", "count", "weights")

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = squeeze_excite(channels, reduction)

    def whole(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(-2, -1), keepdim=True)
        variance = (x - mean).pow(2).mean(dim=(-2, -1), keepdim=True)
        return x * self._weights(mean, variance)

    def _weights(self, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        return self.conv_du((variance + _VARIANCE_EPS).sqrt() + mean)

    def local(self, x: torch.Tensor) -> torch.Tensor:
        zero = x.new_zeros(1, x.shape[1], 1, 1)
        return x * self._weights(zero, zero)

    def start_gathering(self, image: tuple[int, int]) -> None:
        self.sums: torch.Tensor | float = 0.0
        self.squares: torch.Tensor | float = 0.0
        self.count = 0

    def gather(self, x: torch.Tensor, tiles: list[Placement]) -> None:
        for features, tile in zip(x, tiles, strict=True):
            r0, r1, c0, c1 = tile.owned
            own = features[:, r0 - tile.top : r1 - tile.top, c0 - tile.left : c1 - tile.left]
            own = own.double()
            self.sums = self.sums + own.sum(dim=(1, 2))
            self.squares = self.squares + own.square().sum(dim=(1, 2))
            self.count += own.shape[1] * own.shape[2]

    def settle(self) -> None:
        assert isinstance(self.sums, torch.Tensor) and isinstance(self.squares, torch.Tensor)
        mean = self.sums / self.count
        variance = (self.squares / self.count - mean.square()).clamp(min=0.0)
        dtype = self.conv_du[0].weight.dtype
        as_map = lambda t: t.to(dtype).view(1, -1, 1, 1)  # noqa: E731
        self.weights = self._weights(as_map(mean), as_map(variance))

    def apply_context(self, x: torch.Tensor, tiles: list[Placement]) -> torch.Tensor:
        return x * self.weights


class IMDB(nn.Module):
    """Information multi-distillation block (the official ``IMDModule``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.distilled = int(channels * DISTILLATION_RATE)
        self.remaining = channels - self.distilled
        self.c1 = conv(channels, channels)
        self.c2 = conv(self.remaining, channels)
        self.c3 = conv(self.remaining, channels)
        self.c4 = conv(self.remaining, self.distilled)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.c5 = conv(self.distilled * 4, channels, 1)
        self.cca = ContrastChannelAttention(self.distilled * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = [self.distilled, self.remaining]
        d1, r1 = torch.split(self.act(self.c1(x)), split, dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), split, dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), split, dim=1)
        d4 = self.c4(r3)
        out = torch.cat([d1, d2, d3, d4], dim=1)
        return self.c5(self.cca(out)) + x


class IMDN(DistillationNetwork):
    """Information multi-distillation network on RGB in [0, 1]."""

    def __init__(self, scale: int, n_feats: int = 64, n_modules: int = 6) -> None:
        super().__init__(scale, n_feats, lambda: IMDB(n_feats), n_modules, prefix="IMDB", fuse=True)


def build(scale: int, **options: Any) -> IMDN:  # options checked by the descriptor
    return IMDN(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """IMDN from ``fea_conv`` and ``IMDB1.c1``; the scale from the upsampler's channels."""
    found = detect_distillation(state, "IMDB", "c1.weight")
    if found is None:
        return None
    scale, n_feats, modules = found
    return scale, {"n_feats": n_feats, "n_modules": modules}
