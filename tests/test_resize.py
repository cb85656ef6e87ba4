"""MATLAB-compatible bicubic resize: golden MATLAB files, hand values, a NumPy oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from srmeta.resize import contributions, cubic, imresize

SET5 = ["baby", "bird", "butterfly", "head", "woman"]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reproduces_matlab_lr_files_bit_for_bit(data_root, scale):
    for name in SET5:
        hr = np.array(Image.open(data_root / "Set5" / "HR" / f"{name}.png"))
        hr = hr[: hr.shape[0] - hr.shape[0] % scale, : hr.shape[1] - hr.shape[1] % scale]
        matlab = np.array(
            Image.open(data_root / "Set5" / "LR_bicubic" / f"X{scale}" / f"{name}.png")
        )
        ours = imresize(torch.from_numpy(hr).permute(2, 0, 1), 1 / scale).permute(1, 2, 0).numpy()
        assert ours.shape == matlab.shape
        assert np.count_nonzero(ours != matlab) == 0, f"{name} x{scale}"


def test_cubic_kernel_values_at_known_offsets():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, -0.5, -1.5])
    expected = [
        1,
        0.8671875,
        0.5625,
        0.2265625,
        0,
        -0.0703125,
        -0.0625,
        -0.0234375,
        0,
        0,
        0.5625,
        -0.0625,
    ]
    np.testing.assert_array_equal(cubic(x), expected)


def test_first_output_of_x2_upscale_by_hand():
    # u = 1/2 + 0.5 * (1 - 1/2) = 0.75; taps j = -1..2 at distances 1.75, 0.75, -0.25, -1.25;
    # mirrored borders map j = -1, 0 to pixels 2, 1 (1-based), so
    # out[0] = (h(0.75) + h(0.25)) * a + (h(1.75) + h(1.25)) * b = 1.09375 a - 0.09375 b.
    a, b = 10.0, 50.0
    row = torch.tensor([[a, b, 30.0, 70.0]], dtype=torch.float64)
    out = imresize(row, (1.0, 2.0))
    assert out.shape == (1, 8)
    assert out[0, 0].item() == pytest.approx(1.09375 * a - 0.09375 * b, abs=1e-12)


def test_border_taps_are_mirrored_with_edge_repeated():
    idx, weights = contributions(4, 8, 2.0)
    # Output 0 reads pixels 1, 0, 0, 1 (0-based): j = -1 -> pixel 2 (1-based), j = 0 -> 1.
    np.testing.assert_array_equal(idx[0], [1, 0, 0, 1])
    np.testing.assert_array_equal(idx[-1], [2, 3, 3, 2])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_identity_at_scale_one(dtype):
    x = (torch.rand(2, 3, 9, 7) * 255).to(dtype)
    assert torch.equal(imresize(x, 1.0), x)


def _reference_resize_1d(vec: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """Straight from the definition in protocol.md, one output pixel at a time."""
    n = len(vec)
    width = 4.0 / scale if scale < 1 else 4.0
    aux = list(range(1, n + 1)) + list(range(n, 0, -1))
    out = np.zeros(out_len)
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + k for k in range(math.ceil(width) + 2)]

        def h(d):
            d = scale * d if scale < 1 else d
            ad = abs(d)
            if ad <= 1:
                v = 1.5 * ad**3 - 2.5 * ad**2 + 1
            elif ad <= 2:
                v = -0.5 * ad**3 + 2.5 * ad**2 - 4 * ad + 2
            else:
                v = 0.0
            return scale * v if scale < 1 else v

        w = np.array([h(u - j) for j in taps])
        w = w / w.sum()
        out[x - 1] = sum(
            wk * vec[aux[(j - 1) % (2 * n)] - 1] for wk, j in zip(w, taps, strict=True)
        )
    return out


def _reference_resize(img: np.ndarray, out_h: int, out_w: int, sh: float, sw: float, uint8: bool):
    order = [(0, out_h, sh), (1, out_w, sw)]
    order.sort(key=lambda t: t[2])
    x = img.astype(np.float64)
    for axis, length, s in order:
        x = np.apply_along_axis(_reference_resize_1d, axis, x, length, s)
        if uint8:
            x = np.floor(np.clip(x, 0, 255) + 0.5)
    return x


@pytest.mark.parametrize(
    ("shape", "scale"),
    [
        ((13, 17), 0.5),
        ((15, 12), 1 / 3),
        ((16, 16), 0.25),
        ((11, 9), 0.37),
        ((6, 7), 2.0),
        ((5, 8), 3.0),
        ((7, 5), 1.7),
        ((9, 14), (0.5, 2.0)),
    ],
)
def test_matches_numpy_reference(shape, scale):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=shape)
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    out_h, out_w = math.ceil(shape[0] * sh), math.ceil(shape[1] * sw)
    ref_f = _reference_resize(img, out_h, out_w, sh, sw, uint8=False)
    ours_f = imresize(torch.from_numpy(img).double(), scale).numpy()
    np.testing.assert_allclose(ours_f, ref_f, rtol=0, atol=1e-9)
    ref_u8 = _reference_resize(img, out_h, out_w, sh, sw, uint8=True)
    ours_u8 = imresize(torch.from_numpy(img.astype(np.uint8)), scale).numpy()
    np.testing.assert_array_equal(ours_u8, ref_u8.astype(np.uint8))


def test_output_size_argument_sets_scale_per_dimension():
    rng = np.random.default_rng(1)
    img = rng.random((12, 10))
    ref = _reference_resize(img, 5, 7, 5 / 12, 7 / 10, uint8=False)
    ours = imresize(torch.from_numpy(img), size=(5, 7)).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_batched_equals_per_image_and_float32_close_to_float64():
    x = torch.rand(3, 2, 20, 18, dtype=torch.float64)
    batched = imresize(x, 0.5)
    for b in range(3):
        assert torch.allclose(batched[b], imresize(x[b], 0.5), atol=0, rtol=0)
    assert torch.allclose(imresize(x.float(), 0.5).double(), batched, atol=1e-6)


def test_differentiable():
    x = torch.rand(1, 1, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, 0.5), (x,))
    assert torch.autograd.gradcheck(lambda t: imresize(t, 2.0), (x,))


def test_uint8_rounds_halves_away_from_zero():
    # x2 upscale of [0, 0, 4, 2]: output 6 is exactly 2.5 in double precision, where
    # round-half-to-even (torch.round) would give 2 but MATLAB's uint8 gives 3.
    row = torch.tensor([[0, 0, 4, 2]])
    exact = imresize(row.double(), (1.0, 2.0))
    assert exact[0, 6].item() == 2.5
    assert imresize(row.to(torch.uint8), (1.0, 2.0))[0, 6].item() == 3
