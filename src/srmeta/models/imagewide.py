"""Layers whose output at a pixel depends on the whole image, written so that tiles can
reproduce the whole-image output exactly.

IMDN's contrast channel attention pools statistics over the image; RFDN's and RLFN's
enhanced spatial attention pools a coarse map over it. Cut into tiles, such a network sees
only the tile, so tiled output differs from whole-image output wherever tiles meet. The
statistic, though, is small (a number per channel, a map about six times coarser than the
image), and the rest of such a layer is local. An :class:`ImageWide` layer therefore has
three ways to run:

- ``whole`` (the default, and the official computation): from the input it is given;
- ``gather``: a tiling driver (:mod:`srmeta.inference.exact_tiling`) runs the network over
  every tile and each tile adds the part of the image-wide input it computes exactly to
  the layer's gathered input, then stops the forward pass (:class:`GatherDone`): later
  layers would need this one's context;
- ``apply``: once every tile has gathered, ``settle`` computes the context as the whole
  image gives it, and each tile's forward uses it at the tile's place in the image.

Layers are gathered in forward order, one pass over the tiles each, so a network with
``n`` such layers costs about ``1 + (n + 1) / 2`` whole passes when tiled exactly.
``local`` (the context replaced by a constant) is for measuring what stays local: the
receptive field that tiles need as context.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn


class GatherDone(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the layer that gathered: the rest of the forward pass is not needed."""


@dataclass(frozen=True)
class Placement:
    """Where one tile of a batch lies in the image, in LR pixels (rows, then columns).

    ``valid`` is the box of the tile in which features are exact at any depth of the
    network (the tile less its context at shared edges); ``owned`` is the box this tile
    alone stands for: the owned boxes of all tiles partition the image.
    """

    image: tuple[int, int]
    top: int
    left: int
    valid: tuple[int, int, int, int]  # row start, row end, column start, column end
    owned: tuple[int, int, int, int]


class Mode(Enum):
    WHOLE = "whole"
    GATHER = "gather"
    APPLY = "apply"
    LOCAL = "local"


class ImageWide(nn.Module):
    """Base of layers with an image-wide input; see the module's docstring.

    A subclass implements ``whole(x)``, ``local(x)``, ``start_gathering(image)`` (empty
    buffers for an ``(h, w)`` image), ``gather(x, tiles)`` (add the tiles' exact part of
    the image-wide input), ``settle()`` (the context from what was gathered) and
    ``apply_context(x, tiles)`` (the output given the settled context). The tiling driver
    (:mod:`srmeta.inference.exact_tiling`) moves ``mode`` between them; ``reset`` ends it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mode = Mode.WHOLE
        self.tiles: list[Placement] = []
        self.gathered = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode is Mode.WHOLE:
            return self.whole(x)
        if self.mode is Mode.LOCAL:
            return self.local(x)
        if len(self.tiles) != x.shape[0]:
            raise RuntimeError("an image-wide layer was not told where its tiles lie")
        if self.mode is Mode.GATHER:
            self.gather(x, self.tiles)
            self.gathered = True
            raise GatherDone
        return self.apply_context(x, self.tiles)

    def whole(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def local(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def start_gathering(self, image: tuple[int, int]) -> None:
        raise NotImplementedError

    def gather(self, x: torch.Tensor, tiles: list[Placement]) -> None:
        raise NotImplementedError

    def settle(self) -> None:
        """Compute the context from what was gathered."""
        raise NotImplementedError

    def apply_context(self, x: torch.Tensor, tiles: list[Placement]) -> torch.Tensor:
        raise NotImplementedError

    # What a subclass keeps of one image (gathered input, context): dropped by ``reset``,
    # so an upscaler holds no image's buffers between images, even after a failure.
    per_image: tuple[str, ...] = ()

    def reset(self) -> None:
        """Back to ``whole``, dropping any gathered input and context."""
        self.mode, self.tiles, self.gathered = Mode.WHOLE, [], False
        for name in self.per_image:
            self.__dict__.pop(name, None)


def image_wide_layers(model: nn.Module) -> list[ImageWide]:
    """The :class:`ImageWide` layers of ``model``."""
    return [m for m in model.modules() if isinstance(m, ImageWide)]


def bilinear_axis(
    n_in: int, n_out: int, start: int, count: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows ``[start, start + count)`` of a bilinear resize of an axis from ``n_in`` to
    ``n_out`` samples, as torch computes it with ``size=`` and ``align_corners=False``:
    the two source indices of each output sample and the weight of the second."""
    scale = n_in / n_out
    position = torch.arange(start, start + count, device=device, dtype=torch.float32) + 0.5
    source = (position * scale - 0.5).clamp(min=0.0)
    first = source.floor().long().clamp(max=n_in - 1)
    second = (first + 1).clamp(max=n_in - 1)
    return first, second, source - first.float()


def bilinear_window(
    coarse: torch.Tensor, size: tuple[int, int], box: tuple[int, int, int, int]
) -> torch.Tensor:
    """``coarse`` (``C x h x w``) resized bilinearly to ``size``, cut to ``box`` (rows
    ``[r0, r1)``, columns ``[c0, c1)``) without making the whole resized map."""
    r0, r1, c0, c1 = box
    rows = bilinear_axis(coarse.shape[-2], size[0], r0, r1 - r0, coarse.device)
    cols = bilinear_axis(coarse.shape[-1], size[1], c0, c1 - c0, coarse.device)
    top, bottom, wy = rows
    by_rows = coarse[:, top] * (1 - wy)[:, None] + coarse[:, bottom] * wy[:, None]
    left, right, wx = cols
    return by_rows[:, :, left] * (1 - wx) + by_rows[:, :, right] * wx
