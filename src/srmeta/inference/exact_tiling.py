"""Tiling networks with image-wide layers (IMDN, RFDN, RLFN) so that the output equals the
whole image's, in memory bounded by the tile.

Such a layer's output depends on a statistic of the whole image (see
:mod:`srmeta.models.imagewide`). The network runs over every tile once per image-wide layer,
in forward order, each pass stopping at the first layer not yet settled, which gathers the
tiles' exact parts of its input and then settles its context; a last pass produces the
output with every layer applying its context at the tile's place. The extra passes cost
about ``(n + 1) / 2`` whole-network passes for ``n`` such layers (RFDN and RLFN: 4 layers,
3.5 passes in all; IMDN: 6, 4.5; measured 2.6-3.9x one whole-image pass, see
``benchmarks/exact_tiling.py``), which is why an image that fits in one tile is run whole.

Only torch runs this: an exported graph cannot be stopped mid-network or be handed a
context, so the upscaler hands such images to torch whatever its backend; its ``blend``
tiling instead runs the tiles as they are and cross-fades the seams (see :mod:`tiling`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import torch
from torch import nn

from srmeta.inference.tiling import (
    BlockSink,
    TileFn,
    TilePlan,
    layout,
    owned_spans,
    row_batches,
    upscale_tiled,
)
from srmeta.models.imagewide import GatherDone, ImageWide, Mode, Placement, image_wide_layers


def gather_passes(model: nn.Module) -> int:
    """Passes over the tiles before the output pass: one per image-wide layer."""
    return len(image_wide_layers(model))


@contextmanager
def local_only(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` with every image-wide layer's context replaced by a constant, for
    measuring the receptive field that stays local (the context tiles need)."""
    layers = image_wide_layers(model)
    for layer in layers:
        layer.mode = Mode.LOCAL
    try:
        yield model
    finally:
        for layer in layers:
            layer.reset()


class Placer:
    """The :class:`Placement` of tiles on an ``h x w`` LR image tiled by ``plan``.

    A tile is exact ``plan.context - 1`` pixels inside its shared edges: the context is
    the receptive field's radius plus one, so neighbours' exact boxes overlap.
    """

    def __init__(self, h: int, w: int, plan: TilePlan) -> None:
        self.image = (h, w)
        self.th, self.tw, ys, xs = layout(h, w, plan)
        self.margin = plan.context - 1
        self.rows = dict(zip(ys, owned_spans(ys, self.th, h, plan.context), strict=True))
        self.cols = dict(zip(xs, owned_spans(xs, self.tw, w, plan.context), strict=True))

    def _valid(self, start: int, size: int, length: int) -> tuple[int, int]:
        first = start + self.margin if start > 0 else start
        end = start + size - self.margin if start + size < length else length
        return first, end

    def __call__(self, origins: list[tuple[int, int]]) -> list[Placement]:
        h, w = self.image
        return [
            Placement(
                image=self.image,
                top=y,
                left=x,
                valid=(*self._valid(y, self.th, h), *self._valid(x, self.tw, w)),
                owned=(*self.rows[y], *self.cols[x]),
            )
            for y, x in origins
        ]


def _tile_batches(
    lr: torch.Tensor, plan: TilePlan, batch_size: int
) -> Iterator[tuple[torch.Tensor, list[tuple[int, int]]]]:
    """The tiles of ``lr`` in batches, with their origins, in :func:`upscale_tiled`'s order."""
    th, tw, ys, xs = layout(lr.shape[1], lr.shape[2], plan)
    for y in ys:
        for _, batch, origins in row_batches(lr, y, th, tw, xs, batch_size):
            yield batch, origins


def upscale_tiled_exact(
    model: nn.Module,
    tile_fn: TileFn,
    lr: torch.Tensor,
    scale: int,
    plan: TilePlan,
    sink: BlockSink,
    batch_size: int = 4,
    on_tile: Callable[[int], object] | None = None,
) -> None:
    """:func:`upscale_tiled` for a network with image-wide layers, exactly: ``tile_fn``
    runs ``model`` (a torch module: its layers are switched between gathering and applying
    here), ``plan`` has the context of the network's local receptive field
    (:func:`local_only`). ``on_tile`` hears of every tile of every pass."""
    layers = image_wide_layers(model)
    placer = Placer(lr.shape[1], lr.shape[2], plan)

    def place(origins: list[tuple[int, int]]) -> None:
        tiles = placer(origins)
        for layer in layers:
            layer.tiles = tiles

    try:
        pending = list(layers)
        while pending:
            _gather_next(pending, tile_fn, lr, plan, batch_size, place, on_tile)
            pending = [layer for layer in pending if layer.mode is not Mode.APPLY]
        upscale_tiled(tile_fn, lr, scale, plan, sink, batch_size, on_tile, place)
    finally:
        for layer in layers:
            layer.reset()


def _gather_next(
    pending: list[ImageWide],
    tile_fn: TileFn,
    lr: torch.Tensor,
    plan: TilePlan,
    batch_size: int,
    place: Callable[[list[tuple[int, int]]], None],
    on_tile: Callable[[int], object] | None,
) -> None:
    """One pass over the tiles: the first pending layer the network reaches gathers its
    input from every tile (stopping each forward there) and settles."""
    for layer in pending:
        layer.start_gathering((lr.shape[1], lr.shape[2]))
        layer.mode = Mode.GATHER
    for batch, origins in _tile_batches(lr, plan, batch_size):
        place(origins)
        with suppress(GatherDone):
            tile_fn(batch)
        if on_tile is not None:
            on_tile(len(origins))
    gathered = [layer for layer in pending if layer.gathered]
    if len(gathered) != 1:  # a bug: exactly the first unsettled layer stops each pass
        raise RuntimeError(f"{len(gathered)} image-wide layers gathered in one pass")
    with torch.inference_mode():
        gathered[0].settle()
    gathered[0].mode = Mode.APPLY
