"""Tiled inference: any image size in bounded memory, with the same output as one pass.

The LR image is cut into equal, overlapping tiles. Each tile's output is weighted by a
separable window and the weighted outputs are summed and divided by the summed weights.
Along an edge shared with another tile the window is 0 over the first ``context`` LR pixels
(outputs there lack context, so they are discarded), then a linear cross-fade over
``blend`` pixels, then 1; along the image border it is 1 all the way, so border pixels are
kept. When ``context`` is at least the network's receptive-field radius every pixel that
gets weight is exactly what the untiled network computes, so the blend reproduces untiled
inference up to float rounding; for networks with global operations (channel attention) the
cross-fade hides the seams.

Tiles are processed one row at a time and finished output rows are handed to a ``sink``
straight away, so the float working memory is one band of tiles, whatever the image height.
Every tile of an image has the same size (shrunk from the plan's side to the smallest that
needs no more tiles, the last one of a row or column aligned to the image's end), so tiles
are batched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

TileFn = Callable[[torch.Tensor], torch.Tensor]
RowSink = Callable[[int, torch.Tensor], None]


@dataclass(frozen=True)
class TilePlan:
    """Tile geometry in LR pixels: ``tile`` side, ``context`` discarded at shared edges,
    ``blend`` cross-faded; neighbouring tiles overlap by ``2 * context + blend``."""

    tile: int
    context: int
    blend: int = 4

    @property
    def overlap(self) -> int:
        return 2 * self.context + self.blend

    def __post_init__(self) -> None:
        if self.context < 0 or self.blend < 0:
            raise ValueError("context and blend must be >= 0")
        if self.tile <= self.overlap:
            raise ValueError(
                f"tile {self.tile} must be larger than the overlap {self.overlap}"
                f" (2 x context {self.context} + blend {self.blend})"
            )


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``min(tile, length)``; the last
    one ends at ``length`` exactly."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def fitted_tile(length: int, tile: int, overlap: int) -> int:
    """The smallest tile side that covers ``length`` with as few tiles as ``tile`` would.

    A 1024-pixel side with tiles of 323 and an overlap of 46 needs 4 tiles; tiles of 291
    cover it with 4 as well and compute 19% fewer pixels.
    """
    if length <= tile:
        return length
    count = math.ceil((length - overlap) / (tile - overlap))
    return math.ceil((length - overlap) / count) + overlap


def axis_window(
    start: int, size: int, length: int, scale: int, context: int, blend: int
) -> torch.Tensor:
    """The 1-D HR window of a tile ``[start, start + size)`` on an LR axis of ``length``."""
    n, zeros, ramp = size * scale, context * scale, blend * scale
    window = torch.ones(n, dtype=torch.float32)
    fade = (torch.arange(ramp, dtype=torch.float32) + 0.5) / max(ramp, 1)
    if start > 0:  # shared edge at the start
        window[:zeros] = 0.0
        window[zeros : zeros + ramp] = fade
    if start + size < length:  # shared edge at the end
        window[n - zeros :] = 0.0
        window[n - zeros - ramp : n - zeros] = fade.flip(0)
    return window


def upscale_tiled(
    tile_fn: TileFn,
    lr: torch.Tensor,
    scale: int,
    plan: TilePlan,
    sink: RowSink,
    batch_size: int = 4,
    on_tile: Callable[[int], None] | None = None,
) -> None:
    """Run ``tile_fn`` (``B x C x t x t`` -> ``B x C' x ts x ts``) over ``lr`` (``C x h x w``).

    Finished HR rows go to ``sink(first_row, rows)`` (``C' x n x W``, float32, top to bottom);
    ``on_tile(n)`` reports progress after every batch of ``n`` tiles.
    """
    _, h, w = lr.shape
    th, tw = fitted_tile(h, plan.tile, plan.overlap), fitted_tile(w, plan.tile, plan.overlap)
    ys, xs = tile_starts(h, th, plan.overlap), tile_starts(w, tw, plan.overlap)
    width = w * scale
    wx = [axis_window(x, tw, w, scale, plan.context, plan.blend) for x in xs]
    acc: torch.Tensor | None = None
    weight = torch.zeros(0, width)
    top = 0  # HR row of acc[:, 0]
    for row, y in enumerate(ys):
        outputs = _run_row(tile_fn, [lr[:, y : y + th, x : x + tw] for x in xs], batch_size,
                           on_tile)  # fmt: skip
        bottom = (y + th) * scale
        if acc is None:
            acc = torch.zeros(outputs[0].shape[0], 0, width)
        grow = bottom - top - acc.shape[1]
        acc = torch.cat([acc, torch.zeros(acc.shape[0], grow, width)], dim=1)
        weight = torch.cat([weight, torch.zeros(grow, width)], dim=0)
        wy = axis_window(y, th, h, scale, plan.context, plan.blend)
        r0 = y * scale - top
        for x, out, win_x in zip(xs, outputs, wx, strict=True):
            window = wy[:, None] * win_x[None, :]
            c0 = x * scale
            acc[:, r0 : r0 + th * scale, c0 : c0 + tw * scale] += out.float() * window
            weight[r0 : r0 + th * scale, c0 : c0 + tw * scale] += window
        done = (ys[row + 1] * scale if row + 1 < len(ys) else h * scale) - top
        finished = weight[:done]
        if not bool((finished > 0).all()):
            raise RuntimeError("tiling left output pixels without weight")  # a bug, not input
        sink(top, acc[:, :done] / finished)
        acc, weight, top = acc[:, done:], weight[done:], top + done


def _run_row(
    tile_fn: TileFn,
    tiles: list[torch.Tensor],
    batch_size: int,
    on_tile: Callable[[int], None] | None,
) -> list[torch.Tensor]:
    outputs: list[torch.Tensor] = []
    for i in range(0, len(tiles), batch_size):
        chunk = tiles[i : i + batch_size]
        outputs.extend(tile_fn(torch.stack(chunk)).unbind(0))
        if on_tile is not None:
            on_tile(len(chunk))
    return outputs


def tile_count(h: int, w: int, plan: TilePlan) -> int:
    """How many tiles an ``h x w`` LR image takes."""
    th, tw = fitted_tile(h, plan.tile, plan.overlap), fitted_tile(w, plan.tile, plan.overlap)
    rows, cols = tile_starts(h, th, plan.overlap), tile_starts(w, tw, plan.overlap)
    return len(rows) * len(cols)
