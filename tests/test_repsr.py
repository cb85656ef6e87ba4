"""RepSR: the collapse is exact, the Y variant is MATLAB bicubic chroma plus the network's
luma, and every backend runs the collapsed network like torch.

Oracles: each branch computed on its own and summed (``forward_branches``), srmeta's
MATLAB ``imresize`` and ``rgb2ycbcr`` (tested against MATLAB's numbers elsewhere).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from srmeta.color import rgb_to_ycbcr
from srmeta.inference.backends import resolve_backend
from srmeta.inference.upscaler import Upscaler
from srmeta.models import get_descriptor, load_model, save_model_file
from srmeta.models.polyphase import BicubicUpsample
from srmeta.models.registry import inference_form
from srmeta.models.repsr import BRANCHES, RepConv, RepSR
from srmeta.resize import imresize

SCALES = (2, 3, 4)
ALL = ("expand", "conv1x1", "identity", "sobel", "laplacian")
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


def _rand(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values everywhere, PReLU slopes included, so no branch hides behind a zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.3)
    return model


def _trained_like(model: RepSR, seed: int = 0) -> RepSR:
    """PyTorch's initial weights with random biases and PReLU slopes: outputs of a trained
    network's size (about [0, 1]), so float32 tolerances mean what they say."""
    torch.manual_seed(seed)
    fresh = RepSR(model.scale, **model.options)  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in fresh.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
            elif name.startswith("acts."):
                p.copy_(torch.rand(p.shape, generator=generator) * 0.5)
    return fresh


def _branchwise(model: RepSR, x: torch.Tensor) -> torch.Tensor:
    """The training form computed branch by branch (no collapsed kernel anywhere)."""
    original = RepConv.forward
    RepConv.forward = RepConv.forward_branches  # type: ignore[method-assign]
    try:
        return model(x)
    finally:
        RepConv.forward = original  # type: ignore[method-assign]


@pytest.mark.parametrize("branches", [(), *[(b,) for b in BRANCHES], ALL])
@pytest.mark.parametrize("kernel", [3, 5])
def test_each_block_type_collapses_exactly(branches, kernel):
    block = _randomise(RepConv(4, 4, kernel, branches, 6).double())
    x = _rand(2, 4, 9, 7, dtype=torch.float64)
    reference = block.forward_branches(x)
    assert (block.collapsed()(x) - reference).abs().max() < 1e-12
    if branches:  # the branches really add something beyond the plain conv
        assert (block.conv(x) - reference).abs().max() > 1e-3


@pytest.mark.parametrize("branches", [(), ("expand", "identity"), ALL])
def test_collapse_needs_no_equal_channels_for_other_branches(branches):
    block = _randomise(RepConv(1, 5, 5, branches, 6))
    x = _rand(1, 1, 6, 8)
    assert (block.collapsed()(x) - block.forward_branches(x)).abs().max() < 1e-5


@pytest.mark.parametrize("colour", ["y", "rgb"])
@pytest.mark.parametrize("scale", SCALES)
def test_the_collapsed_network_equals_the_training_form(colour, scale):
    model = _trained_like(RepSR(scale, features=6, blocks=3, colour=colour, branches=ALL, expand=8))
    model.eval()
    deployed = model.collapse()
    assert deployed.deploy and all(type(m) is torch.nn.Conv2d for m in deployed.layers)
    x = _rand(2, 3, 13, 11)
    with torch.no_grad():
        assert (deployed(x) - _branchwise(model, x)).abs().max() < 1e-5
    assert inference_form(model).deploy and not inference_form(model).training


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("size", [(1, 5), (2, 3), (9, 12)])
def test_bicubic_upsample_is_matlab_imresize(scale, size):
    x = _rand(2, 3, *size, dtype=torch.float64)
    up = BicubicUpsample(scale).double()
    up.kernels = BicubicUpsample(scale).kernels.double()  # float64 taps for a tight check
    expected = torch.stack([imresize(image, scale=scale) for image in x])
    assert (up(x) - expected).abs().max() < 1e-6


@pytest.mark.parametrize("scale", SCALES)
def test_y_variant_restores_luma_and_takes_chroma_from_bicubic(scale):
    model = _randomise(RepSR(scale, features=4, blocks=1, colour="y", expand=4), seed=3).eval()
    x = _rand(1, 3, 10, 9, dtype=torch.float64)
    model = model.double()
    with torch.no_grad():
        out = model(x)
        luma = (x * model.luma.double()).sum(1, keepdim=True)
        net_y = torch.nn.functional.pixel_shuffle(model.phases(luma), scale)
    ycbcr = rgb_to_ycbcr(out[0])
    chroma = imresize(rgb_to_ycbcr(x[0])[1:], scale=scale)
    # float32 constants (luma row, 255/219) inside the model: agreement to ~1e-7 relative
    assert (ycbcr[0] - (net_y[0, 0] + 16 / 255)).abs().max() < 1e-5
    assert (ycbcr[1:] - chroma).abs().max() < 1e-5


def test_descriptor_says_which_colour_space():
    descriptor = get_descriptor("repsr")
    assert descriptor.colour_space({}) == "y"
    assert descriptor.colour_space({"colour": "rgb"}) == "rgb"
    assert get_descriptor("edsr").colour_space({}) == "rgb"


@pytest.mark.parametrize("colour", ["y", "rgb"])
def test_both_forms_save_detect_and_load(colour, tmp_path):
    options = {"features": 4, "blocks": 2, "colour": colour, "expand": 8}
    model = _trained_like(RepSR(3, **options)).eval()
    save_model_file(tmp_path / "train.safetensors", model, "repsr", 3, options)
    deployed = model.collapse()
    save_model_file(
        tmp_path / "deploy.safetensors", deployed, "repsr", 3, {**options, "deploy": True}
    )
    x = _rand(1, 3, 8, 7)
    with torch.no_grad():
        want = deployed(x)
        for name in ("train", "deploy"):
            loaded = load_model(tmp_path / f"{name}.safetensors")
            assert loaded.colour == colour and loaded.deploy == (name == "deploy")
            assert (loaded(x) - want).abs().max() < 1e-5


def test_auto_backend_prefers_openvino_then_onnx_then_torch():
    assert resolve_backend("auto", "cuda") == "torch"
    expected = "openvino" if HAS_OPENVINO else "onnx"
    assert resolve_backend("auto", "cpu") == expected
    assert resolve_backend("torch", "cpu") == "torch"


@pytest.mark.parametrize("colour", ["y", "rgb"])
@pytest.mark.parametrize(
    "backend",
    [
        "onnx",
        "openvino",  # in the test extra
    ],
)
def test_backends_upscale_like_torch_tiled_and_whole(colour, backend, tmp_path, monkeypatch):
    monkeypatch.setenv("SRMETA_CACHE", str(tmp_path))
    model = _trained_like(RepSR(4, features=6, blocks=2, colour=colour, expand=8), seed=2).eval()
    lr = _rand(3, 41, 37)
    whole = Upscaler(model, 4, backend="torch", tile=64).upscale_tensor(lr)
    with torch.no_grad():
        assert (whole - model(lr[None])[0]).abs().max() < 1e-5
    tiled = Upscaler(model, 4, backend=backend, tile=20).upscale_tensor(lr)
    assert (tiled - whole).abs().max() < 1e-4
