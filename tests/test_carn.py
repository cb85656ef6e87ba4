"""CARN-M: the official multi-scale weights (one file, x2/x3/x4 branches) load strictly at
every scale given on the command line and score what they score under the protocol; the
multi-scale layout is detected without a scale; tiling and ONNX export are exact.

The generic architecture tests (tests/test_models.py) cover the single-scale variant; the
multi-scale one, whose inactive branches get no gradient, is checked here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from srmeta.data.benchmarks import load_hr, mod_crop
from srmeta.errors import ModelError
from srmeta.evaluation import run_model
from srmeta.export import export_onnx
from srmeta.inference.planning import plan_tiles
from srmeta.inference.tiling import upscale_tiled
from srmeta.models import ModelSpec, get_descriptor, load_model, model_info, read_model_file
from srmeta.models.carn_m import CARNM
from srmeta.protocol import PROTOCOLS

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("SRMETA_PEERS", REPO.parent / "shared" / "peers"))
OFFICIAL = PEERS / "torch" / "CARN-M.pth"
RELEASED = {"n_feats": 64, "group": 4, "multi_scale": True}
TINY = {"n_feats": 8, "group": 2}
# Set5 "bird" under the rgb protocol (srmeta's MATLAB bicubic LR, SR rounded to uint8, float
# Y, border = scale), as measured with the official weights. The whole of Set5 scores
# 37.68 / 34.06 / 31.88 dB against the published 37.53 / 33.99 / 31.92.
BIRD_PSNR = {2: 42.892, 3: 37.530, 4: 34.424}

official = pytest.mark.usefixtures("official_file")


@pytest.fixture
def official_file() -> Path:
    assert OFFICIAL.is_file(), f"{OFFICIAL} not found; set SRMETA_PEERS"
    return OFFICIAL


def _input(seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(seed))


@official
def test_official_file_is_detected_as_multi_scale_and_needs_a_scale():
    _, spec = read_model_file(OFFICIAL)
    assert spec == ModelSpec("carn_m", None, RELEASED)
    with pytest.raises(ModelError, match="do not record their scale; give one"):
        load_model(OFFICIAL)


@official
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_weights_load_strictly_at_each_scale(scale):
    raw = torch.load(OFFICIAL, weights_only=True, map_location="cpu")
    model = load_model(OFFICIAL, scale)
    assert isinstance(model, CARNM) and not model.training
    info = model_info(model)
    assert info is not None and (info.arch, info.scale) == ("carn_m", scale)
    state = model.state_dict()
    assert set(state) == set(raw)
    for key, tensor in state.items():
        assert torch.equal(tensor, raw[key]), key
    # Mean shifts are fixed buffers, not parameters (24 values of the file's 414,811).
    assert sum(p.numel() for p in model.parameters()) == 414_811 - 24
    with torch.no_grad():
        assert model(_input()).shape == (1, 3, 12 * scale, 10 * scale)


@official
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_weights_score_set5_bird_under_the_protocol(scale, data_root):
    protocol = PROTOCOLS["rgb"]
    hr = mod_crop(load_hr(data_root / "Set5" / "HR" / "bird.png"), scale)
    hr = protocol.ground_truth(hr, rgb_model=True)
    lr = protocol.make_lr(hr, scale, "bird")
    sr = run_model(load_model(OFFICIAL, scale), lr, "cpu")
    assert protocol.score(sr, hr, scale).psnr == pytest.approx(BIRD_PSNR[scale], abs=0.1)


def test_multi_scale_state_dict_is_detected_without_a_scale_and_loads_at_each(tmp_path):
    torch.manual_seed(0)
    model = get_descriptor("carn_m").instantiate(2, **TINY)  # multi_scale by default
    assert {k.split(".")[1] for k in model.state_dict() if k.startswith("upsample.")} == {
        "up2",
        "up3",
        "up4",
    }
    path = tmp_path / "bare.safetensors"
    safetensors.torch.save_file(model.state_dict(), str(path))
    assert read_model_file(path)[1] == ModelSpec("carn_m", None, {**TINY, "multi_scale": True})
    for scale in (2, 3, 4):
        loaded = load_model(path, scale)
        reference = get_descriptor("carn_m").instantiate(scale, **TINY).eval()
        reference.load_state_dict(model.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.equal(loaded(_input()), reference(_input()))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_multi_scale_model_trains_only_its_own_branch(scale):
    torch.manual_seed(0)
    model = get_descriptor("carn_m").instantiate(scale, **TINY).train()
    model(_input()).mean().backward()
    for name, param in model.named_parameters():
        other_branch = name.startswith("upsample.") and not name.startswith(f"upsample.up{scale}.")
        assert (param.grad is None) == other_branch, name


def test_options_are_checked():
    for options, message in [
        ({"n_feats": 10, "group": 4}, "multiple of group"),
        ({"group": 0}, "option group: Input should be greater than or equal to 1"),
        ({"multi_scale": 1}, "option multi_scale: Input should be a valid boolean"),
    ]:
        with pytest.raises(ModelError, match=message):
            get_descriptor("carn_m").instantiate(2, **options)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_output_equals_untiled_output(scale):
    torch.manual_seed(scale)
    model = load_model("carn_m", scale, **TINY)
    plan = plan_tiles(model, scale, tile=48)  # the measured radius is 21 LR pixels
    lr = torch.rand(3, 101, 83)
    out = torch.full((3, 101 * scale, 83 * scale), float("nan"))

    def sink(top: int, left: int, block: torch.Tensor) -> None:
        out[:, top : top + block.shape[1], left : left + block.shape[2]] = block

    with torch.no_grad():
        upscale_tiled(model, lr, scale, plan, sink, 3)
        whole = model(lr[None])[0]
    assert not torch.isnan(out).any()
    assert float((out - whole).abs().max()) < 1e-4


@official
def test_onnx_export_of_the_official_weights_equals_torch(tmp_path):
    model = load_model(OFFICIAL, 3)
    difference = export_onnx(model, tmp_path / "carn_m_x3.onnx", 3, "carn_m")
    assert difference < 1e-4
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(tmp_path / "carn_m_x3.onnx"), providers=["CPUExecutionProvider"]
    )
    x = torch.rand(2, 3, 19, 23)
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4
