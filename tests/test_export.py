"""ONNX export and the onnxruntime backend against torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from srmeta.cli import main
from srmeta.export import export_onnx
from srmeta.imageio import ImageData
from srmeta.inference.upscaler import Upscaler
from srmeta.models.files import save_model_file
from srmeta.models.loading import load_model

OPTIONS = {"n_resblocks": 1, "n_feats": 8}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = load_model("edsr", 3, **OPTIONS)
    path = tmp_path_factory.mktemp("onnx") / "tiny_x3.safetensors"
    save_model_file(path, model, "edsr", 3, OPTIONS)
    return model, path


def test_exported_graph_matches_torch_at_any_size(tiny, tmp_path):
    model, _ = tiny
    target = tmp_path / "tiny.onnx"
    difference = export_onnx(model, target, 3, "edsr")
    assert difference < 1e-4
    proto = onnx.load(str(target))
    assert {p.key: p.value for p in proto.metadata_props}["srmeta.scale"] == "3"
    import onnxruntime as ort

    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 16, 16), (3, 3, 23, 41)]:  # dynamic batch, height and width
        x = torch.rand(*shape)
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            want = model(x).numpy()
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_onnx_backend_upscales_like_the_torch_backend(tiny):
    _, path = tiny
    lr = torch.rand(3, 45, 38)
    on_torch = Upscaler(path, tile=24).upscale_tensor(lr)
    on_onnx = Upscaler(path, tile=24, backend="onnx").upscale_tensor(lr)
    assert float((on_torch - on_onnx).abs().max()) < 1e-4
    image = ImageData((lr.permute(1, 2, 0).numpy() * 255).astype(np.uint8), None, "PNG")
    a = Upscaler(path, backend="onnx").upscale_image(image).colour.astype(int)
    b = Upscaler(path).upscale_image(image).colour.astype(int)
    assert np.abs(a - b).max() <= 1


def test_export_command_writes_once_and_refuses_to_replace(tiny, tmp_path, capsys):
    _, path = tiny
    target = tmp_path / "m.onnx"
    assert main(["export", "--model", str(path), "--format", "onnx", "-o", str(target)]) == 0
    assert "max abs difference" in capsys.readouterr().out and target.is_file()
    assert main(["export", "--model", str(path), "-o", str(target)]) == 2
    assert "exists" in capsys.readouterr().err
