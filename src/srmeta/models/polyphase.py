"""MATLAB bicubic upscaling by an integer factor as one fixed convolution and a pixel shuffle.

For an integer factor ``s``, MATLAB's ``imresize`` (bicubic, upscaling, so no antialiasing)
gives output pixel ``s n + r`` from LR pixels ``n - 2 .. n + 2`` with weights that depend
only on the phase ``r``. Written as a ``5 x 5`` convolution with ``s^2`` output channels
(one per phase pair) followed by ``PixelShuffle(s)``, it is exportable to ONNX, runs in any
backend, and is exact under tiling (its receptive field is two LR pixels). Image borders
are padded as MATLAB does: half-sample symmetric (the edge pixel repeated).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from srmeta.resize import cubic

RADIUS = 2  # LR pixels each side that a bicubic output pixel reads


def phase_weights(scale: int) -> torch.Tensor:
    """``scale x 5`` weights: row ``r`` gives output phase ``r`` from LR offsets -2..2.

    MATLAB maps output pixel ``u`` (1-based) to input coordinate ``u / s + (1 - 1/s) / 2``,
    so phase ``r`` sits ``(r + 0.5) / s - 0.5`` LR pixels from its LR pixel's centre; the
    weights are normalised to sum to one, as ``imresize`` does.
    """
    offsets = (np.arange(scale) + 0.5) / scale - 0.5
    taps = cubic(offsets[:, None] - np.arange(-RADIUS, RADIUS + 1)[None, :])
    return torch.tensor(taps / taps.sum(axis=1, keepdims=True), device="cpu")


def pad_symmetric(x: torch.Tensor, pad: int = RADIUS) -> torch.Tensor:
    """Half-sample symmetric padding of the last two dims (MATLAB's ``symmetric``).

    Built from a replicate pad, constant-length slices and concatenation, with no branch
    on the size: an exported graph (traced or ``torch.export``-ed at one size) must pad a
    one-pixel side as MATLAB does, repeating the pixel, where a branch taken at the traced
    size would slice past its end. Exact for every size when ``pad <= 2`` (sides of two or
    more mirror, a one-pixel side repeats); wider pads mirror sides of at least ``pad``.
    """
    for dim in (-1, -2):
        size = x.shape[dim]
        # The edge repeated pad times each way: the mirrored rows (or a lone row
        # repeated) are the pad rows just inside each end of this, read backwards.
        edged = F.pad(x, (pad, pad, 0, 0) if dim == -1 else (0, 0, pad, pad), mode="replicate")
        head = edged.narrow(dim, pad, pad).flip(dim)
        tail = edged.narrow(dim, size, pad).flip(dim)
        x = torch.cat([head, x, tail], dim=dim)
    return x


class BicubicUpsample(nn.Module):
    """MATLAB bicubic upscaling by an integer ``scale``, channel by channel."""

    kernels: torch.Tensor  # a buffer: the s^2 phase filters, s^2 x 1 x 5 x 5

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        w = phase_weights(scale)  # on the CPU even when built on the meta device: einsum
        # there would pull in torch's symbolic machinery (~70 MiB) for a constant
        kernels = torch.einsum("ik,jl->ijkl", w, w).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("kernels", kernels.float(), persistent=False)

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x h x w`` to the ``B x C s^2 x h x w`` phases that ``pixel_shuffle`` turns
        into the upscaled image (channel ``c s^2 + i s + j`` is output pixel ``(s y + i,
        s x + j)`` of colour ``c``), so callers can add to them before the one shuffle."""
        b, c, h, w = x.shape
        planes = pad_symmetric(x.reshape(b * c, 1, h, w))
        return F.conv2d(planes, self.kernels.to(x.dtype)).reshape(b, c * self.scale**2, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.phases(x), self.scale)
