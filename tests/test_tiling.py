"""Tiled inference against untiled inference, and the tile plan against hand-made nets."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from srmeta.inference.planning import bytes_per_lr_pixel, plan_tiles, receptive_radius
from srmeta.inference.tiling import (
    TilePlan,
    axis_window,
    fitted_tile,
    owned_spans,
    tile_starts,
    upscale_tiled,
)
from srmeta.models.descriptor import model_info
from srmeta.models.loading import load_model
from srmeta.models.registry import inference_form

NETS = {
    "edsr": {"n_resblocks": 2, "n_feats": 8},
    "espcn": {"features": (8, 4)},
    "fsrcnn": {"d": 8, "s": 4, "m": 1},
    "imdn": {"n_feats": 12, "n_modules": 1},
    "repsr": {"features": 6, "blocks": 2, "expand": 8},
}


def _tiled(model, lr, scale, plan, batch_size=3):
    out = torch.full((3, lr.shape[1] * scale, lr.shape[2] * scale), float("nan"))
    sent = torch.zeros(out.shape[1:], dtype=torch.int64)
    tops: list[int] = []

    def sink(top, left, block):
        tops.append(top)
        out[:, top : top + block.shape[1], left : left + block.shape[2]] = block
        sent[top : top + block.shape[1], left : left + block.shape[2]] += 1

    with torch.no_grad():
        upscale_tiled(model, lr, scale, plan, sink, batch_size)
    assert tops == sorted(tops)  # finished blocks arrive top to bottom
    assert bool((sent == 1).all())  # every output pixel is handed on exactly once
    return out


@pytest.mark.parametrize("arch", ["edsr", "espcn", "fsrcnn", "repsr"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_output_equals_untiled_output(arch, scale):
    torch.manual_seed(scale)
    model = load_model(arch, scale, **NETS[arch])
    plan = plan_tiles(model, scale, tile=24)
    lr = torch.rand(3, 53, 41)
    with torch.no_grad():
        whole = model(lr[None])[0]
    tiled = _tiled(model, lr, scale, plan)
    assert not torch.isnan(tiled).any()
    assert float((tiled - whole).abs().max()) < 1e-4


def test_a_network_with_global_attention_is_blended_without_seams_or_gaps():
    """RCAN's channel attention (200 layers of it, too many to gather one by one as
    test_exact_tiling.py does for IMDN, RFDN, RLFN) is global: tiles are cross-faded."""
    torch.manual_seed(0)
    model = load_model("rcan", 2, n_resgroups=1, n_resblocks=2, n_feats=16, reduction=4)
    plan = plan_tiles(model, 2, tile=40)
    assert plan.blend > 0
    lr = torch.rand(3, 70, 45)
    tiled = _tiled(model, lr, 2, plan)
    with torch.no_grad():
        whole = model(lr[None])[0]
    assert not torch.isnan(tiled).any()
    assert float((tiled - whole).abs().mean()) < 0.05  # close, but tiling cannot be exact


def test_bounded_networks_are_cropped_and_agree_with_the_blended_path():
    torch.manual_seed(1)
    model = load_model("edsr", 3, **NETS["edsr"])
    plan = plan_tiles(model, 3, tile=24)
    assert plan.blend == 0  # a bounded receptive field: crop, no cross-fade
    lr = torch.rand(3, 61, 37)
    cropped = _tiled(model, lr, 3, plan)
    blended = _tiled(model, lr, 3, TilePlan(plan.tile, plan.context, blend=3))
    assert float((cropped - blended).abs().max()) < 1e-5


@pytest.mark.parametrize(
    ("length", "tile", "context"),
    list(itertools.product((1, 17, 40, 41, 97, 300), (12, 20, 64), (0, 3, 5))),
)
def test_owned_spans_partition_the_axis_inside_each_tiles_context(length, tile, context):
    if tile <= 2 * context:
        return
    size = fitted_tile(length, tile, 2 * context)
    starts = tile_starts(length, size, 2 * context)
    spans = owned_spans(starts, size, length, context)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    for i, (start, (begin, end)) in enumerate(zip(starts, spans, strict=True)):
        assert start <= begin < end <= start + size
        if i > 0:
            assert begin >= start + context  # a shared edge: its context is not kept
        if i < len(starts) - 1:
            assert end <= start + size - context


def test_receptive_radius_of_hand_made_networks():
    conv5 = nn.Sequential(nn.Conv2d(3, 12, 5, padding=2), nn.PixelShuffle(2))
    assert receptive_radius(conv5, 2) == 2
    two3 = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 27, 3, padding=1), nn.PixelShuffle(3)
    )
    assert receptive_radius(two3, 3) == 2

    class GlobalMean(nn.Module):
        def forward(self, x):
            return nn.functional.interpolate(x + x.mean(dim=(2, 3), keepdim=True), scale_factor=2)

    assert receptive_radius(GlobalMean(), 2) is None


def test_memory_estimate_counts_the_largest_layer():
    net = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 12, 3, padding=1), nn.PixelShuffle(2)
    )
    # largest layer in+out per LR pixel: the second conv, (64 + 12) float32 values
    assert bytes_per_lr_pixel(net) == pytest.approx((64 + 12) * 4)
    small = plan_tiles(net, 2, memory_mib=1).tile
    large = plan_tiles(net, 2, memory_mib=64).tile
    assert small < large


def test_windows_keep_the_image_border_and_cover_every_pixel():
    assert tile_starts(10, 16, 4) == [0]
    starts = tile_starts(100, 32, 12)
    assert starts[0] == 0 and starts[-1] == 100 - 32
    assert all(b - a <= 32 - 12 for a, b in itertools.pairwise(starts))
    first = axis_window(0, 32, 100, 2, context=3, blend=2)
    assert float(first[0]) == 1.0 and float(first[-1]) == 0.0  # border kept, shared edge not
    last = axis_window(68, 32, 100, 2, context=3, blend=2)
    assert float(last[-1]) == 1.0 and float(last[0]) == 0.0
    total = torch.zeros(200)
    for start in starts:
        total[start * 2 : (start + 32) * 2] += axis_window(start, 32, 100, 2, 3, 2)
    assert bool((total > 0).all())


def test_tiles_are_batched_and_equal_in_size():
    shapes: list[tuple[int, ...]] = []

    def spy(batch):
        shapes.append(tuple(batch.shape))
        return batch.repeat_interleave(2, -1).repeat_interleave(2, -2)

    upscale_tiled(
        spy, torch.rand(3, 50, 61), 2, TilePlan(tile=20, context=2), lambda *_: None, batch_size=2
    )
    sizes = {s[1:] for s in shapes}
    assert len(sizes) == 1 and all(side <= 20 for side in next(iter(sizes))[1:])
    assert max(s[0] for s in shapes) == 2


def test_a_tile_smaller_than_its_overlap_is_refused():
    with pytest.raises(ValueError, match="larger than the overlap"):
        TilePlan(tile=10, context=4, blend=2)


def test_tiles_shrink_to_the_smallest_size_that_needs_no_more_of_them():
    from srmeta.inference.tiling import fitted_tile

    assert fitted_tile(1024, 323, 46) == 291
    for length, tile, overlap in [(1024, 323, 46), (100, 40, 10), (257, 64, 20), (64, 64, 8)]:
        fitted = fitted_tile(length, tile, overlap)
        assert fitted <= tile
        count = len(tile_starts(length, fitted, overlap))
        assert count == len(tile_starts(length, tile, overlap))
        assert len(tile_starts(length, fitted - 1, overlap)) > count or fitted == length


@pytest.mark.parametrize(
    "options", [{}, {"kernel": 5, "blocks": 3}, {"colour": "rgb", "blocks": 2}]
)
@pytest.mark.parametrize("scale", [2, 4])
def test_declared_receptive_radius_is_the_measured_one(options, scale):
    """The descriptor's radius (used for tiling without a probe) against the gradient probe."""
    model = load_model("repsr", scale, **options)
    info = model_info(model)
    assert info is not None and info.receptive_radius == receptive_radius(model, scale)
    collapsed = inference_form(model)
    assert model_info(collapsed) == info
