"""RFDN against the official AIM 2020 weights (njulj/RFDN ``RFDN_AIM.pth``): the checks of
tests/official_weights.py, and what only RFDN has. The generic ones (shapes, gradients,
detection at every scale) are in tests/test_models.py.

The whole benchmark under the protocol (``srmeta eval``, RGB LR uint8, float Y, border =
scale), x4: Set5 32.16 / 0.8946, Set14 28.65 / 0.7825, BSD100 27.61 / 0.7369, Urban100
26.15 / 0.7869. The RFDN paper's table (its own weights, a wider network) gives Set5
32.24; the challenge file is smaller (433 K parameters) and was trained for DIV2K.
Run on [0, 1] as it is, the file scores butterfly 20.8 dB, under bicubic's 22.1.
"""

from __future__ import annotations

import torch

from official_weights import OfficialWeightsChecks
from srmeta.models import ModelSpec, load_model
from srmeta.models.rfdn import RFDN, _at_least


class TestAIMWeights(OfficialWeightsChecks):
    FILE = "RFDN_AIM_x4.pth"
    SPEC = ModelSpec("rfdn", 4, {"n_feats": 50, "n_modules": 4, "rgb_range": 255.0})
    PARAMETERS = 433_448
    IMAGE = "butterfly"
    PSNR = 28.6407  # per_image.csv of the whole-set run

    def test_the_module_is_rfdn_with_its_fusion(self, weights):
        model = load_model(weights)
        assert isinstance(model, RFDN) and model.c is not None and model.n_blocks == 4


def test_only_inputs_too_small_for_the_official_esa_are_extended():
    """ESA's unpadded strided conv and 7x7 pool need 15 pixels a side: smaller maps are
    extended by repeating their last row and column, larger ones pass untouched (so
    they run exactly as the official code), and any input size has an output."""
    x = torch.rand(1, 2, 15, 16)
    assert torch.equal(_at_least(x, 15), x)
    small = _at_least(x[..., :2, :3], 15)
    assert small.shape == (1, 2, 15, 15)
    assert torch.equal(small[..., :2, :3], x[..., :2, :3])
    assert torch.equal(small[..., 14, 14], x[..., 1, 2])
    assert torch.equal(small[..., 1, :3], small[..., 9, :3])
    torch.manual_seed(0)
    with torch.no_grad():
        out = load_model("rfdn", 2, n_feats=8, n_modules=1)(torch.rand(1, 3, 1, 2))
    assert out.shape == (1, 3, 2, 4) and torch.isfinite(out).all()
