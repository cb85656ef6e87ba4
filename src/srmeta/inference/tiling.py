"""Tiled inference: any image size in bounded memory, with the same output as one pass.

The LR image is cut into equal, overlapping tiles. Each tile's output is weighted by a
separable window and the weighted outputs are summed and divided by the summed weights.
Along an edge shared with another tile the window is 0 over the first ``context`` LR pixels
(outputs there lack context, so they are discarded), then a linear cross-fade over
``blend`` pixels, then 1; along the image border it is 1 all the way, so border pixels are
kept. When ``context`` is at least the network's receptive-field radius every pixel that
gets weight is exactly what the untiled network computes, so the blend reproduces untiled
inference up to float rounding. Networks with image-wide layers (attention pooled over the
image: IMDN, RFDN, RLFN) are tiled exactly, on torch, by gathering those layers' input from
the tiles first (:mod:`exact_tiling`); networks with other global operations (RCAN's
channel attention), and those three under ``tiling="blend"``, rely on the cross-fade to
hide the seams.

Tiles are processed row by row, left to right, and every output block is handed to a
``sink`` as soon as no later tile touches it. The float working memory is a batch of tile
outputs, one tile-sized block, and a strip as wide as the image but only as high as the
overlap between tile rows: it does not grow with the image's height, and grows with its
width only through that thin strip.
Every tile of an image has the same size (shrunk from the plan's side to the smallest that
needs no more tiles, the last one of a row or column aligned to the image's end), so tiles
are batched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

TileFn = Callable[[torch.Tensor], torch.Tensor]
BlockSink = Callable[[int, int, torch.Tensor], None]  # (top, left, C x n x m)
BatchHook = Callable[[list[tuple[int, int]]], object]  # the (top, left) of a batch's tiles


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
    sink: BlockSink,
    batch_size: int = 4,
    on_tile: Callable[[int], object] | None = None,
    before_batch: BatchHook | None = None,
) -> None:
    """Run ``tile_fn`` (``B x C x t x t`` -> ``B x C' x ts x ts``) over ``lr`` (``C x h x w``).

    Finished HR blocks go to ``sink(top, left, block)`` (``block``: ``C' x n x m`` float32)
    as soon as no later tile can touch them: tile rows top to bottom, left to right within
    one. Each output pixel is sent exactly once. ``on_tile(n)`` reports progress after every
    batch of ``n`` tiles; ``before_batch(origins)`` is told where the tiles of the next
    batch start, for networks that need their place in the image. Working memory: a batch
    of tile outputs, one tile-sized block with the columns it shares with the next tile,
    and a strip of the rows the next tile row shares, across the width (``overlap * scale``
    rows, not a tile's height).
    """
    _, h, w = lr.shape
    th, tw, ys, xs = layout(h, w, plan)
    if plan.blend == 0:
        _upscale_cropped(tile_fn, lr, scale, plan, sink, batch_size, on_tile, before_batch)
        return
    wx = [axis_window(x, tw, w, scale, plan.context, plan.blend) for x in xs]
    band = _Band(w * scale)
    for row, y in enumerate(ys):
        done = ys[row + 1] * scale if row + 1 < len(ys) else h * scale
        band.start_row((y + th) * scale, done)
        wy = axis_window(y, th, h, scale, plan.context, plan.blend)
        for i, batch, origins in row_batches(lr, y, th, tw, xs, batch_size):
            if before_batch is not None:
                before_batch(origins)
            outputs = tile_fn(batch)
            for column, out in enumerate(outputs.unbind(0), start=i):
                final = xs[column + 1] * scale if column + 1 < len(xs) else w * scale
                window = wy[:, None] * wx[column][None, :]
                band.add(out.float() * window, window, xs[column] * scale)
                band.finish_columns(final, sink)
            if on_tile is not None:
                on_tile(outputs.shape[0])


def row_batches(
    lr: torch.Tensor, y: int, th: int, tw: int, xs: list[int], batch_size: int
) -> Iterator[tuple[int, torch.Tensor, list[tuple[int, int]]]]:
    """The ``th x tw`` tiles of ``lr`` starting at row ``y`` and columns ``xs``, in batches:
    the index of each batch's first column, the stacked tiles and their ``(top, left)``."""
    for i in range(0, len(xs), batch_size):
        starts = xs[i : i + batch_size]
        tiles = [lr[:, y : y + th, x : x + tw] for x in starts]
        yield i, torch.stack(tiles), [(y, x) for x in starts]


def owned_spans(starts: list[int], size: int, length: int, context: int) -> list[tuple[int, int]]:
    """The LR span each tile keeps when tiles are cropped rather than blended: from where
    the previous tile's span ends to its own end less ``context`` (the image's end for the
    last). The spans partition ``[0, length)`` and each lies ``context`` pixels inside any
    edge its tile shares, since tiles overlap by at least ``2 * context``."""
    spans, begin = [], 0
    for i, start in enumerate(starts):
        end = length if i == len(starts) - 1 else start + size - context
        spans.append((begin, end))
        begin = end
    return spans


def _upscale_cropped(
    tile_fn: TileFn,
    lr: torch.Tensor,
    scale: int,
    plan: TilePlan,
    sink: BlockSink,
    batch_size: int,
    on_tile: Callable[[int], object] | None,
    before_batch: BatchHook | None,
) -> None:
    """Tiling without blending (``plan.blend == 0``): each tile hands on the part of its
    output it owns, cut out of the tile's output as it is, with no weights and no sums.

    Exact when ``context`` covers the receptive field, and about the cheapest tiling can be:
    for a fast network, the blend's passes over the output cost as much as the network.
    """
    _, h, w = lr.shape
    th, tw, ys, xs = layout(h, w, plan)
    rows, cols = owned_spans(ys, th, h, plan.context), owned_spans(xs, tw, w, plan.context)
    s = scale
    for y, (y0, y1) in zip(ys, rows, strict=True):
        for i, batch, origins in row_batches(lr, y, th, tw, xs, batch_size):
            if before_batch is not None:
                before_batch(origins)
            outputs = tile_fn(batch)
            for column, out in enumerate(outputs.unbind(0), start=i):
                x, (x0, x1) = xs[column], cols[column]
                block = out[:, (y0 - y) * s : (y1 - y) * s, (x0 - x) * s : (x1 - x) * s]
                sink(y0 * s, x0 * s, block.float())
            if on_tile is not None:
                on_tile(outputs.shape[0])


def layout(h: int, w: int, plan: TilePlan) -> tuple[int, int, list[int], list[int]]:
    """Tile height and width for an ``h x w`` LR image, and the tiles' row and column
    starts (see :func:`fitted_tile`, :func:`tile_starts`)."""
    th, tw = fitted_tile(h, plan.tile, plan.overlap), fitted_tile(w, plan.tile, plan.overlap)
    return th, tw, tile_starts(h, th, plan.overlap), tile_starts(w, tw, plan.overlap)


def tile_count(h: int, w: int, plan: TilePlan) -> int:
    """How many tiles an ``h x w`` LR image takes."""
    _, _, rows, cols = layout(h, w, plan)
    return len(rows) * len(cols)


class _Band:
    """Weighted sums of one tile row's outputs, finished and handed on column by column.

    ``block`` holds rows ``[top, bottom)`` of the columns from ``left`` to the current tile's
    right edge; ``strip`` holds rows ``[done, bottom)`` across the width, the part the next
    tile row adds to. A tile row starts at the row the previous one finished (``top``), so
    its tiles cover the block's rows from the first.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.top = 0  # first output row not handed on yet
        self.strip: torch.Tensor | None = None  # C x rows x width, from the tile row above
        self.strip_weight = torch.zeros(0, width)

    def start_row(self, bottom: int, done: int) -> None:
        self.bottom, self.done = bottom, done
        self.left = 0
        self.block: torch.Tensor | None = None
        self.block_weight = torch.zeros(bottom - self.top, 0)
        self.next_strip: torch.Tensor | None = None
        self.next_weight = torch.zeros(bottom - done, self.width)

    def add(self, weighted: torch.Tensor, window: torch.Tensor, x0: int) -> None:
        """Add one tile's weighted output, whose columns start at HR column ``x0``."""
        right = x0 + weighted.shape[-1]
        grow = right - self.left - self.block_weight.shape[1]
        rows = self.bottom - self.top
        channels = weighted.shape[0]
        new = torch.zeros(channels, rows, grow)
        new_weight = torch.zeros(rows, grow)
        if self.strip is not None:  # the tile row above's share of these new columns
            first = right - grow
            carried = self.strip.shape[1]
            new[:, :carried] = self.strip[:, :, first:right]
            new_weight[:carried] = self.strip_weight[:, first:right]
        self.block = new if self.block is None else torch.cat([self.block, new], dim=2)
        self.block_weight = torch.cat([self.block_weight, new_weight], dim=1)
        c0 = x0 - self.left
        self.block[:, :, c0:] += weighted
        self.block_weight[:, c0:] += window

    def finish_columns(self, final: int, sink: BlockSink) -> None:
        """Hand on rows ``[top, done)`` of columns ``[left, final)``; keep the rest."""
        assert self.block is not None
        n, rows = final - self.left, self.done - self.top
        weight = self.block_weight[:rows, :n]
        if not bool((weight > 0).all()):
            raise RuntimeError("tiling left output pixels without weight")  # a bug, not input
        sink(self.top, self.left, self.block[:, :rows, :n] / weight)
        if self.next_strip is None:
            self.next_strip = torch.zeros(self.block.shape[0], self.bottom - self.done, self.width)
        self.next_strip[:, :, self.left : final] = self.block[:, rows:, :n]
        self.next_weight[:, self.left : final] = self.block_weight[rows:, :n]
        self.block, self.block_weight = self.block[:, :, n:], self.block_weight[:, n:]
        self.left = final
        if final == self.width:  # the tile row is finished: its strip feeds the next one
            self.strip, self.strip_weight = self.next_strip, self.next_weight
            self.top = self.done
