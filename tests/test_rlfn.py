"""RLFN against the NTIRE 2022 efficient-SR winner's weights (ofsoundof/NTIRE2022_ESR
``team04_rlfn.pth``): the checks of tests/official_weights.py, and what only RLFN has.
The generic ones (shapes, gradients, detection at every scale) are in tests/test_models.py.

The whole benchmark under the protocol (``srmeta eval``, RGB LR uint8, float Y, border =
scale), x4: Set5 32.10 / 0.8939, Set14 28.60 / 0.7815, BSD100 27.58 / 0.7359, Urban100
26.10 / 0.7851. The RLFN paper's table (ByteDance's 6-block, 52-feature network) gives
Set5 32.24; this is the pruned challenge network (4 blocks, 46 features, 317 K
parameters), trained for DIV2K. The challenge runs it with ``data_range`` 255; on [0, 1]
as it is, it scores baby 27.7 dB, under bicubic's 31.8.
"""

from __future__ import annotations

import safetensors.torch
import torch

from official_weights import OfficialWeightsChecks
from srmeta.models import ModelSpec, get_descriptor, load_model, read_model_file
from srmeta.models.rlfn import RLFN, detect

RELEASED = {"n_feats": 46, "mid_feats": 48, "n_blocks": 4, "esa_feats": 16, "rgb_range": 255.0}


class TestNTIRE2022Weights(OfficialWeightsChecks):
    FILE = "RLFN_NTIRE2022_x4.pth"
    SPEC = ModelSpec("rlfn", 4, RELEASED)
    PARAMETERS = 317_218
    IMAGE = "baby"
    PSNR = 33.7366  # per_image.csv of the whole-set run

    def test_the_module_is_rlfn_without_fusion(self, weights):
        model = load_model(weights)
        assert isinstance(model, RLFN) and model.c is None and model.n_blocks == 4


def test_rfdn_weights_are_not_taken_for_rlfn(tmp_path):
    """Both keep ``B{i}.c1_r``, ``c5`` and ``esa``: RFDN's distilling convs and fusion
    tell them apart, whichever is tried first."""
    torch.manual_seed(0)
    rfdn = get_descriptor("rfdn").instantiate(3, n_feats=8, n_modules=2)
    path = tmp_path / "rfdn.safetensors"
    safetensors.torch.save_file(rfdn.state_dict(), str(path))
    assert detect(rfdn.state_dict()) is None
    assert read_model_file(path)[1].arch == "rfdn"
