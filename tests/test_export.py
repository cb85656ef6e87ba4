"""ONNX export, the onnxruntime and OpenVINO backends against torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from srmeta.cli import main
from srmeta.errors import SrmetaError
from srmeta.export import export_onnx, export_reason, onnx_bytes
from srmeta.imageio import ImageData, read_image
from srmeta.inference.upscaler import Upscaler
from srmeta.models.files import save_model_file
from srmeta.models.loading import load_model
from srmeta.resize import imresize

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


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
@pytest.mark.parametrize("model", ["bicubic", "srmeta-fast-x2"])
def test_exported_bicubic_and_fast_models_match_torch_at_every_size(
    backend, model, tmp_path, monkeypatch
):
    """Bicubic took its taps from NumPy at the size it was traced at (grid lines and noise
    at every other size, no ONNX export at all), and the polyphase upsampler of the fast
    models branched on the size (1-pixel sides failed in the exported graph). Oracles:
    MATLAB imresize for bicubic, the torch backend for both."""
    monkeypatch.setenv("SRMETA_CACHE", str(tmp_path))  # exported here, not taken from a cache
    exported = Upscaler(model, 2, backend=backend)
    on_torch = Upscaler(model, 2, backend="torch")
    assert exported.backend == backend
    for h, w in [(1, 1), (1, 7), (7, 1), (2, 3), (40, 50)]:
        lr = torch.from_numpy(_rgb(h, w).transpose(2, 0, 1).copy()).float() / 255
        got = exported.upscale_tensor(lr)
        assert float((got - on_torch.upscale_tensor(lr)).abs().max()) < 1e-4, (h, w)
        if model == "bicubic":
            assert float((got - imresize(lr.double(), 2.0)).abs().max()) < 1e-4, (h, w)
        image = ImageData(_rgb(h, w, seed=1), None, "PNG")
        a = exported.upscale_image(image).colour.astype(int)
        b = on_torch.upscale_image(image).colour.astype(int)
        assert a.shape == (2 * h, 2 * w, 3) and np.abs(a - b).max() <= 1, (h, w)


def test_a_first_export_prints_nothing(tmp_path, monkeypatch, capfd):
    """The exporter's narration, its log lines (torchvision not installed) and its
    FutureWarnings are not the user's business: a first ONNX export is silent."""
    monkeypatch.setenv("SRMETA_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "in.png"
    Image.fromarray(_rgb(12, 10)).save(image)
    args = ["upscale", str(image), "--model", "bicubic", "--scale", "2", "--quiet"]
    assert main([*args, "--backend", "onnx"]) == 0
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert np.array_equal(  # and it gave bicubic's image
        read_image(tmp_path / "in_x2.png").colour,
        Upscaler("bicubic", 2, backend="torch").upscale_image(read_image(image)).colour,
    )


class _DataDependent(torch.nn.Module):
    """A branch on pixel values: torch.export refuses it."""

    def forward(self, x):
        scaled = torch.nn.functional.interpolate(x, scale_factor=2)
        return scaled if x.sum() > 0 else -scaled


def test_an_export_failure_is_one_plain_line_naming_the_cause(capfd):
    with pytest.raises(SrmetaError) as exc:
        onnx_bytes(_DataDependent(), 2)
    message = str(exc.value)
    assert message.startswith("cannot export _DataDependent to ONNX: ")
    assert "data-dependent" in message and "step 1/3" not in message
    assert "\n" not in message and "\x1b" not in message
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # no partial graph dumped on stderr


def test_export_reason_is_the_innermost_cause_without_colour_codes():
    try:
        try:
            raise ValueError("the \x1b[1mreal\x1b[0m cause\nwith details")
        except ValueError as inner:
            raise RuntimeError("Failed. \x1b[96mThis is step 1/3\x1b[0m of it") from inner
    except RuntimeError as outer:
        assert export_reason(outer) == "the real cause"
