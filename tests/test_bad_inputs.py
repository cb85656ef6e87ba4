"""Bad inputs and odd uses end in a clear one-line error, never in a silently wrong output.

Each case here once produced a result that looked fine and was not (random weights, a
folder where a file was asked for, clamped or NaN pixels, a changed dtype): the oracle is
the user's request itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import srmeta
from srmeta.cli import main
from srmeta.models.files import save_model_file
from srmeta.models.registry import load_model

OPTIONS = {"n_resblocks": 1, "n_feats": 8}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny_x2.safetensors"
    save_model_file(path, load_model("edsr", 2, **OPTIONS), "edsr", 2, OPTIONS)
    return path


def _png(path, h=9, w=7):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _error_line(capsys) -> str:
    """The command's error messages (one line each; the progress bar shares stderr)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("srmeta: error")]
    assert errors
    return " | ".join(errors)


def _tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("command", ["upscale", "export"])
def test_an_architecture_without_weights_is_refused(command, tmp_path, capsys):
    image = _png(tmp_path / "in.png")
    before = _tree(tmp_path)
    args = [str(image)] if command == "upscale" else ["-o", str(tmp_path / "m.onnx")]
    assert main([command, *args, "--model", "edsr", "--scale", "2"]) == 2
    assert "without trained weights" in _error_line(capsys)
    assert _tree(tmp_path) == before
    with pytest.raises(srmeta.SrmetaError, match="without trained weights"):
        srmeta.upscale(np.zeros((4, 4, 3), np.uint8), model="edsr", scale=2)


def test_bicubic_needs_no_weights_and_still_works(tmp_path):
    image = _png(tmp_path / "in.png")
    assert main(["upscale", str(image), "--model", "bicubic", "--scale", "2", "--quiet"]) == 0
    assert (tmp_path / "in_x2.png").is_file()


def test_a_file_name_for_several_inputs_is_refused_not_made_a_folder(model_file, tmp_path, capsys):
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png")
    out = tmp_path / "out.png"
    assert main(["upscale", str(a), str(b), "--model", str(model_file), "-o", str(out)]) == 2
    assert "names one file" in _error_line(capsys)
    assert not out.exists()


def test_an_unknown_output_extension_is_an_error_not_a_folder(model_file, tmp_path, capsys):
    a = _png(tmp_path / "a.png")
    out = tmp_path / "result.xyz"
    assert main(["upscale", str(a), "--model", str(model_file), "-o", str(out)]) == 2
    assert "xyz" in _error_line(capsys)
    assert not out.exists()


def test_a_trailing_slash_makes_a_folder_even_with_a_dot(model_file, tmp_path):
    a = _png(tmp_path / "a.png")
    out = tmp_path / "results.v2"
    assert main(["upscale", str(a), "--model", str(model_file), "-o", f"{out}/", "--quiet"]) == 0
    assert (out / "a.png").is_file()


def test_an_empty_input_name_is_not_the_current_folder(model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "here.png")
    assert main(["upscale", "", "--model", str(model_file)]) == 2
    assert "empty" in _error_line(capsys)
    assert _tree(tmp_path) == ["here.png"]


@pytest.mark.parametrize("bad", [np.nan, -0.5, 1.5, np.inf])
def test_float_arrays_outside_0_1_or_not_finite_are_refused(model_file, bad):
    array = np.full((5, 4, 3), 0.5, dtype=np.float32)
    array[2, 1, 0] = bad
    with pytest.raises(srmeta.SrmetaError, match=r"\[0, 1\]") as exc:
        srmeta.upscale(array, model=model_file)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_arrays_come_back_in_their_own_dtype(model_file, dtype):
    array = np.random.default_rng(1).random((5, 4, 3)).astype(dtype)
    out = srmeta.upscale(array, model=model_file)
    assert out.dtype == dtype and out.shape == (10, 8, 3)
