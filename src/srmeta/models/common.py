"""Pieces shared by several architectures: convs, the pixel-shuffle upsampler, the RGB mean,
option checks, and helpers that read a state dict's shapes for architecture detection.

EDSR and RCAN use the same upsampler and mean shift, IMDN, RFDN and RLFN the same outer
skeleton; keeping one copy here means a fix or a detection rule applies to all of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import torch
from torch import nn

from srmeta.errors import ModelError

# Mean RGB of the DIV2K training set (EDSR's MeanShift): subtracting it centres the input
# so the residual body does not have to learn the image's mean brightness.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)

StateDict = Mapping[str, torch.Tensor]
# What an architecture's ``detect`` returns: the scale (None when the weights do not say)
# and the full option dict of the architecture.
Detected = tuple[int | None, dict[str, object]]


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
        self.rgb_range = positive_float("rgb_range", rgb_range)
        self.n_blocks = n_blocks
        self.fea_conv = conv(3, n_feats)
        # Blocks made here, after fea_conv, not handed in ready-made: layers draw their
        # initial weights in the official code's order, so a seed gives the weights it
        # gave before this skeleton was shared.
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


def detect_distillation(
    state: StateDict, prefix: str, block_key: str
) -> tuple[int, int, int] | None:
    """Scale, features and block count of a :class:`DistillationNetwork` state dict whose
    blocks ``{prefix}i`` each hold ``block_key`` (e.g. ``c1.weight``); None if it is not
    one. The scale comes from the upsampler's ``3 s^2`` channels."""
    needed = ("fea_conv.weight", f"{prefix}1.{block_key}", "LR_conv.weight", "upsampler.0.weight")
    if not all(key in state for key in needed) or in_channels(state, "fea_conv.weight") != 3:
        return None
    scale = scale_from_shuffle(out_channels(state, "upsampler.0.weight"))
    if scale is None:
        return None
    blocks = [i for i in indices(state, prefix) if f"{prefix}{i}.{block_key}" in state]
    return scale, out_channels(state, "fea_conv.weight"), len(blocks)


def positive_int(name: str, value: object) -> int:
    """``value`` as a positive int, or a ModelError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(f"option {name} must be a positive integer, not {value!r}")
    return value


def positive_float(name: str, value: object) -> float:
    """``value`` as a positive float, or a ModelError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ModelError(f"option {name} must be a positive number, not {value!r}")
    return float(value)


# --- detection helpers: read shapes, never guess ------------------------------------------


def out_channels(state: StateDict, key: str) -> int:
    """Output channels of the conv whose weight is ``key``."""
    return int(state[key].shape[0])


def in_channels(state: StateDict, key: str) -> int:
    """Input channels of the conv whose weight is ``key``."""
    return int(state[key].shape[1])


def indices(state: StateDict, prefix: str) -> list[int]:
    """Sorted distinct integers ``i`` of keys that start with ``prefix + 'i.'``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for key in state if (m := pattern.match(key))}
    return sorted(found)


def scale_from_shuffle(channels: int, colors: int = 3) -> int | None:
    """The scale ``s`` with ``channels == colors * s^2``, if it is 2, 3 or 4."""
    for s in (2, 3, 4):
        if channels == colors * s * s:
            return s
    return None


def upsampler_scale(state: StateDict, prefix: str, n_feats: int) -> int | None:
    """The scale of an :class:`Upsampler` stored under ``prefix`` (e.g. ``tail.0.``)."""
    first = state.get(prefix + "0.weight")
    if first is None:
        return None
    if first.shape[0] == 9 * n_feats:
        return 3
    if first.shape[0] == 4 * n_feats:
        return 4 if prefix + "2.weight" in state else 2
    return None
