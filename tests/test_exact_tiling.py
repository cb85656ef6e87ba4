"""Exact tiling of networks with image-wide layers (IMDN's channel attention, RFDN's and
RLFN's spatial attention), against the whole-image forward pass as the oracle."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srmeta.errors import SrmetaError
from srmeta.inference.exact_tiling import gather_passes, upscale_tiled_exact
from srmeta.inference.planning import plan_tiles
from srmeta.inference.tiling import tile_count, upscale_tiled
from srmeta.inference.upscaler import Upscaler
from srmeta.models.imagewide import Mode, bilinear_window, image_wide_layers
from srmeta.models.loading import load_model

NETS = {
    "rfdn": {"n_feats": 16, "n_modules": 2},
    "rlfn": {"n_feats": 16, "mid_feats": 12, "n_blocks": 2, "esa_feats": 8},
    "imdn": {"n_feats": 12, "n_modules": 2},
}


def _model(arch: str, scale: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return load_model(arch, scale, **NETS[arch]).eval()


def _whole(model: torch.nn.Module, lr: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(lr[None])[0]


def _exact(model, lr, scale, plan, batch_size=2):
    """The exact tiler's output, checking every output pixel is handed on once."""
    out = torch.full((3, lr.shape[1] * scale, lr.shape[2] * scale), float("nan"))
    sent = torch.zeros(out.shape[1:], dtype=torch.int64)

    def sink(top, left, block):
        out[:, top : top + block.shape[1], left : left + block.shape[2]] = block
        sent[top : top + block.shape[1], left : left + block.shape[2]] += 1

    def run(batch):
        with torch.inference_mode():
            return model(batch)

    upscale_tiled_exact(model, run, lr, scale, plan, sink, batch_size)
    assert bool((sent == 1).all())
    return out


@pytest.mark.parametrize("arch", sorted(NETS))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_output_equals_the_whole_image_output(arch, scale):
    model = _model(arch, scale, seed=scale)
    lr = torch.rand(3, 83, 71)
    upscaler = Upscaler(model, scale=scale, backend="torch", tile=48 if arch != "imdn" else 60)
    assert upscaler.tiles_for(83, 71) > 1 and upscaler.gather_passes == len(
        image_wide_layers(model)
    )
    tiled = upscaler.upscale_tensor(lr)
    assert float((tiled - _whole(model, lr)).abs().max()) < 1e-5
    assert all(layer.mode is Mode.WHOLE for layer in image_wide_layers(model))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_tiles_of_a_batch_each_get_their_own_place(batch_size):
    model = _model("rlfn", 2)
    plan = plan_tiles(model, 2, tile=40)
    lr = torch.rand(3, 77, 103)
    assert tile_count(77, 103, plan) >= 6
    tiled = _exact(model, lr, 2, plan, batch_size)
    assert float((tiled - _whole(model, lr)).abs().max()) < 1e-5


def test_a_side_under_the_attention_pools_minimum_is_padded_as_whole():
    """RFDN's attention pads a side under 15 pixels; a strip that thin is tiled along its
    length only, and the tile covering the short side pads it as the whole image does."""
    model = _model("rfdn", 2)
    plan = plan_tiles(model, 2, tile=48)
    lr = torch.rand(3, 11, 150)
    assert tile_count(11, 150, plan) > 1
    tiled = _exact(model, lr, 2, plan)
    assert float((tiled - _whole(model, lr)).abs().max()) < 1e-5


def test_without_gathering_the_same_tiles_are_not_exact():
    """The checks above have teeth: the same tiles run as they are, each attention map
    seeing only its tile, leave seams a hundred times the exact tiler's difference."""
    model = _model("rlfn", 2)
    plan = plan_tiles(model, 2, tile=48)
    lr = torch.rand(3, 83, 71)
    out = torch.zeros(3, 166, 142)

    def sink(top, left, block):
        out[:, top : top + block.shape[1], left : left + block.shape[2]] = block

    with torch.no_grad():
        upscale_tiled(model, lr, 2, plan, sink, 2)
    assert float((out - _whole(model, lr)).abs().max()) > 1e-3


def test_progress_counts_every_pass_and_the_model_is_whole_again_after_a_failure():
    model = _model("rfdn", 4)
    upscaler = Upscaler(model, scale=4, backend="torch", tile=48)
    lr = torch.rand(3, 83, 71)
    tiles = tile_count(83, 71, upscaler.plan)
    assert upscaler.tiles_for(83, 71) == tiles * (1 + gather_passes(model)) == tiles * 3
    counted: list[int] = []
    upscaler.upscale_blocks(lr, lambda *_: None, on_tile=counted.append)
    assert sum(counted) == upscaler.tiles_for(83, 71)

    def failing_sink(*_):
        raise OSError("disk full")

    with pytest.raises(OSError):
        upscaler.upscale_blocks(lr, failing_sink)
    for layer in image_wide_layers(model):
        assert layer.mode is Mode.WHOLE
        assert not any(hasattr(layer, name) for name in layer.per_image)  # no image kept
    assert torch.equal(upscaler.upscale_tensor(lr[:, :40, :40]), _whole(model, lr[:, :40, :40]))


def test_graph_backends_hand_images_of_several_tiles_to_torch():
    """An exported graph cannot gather from its tiles: such an image runs on torch, so
    every backend gives the whole image's output; an image in one tile stays on ONNX."""
    pytest.importorskip("onnxruntime")
    model = _model("rlfn", 2)
    upscaler = Upscaler(model, scale=2, backend="onnx", tile=48)
    assert upscaler.backend == "onnx" and upscaler.backend_for(40, 40) == "onnx"
    assert upscaler.backend_for(83, 71) == "torch"
    lr = torch.rand(3, 83, 71)
    assert float((upscaler.upscale_tensor(lr) - _whole(model, lr)).abs().max()) < 1e-5
    small = lr[:, :40, :40]
    assert float((upscaler.upscale_tensor(small) - _whole(model, small)).abs().max()) < 1e-4


def test_the_tile_of_an_image_wide_network_is_what_memory_allows():
    """Every extra tile costs a pass per image-wide layer: no smaller, overlap-optimal
    tile as for convolutional networks."""
    model = _model("rfdn", 4)
    small, large = plan_tiles(model, 4, memory_mib=64), plan_tiles(model, 4, memory_mib=1024)
    assert large.tile > 2 * small.tile > 0 and large.tile > 512


@pytest.mark.parametrize(
    ("coarse", "size", "box"),
    [
        ((5, 7), (31, 45), (0, 31, 0, 45)),
        ((5, 7), (31, 45), (9, 22, 13, 40)),
        ((13, 4), (83, 17), (70, 83, 0, 5)),
        ((2, 2), (15, 15), (3, 9, 0, 15)),
        ((9, 11), (9, 11), (2, 7, 1, 10)),
    ],
)
def test_a_window_of_the_resized_map_is_torchs_resize_cut_to_it(coarse, size, box):
    torch.manual_seed(0)
    small = torch.randn(3, *coarse)
    full = F.interpolate(small[None], size=size, mode="bilinear", align_corners=False)[0]
    r0, r1, c0, c1 = box
    window = bilinear_window(small, size, box)
    assert window.shape == (3, r1 - r0, c1 - c0)
    assert float((window - full[:, r0:r1, c0:c1]).abs().max()) < 1e-5  # float rounding


def test_blend_tiling_runs_the_tiles_as_they_are_on_the_chosen_backend():
    """``tiling="blend"`` trades exactness for speed: no gathering, tiles cross-faded on
    the upscaler's own backend; an unknown tiling is refused."""
    model = _model("rlfn", 2)
    blend = Upscaler(model, scale=2, backend="torch", tile=48, tiling="blend")
    assert blend.gather_passes == 0 and blend.plan.blend > 0
    lr = torch.rand(3, 83, 71)
    assert blend.tiles_for(83, 71) == tile_count(83, 71, blend.plan) > 1
    assert float((blend.upscale_tensor(lr) - _whole(model, lr)).abs().max()) > 1e-3
    with pytest.raises(SrmetaError, match="tiling must be one of exact, blend"):
        Upscaler(model, scale=2, backend="torch", tiling="seamless")
