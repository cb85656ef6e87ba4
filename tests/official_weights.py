"""The checks every network held to its released weights gets, written once: a test module
subclasses :class:`OfficialWeightsChecks` and says which file, what detection must find
and what one Set5 image scores (test_rfdn.py, test_rlfn.py).

The file loads strictly as detected, one Set5 image scores as over the whole set, the
pixel range the weights work in matters, tiling gives the whole-image output, and
the ONNX export equals torch. Comparisons run on crops of real pictures, never uniform
noise: some released networks diverge on noise (see test_pan.py), which no image reaches.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from srmeta.data.benchmarks import find_dataset
from srmeta.evaluation import evaluate
from srmeta.export import export_onnx, probe_batch
from srmeta.inference.tiling import upscale_tiled
from srmeta.inference.upscaler import Upscaler
from srmeta.models import ModelSpec, load_model, model_info, read_model_file

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("SRMETA_PEERS", REPO.parent / "shared" / "peers")) / "torch"


def set5_psnr(model: str | nn.Module, data_root: Path, image: str, scale: int = 4) -> float:
    """Y-PSNR of one Set5 image under the protocol (what ``srmeta eval`` scores)."""
    subset = find_dataset("Set5", data_root).subset({image}, "")
    (score,) = evaluate(model, [subset], [scale], data_root=data_root).images
    assert score.image == image
    return score.psnr


def natural_lr(data_root: Path) -> torch.Tensor:
    """An odd-sized crop (101 x 93) of a real x4 LR image, float in [0, 1]."""
    path = data_root / "Set5" / "LR_bicubic" / "X4" / "baby.png"
    pixels = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    return pixels[:, 3:104, 7:100].float() / 255.0


class OfficialWeightsChecks:
    """Set by the subclass: ``FILE`` (under the peers' ``torch/``), the ``SPEC`` detection
    must find, the file's ``PARAMETERS``, and ``PSNR``, what Set5 ``IMAGE`` scores at
    ``SPEC.scale`` as measured over the whole set by ``srmeta eval``."""

    FILE: str
    SPEC: ModelSpec
    PARAMETERS: int
    IMAGE: str
    PSNR: float
    TILE = 64  # several tiles over natural_lr
    ATTENTION_LAYERS = 4  # image-wide layers, each a gathering pass over the tiles

    @pytest.fixture
    def weights(self) -> Path:
        path = PEERS / self.FILE
        assert path.is_file(), f"official weights not found at {path}; set SRMETA_PEERS"
        return path

    def test_official_weights_load_strictly_as_detected(self, weights):
        raw = torch.load(weights, weights_only=True, map_location="cpu")
        assert read_model_file(weights)[1] == self.SPEC
        model = load_model(weights)
        info = model_info(model)
        assert info is not None and (info.arch, info.scale) == (self.SPEC.arch, self.SPEC.scale)
        assert not model.training
        assert sum(p.numel() for p in model.parameters()) == self.PARAMETERS
        state = model.state_dict()
        assert set(state) == set(raw)
        for key, tensor in state.items():
            assert torch.equal(tensor, raw[key]), key

    def test_one_set5_image_scores_as_measured_over_the_set(self, weights, data_root):
        assert set5_psnr(str(weights), data_root, self.IMAGE) == pytest.approx(self.PSNR, abs=0.1)

    def test_the_weights_need_their_pixel_range(self, weights, data_root):
        """Run on srmeta's [0, 1] as it is (``rgb_range: 1``), weights trained on [0, 255]
        lose to bicubic: the default ``rgb_range`` is the weights' own, not a taste."""
        assert self.SPEC.options["rgb_range"] == 255.0
        as_is = set5_psnr(load_model(weights, rgb_range=1.0), data_root, self.IMAGE)
        assert as_is < set5_psnr("bicubic", data_root, self.IMAGE)

    def test_tiled_upscale_equals_untiled(self, weights, data_root):
        """ESA's pooled mask depends on the whole image; gathered from the tiles
        (:mod:`srmeta.inference.exact_tiling`), tiled output is the whole image's. Tiles
        run as they are, each with its own mask, differ visibly: they are checked too."""
        upscaler = Upscaler(weights, backend="torch", tile=self.TILE)
        assert upscaler.plan.blend == 0 and upscaler.gather_passes == self.ATTENTION_LAYERS
        lr = natural_lr(data_root)
        assert upscaler.tiles_for(*lr.shape[1:]) > 1
        with torch.no_grad():
            whole = upscaler.module(lr[None])[0]
        assert float((upscaler.upscale_tensor(lr) - whole).abs().max()) < 1e-5
        as_they_are = torch.empty_like(whole)

        def sink(top: int, left: int, block: torch.Tensor) -> None:
            as_they_are[:, top : top + block.shape[1], left : left + block.shape[2]] = block

        with torch.no_grad():
            upscale_tiled(upscaler.module, lr, upscaler.scale, upscaler.plan, sink, 1)
        assert float((as_they_are - whole).abs().max()) > 1e-3

    def test_onnx_export_matches_torch(self, weights, tmp_path):
        """The exporter's own check (:func:`probe_batch`), then two more sizes through
        onnxruntime: the graph's sizes are dynamic."""
        model = load_model(weights)
        target = tmp_path / "model.onnx"
        scale = self.SPEC.scale
        assert scale is not None
        assert export_onnx(model, target, scale, self.SPEC.arch) < 1e-4
        import onnxruntime as ort

        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        probe = probe_batch()
        for x in (probe[:, :, :23, :17], probe[:1, :, 5:, 3:]):
            (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
            with torch.no_grad():
                want = model(x).numpy()
            assert (
                got.shape == want.shape == (x.shape[0], 3, x.shape[2] * scale, x.shape[3] * scale)
            )
            assert np.abs(got - want).max() < 1e-4

    def test_openvino_backend_matches_torch(self, weights, data_root):
        """OpenVINO cannot trace these networks (their size guard is symbolic), so the
        backend converts their ONNX export: the whole image as torch's within 1e-4. A
        graph cannot gather the attention from tiles, so an image of several tiles runs on
        torch, exactly."""
        lr = natural_lr(data_root)
        with torch.no_grad():
            whole = load_model(weights)(lr[None])[0]
        untiled = Upscaler(weights, backend="openvino")
        assert untiled.backend == "openvino" and untiled.tiles_for(*lr.shape[1:]) == 1
        assert untiled.backend_for(*lr.shape[1:]) == "openvino"
        assert float((untiled.upscale_tensor(lr) - whole).abs().max()) < 1e-4
        tiled = Upscaler(weights, backend="openvino", tile=self.TILE)
        assert tiled.backend_for(*lr.shape[1:]) == "torch"
        assert float((tiled.upscale_tensor(lr) - whole).abs().max()) < 1e-5
