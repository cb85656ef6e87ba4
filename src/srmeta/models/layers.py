"""Building blocks shared by several architectures: 'same' convs, the pixel-shuffle
upsampler, the DIV2K mean shift, squeeze-excitation, and two whole skeletons (EDSR/RCAN's
mean-shifted residual network; IMDN/RFDN/RLFN's distillation network).

One copy here means a fix applies to every architecture built from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from srmeta.errors import ModelError

# Mean RGB of the DIV2K training set (EDSR's MeanShift): subtracting it centres the input
# so the residual body does not have to learn the image's mean brightness.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv2d:
    """A 'same'-padded convolution with bias (odd kernels keep the spatial size)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


def rgb_mean() -> torch.Tensor:
    """The DIV2K mean as a ``1 x 3 x 1 x 1`` tensor, for a non-persistent buffer.

    A buffer rather than a constant so ``.to(device, dtype)`` moves it with the model; not
    persistent because it is a fixed part of the architecture, not a learned weight.
    """
    return torch.tensor(DIV2K_RGB_MEAN, dtype=torch.float32).view(1, 3, 1, 1)


class Upsampler(nn.Sequential):
    """EDSR's sub-pixel upsampler: x2/x3 in one conv + pixel shuffle, x4 as two x2 steps.

    Two x2 steps cost fewer parameters than one x4 step (4n^2 + 4n^2 instead of 16n^2 per
    3x3 tap) and keep the key layout of the official EDSR/RCAN code (``0``, ``2`` convs).
    """

    def __init__(self, scale: int, n_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale in (2, 4):
            for _ in range(int(math.log2(scale))):
                layers += [conv(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise ModelError(f"the pixel-shuffle upsampler supports x2, x3, x4, not x{scale}")
        super().__init__(*layers)


def squeeze_excite(channels: int, reduction: int) -> nn.Sequential:
    """The channel-attention MLP of RCAN and IMDN: 1x1 squeeze, ReLU, 1x1 excite, sigmoid.

    Module names (``conv_du``'s ``0`` and ``2``) follow the official code, so published
    weights load without renaming.
    """
    squeezed = max(1, channels // reduction)
    return nn.Sequential(
        nn.Conv2d(channels, squeezed, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(squeezed, channels, 1),
        nn.Sigmoid(),
    )


class MeanShiftedResidualSR(nn.Module):
    """EDSR's outer skeleton, shared by EDSR and RCAN: mean shift, head conv, a residual
    body (the architecture's blocks plus a conv, with a long skip), upsampler and tail conv.

    Key names (``head.0``, ``body.i``, ``tail.0``/``tail.1``) match the official code.
    """

    rgb_mean: torch.Tensor  # a buffer

    def __init__(self, scale: int, n_feats: int, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("rgb_mean", rgb_mean(), persistent=False)
        self.head = nn.Sequential(conv(3, n_feats))
        self.body = nn.Sequential(*blocks, conv(n_feats, n_feats))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv(n_feats, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x - self.rgb_mean)
        x = x + self.body(x)
        return self.tail(x) + self.rgb_mean


class DistillationNetwork(nn.Module):
    """IMDN's outer skeleton, kept by RFDN and RLFN: ``fea_conv`` (3x3), the blocks
    ``{prefix}1..n`` in a chain, with ``fuse`` a 1x1 conv and LeakyReLU (``c``, slope 0.05
    as everywhere in the three) over all the blocks' outputs (IMDN, RFDN; RLFN takes the
    last block's output alone), ``LR_conv`` plus a long skip from ``fea_conv``, and a conv
    to ``3 s^2`` channels with a pixel shuffle (``upsampler``). Key names follow the
    official code, so released weights load as they are.

    ``rgb_range``: the pixel range the weights were trained on. Several released networks
    (the NTIRE 2022 efficient-SR entries among them) take and give RGB in [0, 255]; the
    module scales on the way in and out, so it takes and gives [0, 1] like every srmeta
    model. Biases and sigmoids make the range part of the weights, not a free rescaling.
    """

    def __init__(
        self,
        scale: int,
        n_feats: int,
        block: Callable[[], nn.Module],
        n_blocks: int,
        prefix: str,
        fuse: bool,
        rgb_range: float = 1.0,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.rgb_range = float(rgb_range)
        self.n_blocks = n_blocks
        self.fea_conv = conv(3, n_feats)
        # Blocks made here, after fea_conv, not handed in ready-made: layers draw their
        # initial weights in the official code's order (fea_conv, blocks, fusion, LR_conv,
        # upsampler), and a seed gives the initial weights that order gives.
        self.block_names = [f"{prefix}{i}" for i in range(1, n_blocks + 1)]
        for name in self.block_names:
            self.add_module(name, block())
        self.c = (
            nn.Sequential(conv(n_feats * self.n_blocks, n_feats, 1), nn.LeakyReLU(0.05))
            if fuse
            else None
        )
        self.LR_conv = conv(n_feats, n_feats)
        self.upsampler = nn.Sequential(conv(n_feats, 3 * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rgb_range != 1.0:
            x = x * self.rgb_range
        features = self.fea_conv(x)
        outputs = []
        y = features
        for name in self.block_names:
            y = getattr(self, name)(y)
            outputs.append(y)
        if self.c is not None:
            y = self.c(torch.cat(outputs, dim=1))
        out = self.upsampler(self.LR_conv(y) + features)
        return out / self.rgb_range if self.rgb_range != 1.0 else out
