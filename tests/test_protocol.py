"""The evaluation protocol object: each step against an independent oracle, and the one
source of LR for evaluation and training-time validation alike."""

from __future__ import annotations

import hashlib
import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import torch
from torch import nn

from srmeta.config import validate_config
from srmeta.data.benchmarks import find_dataset, load_hr, mod_crop
from srmeta.degrade import Degradation
from srmeta.errors import SrmetaError
from srmeta.evaluation import evaluate
from srmeta.models.bicubic import Bicubic
from srmeta.protocol import PROTOCOLS, RGB, Y_PLANE, get_protocol, image_index
from srmeta.resize import imresize
from srmeta.training.validate import validate, validation_sets


def _baby(data_root, side: int = 96) -> torch.Tensor:
    return load_hr(data_root / "Set5" / "HR" / "baby.png")[:, :side, : side + 12]


def _y_oracle(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr's Y on the 0..255 scale, float64, from uint8 ``3 x H x W``."""
    r, g, b = (rgb.astype(np.float64) / 255.0)[:3]
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def _psnr_oracle(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255.0**2 / np.mean((a - b) ** 2))


def test_named_protocols_and_lookup():
    assert list(PROTOCOLS) == ["rgb", "y-plane"]
    assert get_protocol("rgb") is RGB and get_protocol("y-plane") is Y_PLANE
    custom = RGB.with_options(round_y=True)
    assert get_protocol(custom) is custom and custom.name == "rgb" and custom != RGB
    with pytest.raises(SrmetaError) as err:
        get_protocol("ycbcr")
    assert str(err.value) == "unknown protocol 'ycbcr'; choose one of rgb, y-plane"
    with pytest.raises(FrozenInstanceError):
        RGB.__setattr__("round_y", True)


def test_report_fields_are_the_published_wording():
    assert RGB.settings() == {
        "protocol": "rgb",
        "protocol_description": (
            "RGB LR uint8 -> model -> uint8 SR -> float Y (BT.601), crop = scale"
        ),
        "degradation": "down:bicubic",
        "y_channel": "float",
    }
    assert Y_PLANE.with_options(round_y=True).settings() == {
        "protocol": "y-plane",
        "protocol_description": (
            "Y plane only (rounded), degraded and upscaled in double, rounded, crop = scale"
        ),
        "degradation": "down:bicubic",
        "y_channel": "rounded",
    }
    assert RGB.describe() == "protocol rgb; degradation down:bicubic; float Y; border crop = scale"


def test_rgb_lr_is_matlab_bicubic_on_uint8_seeded_by_the_image_name(data_root):
    hr = _baby(data_root)
    lr = RGB.make_lr(hr, 3, "baby")
    assert lr.dtype == torch.uint8 and torch.equal(lr, imresize(hr, 1 / 3))
    noisy = RGB.with_options(degradation=Degradation.parse("blur:iso:1.2 noise:5 seed:2"))
    index = int.from_bytes(hashlib.sha256(b"baby").digest()[:4], "little")
    assert image_index("baby") == index
    expected = Degradation.parse("blur:iso:1.2 noise:5 seed:2").apply(hr, 3, index=index)
    assert torch.equal(noisy.make_lr(hr, 3, "baby"), expected)
    assert not torch.equal(noisy.make_lr(hr, 3, "bird"), expected)


def test_y_plane_reduces_to_the_rounded_y_and_degrades_it_in_double(data_root):
    hr = _baby(data_root)
    y = Y_PLANE.ground_truth(hr, rgb_model=False)
    oracle = np.floor(_y_oracle(hr.numpy()) + 0.5)
    assert y.shape == (1, *hr.shape[1:]) and y.dtype == torch.uint8
    assert np.array_equal(y[0].numpy(), oracle)
    lr = Y_PLANE.make_lr(y, 2, "baby")
    assert lr.dtype == torch.float64
    oracle_lr = imresize(y.to(torch.float64), 0.5) / 255.0  # no rounding, no clamping
    torch.testing.assert_close(lr, oracle_lr, rtol=0, atol=1e-12)
    assert not torch.equal(lr, torch.round(lr * 255) / 255)  # unrounded
    with pytest.raises(SrmetaError, match="y-plane protocol needs a model that accepts one"):
        Y_PLANE.ground_truth(hr, rgb_model=True)


def test_rgb_ground_truth_replicates_gray_only_for_rgb_models():
    gray = torch.arange(36, dtype=torch.uint8).reshape(1, 6, 6)
    assert torch.equal(RGB.ground_truth(gray, rgb_model=False), gray)
    assert torch.equal(RGB.ground_truth(gray, rgb_model=True), gray.expand(3, -1, -1))


@pytest.mark.parametrize("round_y", [False, True])
def test_score_crops_the_scale_and_uses_bt601_y(data_root, round_y):
    hr = _baby(data_root)
    sr = imresize(imresize(hr, 1 / 3), 3.0)
    scores = RGB.with_options(round_y=round_y).score(sr, hr, 3)
    ys = [_y_oracle(t.numpy()[:, 3:-3, 3:-3]) for t in (sr, hr)]
    if round_y:
        ys = [np.floor(y + 0.5) for y in ys]
    assert scores.psnr == pytest.approx(_psnr_oracle(*ys), abs=1e-9)
    crop = [t.numpy()[:, 3:-3, 3:-3].astype(np.float64) for t in (sr, hr)]
    assert scores.psnr_rgb == pytest.approx(_psnr_oracle(*crop), abs=1e-9)


def test_evaluate_takes_the_object_or_its_name(data_root):
    def run(**kwargs):
        report = evaluate("bicubic", ["Set5"], [4], data_root=data_root, **kwargs)
        return report.to_dict(), [(r.psnr, r.ssim, r.lr_psnr) for r in report.images]

    assert run(protocol=Y_PLANE) == run(protocol="y-plane")
    blurred = RGB.with_options(degradation=Degradation.parse("blur:iso:1"), round_y=True)
    by_object, by_options = run(protocol=blurred), run(degradation="blur:iso:1", round_y=True)
    assert by_object == by_options
    assert by_object[0]["degradation"] == "blur:iso:1 down:bicubic"
    assert by_object[0]["y_channel"] == "rounded"


class _Recorder(nn.Module):
    """An RGB model (no srmeta info) that keeps every LR it is given and upscales bicubically."""

    def __init__(self, scale: int):
        super().__init__()
        self.inner = Bicubic(scale)
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        self.inputs.append(x[0].clone())
        return self.inner(x)


class _ImageLog:
    wants_images = True

    def __init__(self):
        self.logged: dict[str, torch.Tensor] = {}

    def scalars(self, step, values, kind="train"):
        pass

    def images(self, step, images):
        self.logged.update(images)


def test_validation_lr_comes_from_the_protocol_degradation(data_root):
    """Validation scores and the images it logs use the evaluation protocol's LR: MATLAB
    bicubic, whatever the training degradation (the config has no validation one)."""
    scale, crop = 2, 64
    cfg = validate_config(
        {
            "name": "val",
            "scale": scale,
            "data_root": str(data_root),
            "model": {"arch": "fsrcnn"},
            "data": {
                "train": {"degradation": "blur:iso:1.2 noise:5 seed:3"},
                "val": {"datasets": ["Set5"], "max_images": 2, "crop": crop},
            },
        }
    )
    model, log = _Recorder(scale), _ImageLog()
    scores = validate(model, cfg, torch.device("cpu"), log=log)
    files = find_dataset("Set5", data_root).files[:2]
    benchmark = Degradation()  # the benchmark LR: MATLAB imresize on uint8
    assert cfg.train_degradation() != benchmark
    for seen, path in zip(model.inputs[:2], files, strict=True):  # the scored centre crops
        hr = load_hr(path)
        top, left = (hr.shape[1] - crop) // 2, (hr.shape[2] - crop) // 2
        window = mod_crop(hr[:, top : top + crop, left : left + crop], scale)
        expected = benchmark.apply(window, scale, index=image_index(path.stem))
        assert torch.equal(torch.round(seen.double() * 255).to(torch.uint8), expected)
    # The logged image: the whole first image, LR from the same protocol.
    hr = mod_crop(load_hr(files[0]), scale)
    expected = benchmark.apply(hr, scale, index=image_index(files[0].stem))
    assert torch.equal(expected, imresize(hr, 1 / scale))
    seen = torch.round(model.inputs[-1].double() * 255).to(torch.uint8)
    assert len(model.inputs) == 3 and torch.equal(seen, expected)
    assert list(log.logged) == [files[0].stem]
    reference = evaluate(_Recorder(scale), validation_sets(cfg), [scale], hr_crop=crop)
    assert scores["Set5/psnr"] == reference.summary()[0].psnr == scores["psnr"]
    assert scores["Set5/ssim"] == reference.summary()[0].ssim
