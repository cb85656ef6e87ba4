"""BT.601 YCbCr as MATLAB's rgb2ycbcr / ycbcr2rgb."""

from __future__ import annotations

import torch

from srmeta.color import rgb_to_y255, rgb_to_ycbcr, ycbcr_to_rgb


def _pixel(r, g, b, dtype=torch.float64):
    return torch.tensor([r, g, b], dtype=dtype).view(3, 1, 1)


def test_known_float_values():
    # White and black sit at the studio-range ends; chroma rows sum to zero.
    white = rgb_to_ycbcr(_pixel(1.0, 1.0, 1.0)).flatten() * 255
    black = rgb_to_ycbcr(_pixel(0.0, 0.0, 0.0)).flatten() * 255
    red = rgb_to_ycbcr(_pixel(1.0, 0.0, 0.0)).flatten() * 255
    assert torch.allclose(white, torch.tensor([235.0, 128.0, 128.0], dtype=torch.float64))
    assert torch.allclose(black, torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64))
    assert torch.allclose(red, torch.tensor([81.481, 90.203, 240.0], dtype=torch.float64))


def test_uint8_matches_matlab_rounding():
    # MATLAB: rgb2ycbcr(uint8([255 0 0])) = [81 90 240]; rgb2ycbcr(uint8([0 0 255])) = [41 240 110]
    red = rgb_to_ycbcr(_pixel(255, 0, 0, torch.uint8)).flatten().tolist()
    blue = rgb_to_ycbcr(_pixel(0, 0, 255, torch.uint8)).flatten().tolist()
    assert red == [81, 90, 240]
    assert blue == [41, 240, 110]


def test_round_trip_float_and_y255():
    rgb = torch.rand(2, 3, 8, 9, dtype=torch.float64)
    ycc = rgb_to_ycbcr(rgb)
    assert torch.allclose(ycbcr_to_rgb(ycc), rgb, atol=1e-12)
    assert torch.allclose(rgb_to_y255(rgb), ycc[:, :1] * 255, atol=1e-10)
    as_u8 = (rgb * 255).round().to(torch.uint8)
    assert torch.allclose(rgb_to_y255(as_u8), rgb_to_y255(as_u8.double() / 255), atol=1e-12)


def test_uint8_round_trip_is_close():
    rgb = torch.randint(30, 220, (3, 16, 16), dtype=torch.uint8)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb))
    assert (back.int() - rgb.int()).abs().max() <= 2
