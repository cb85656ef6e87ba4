"""Files srmeta cannot use as weights are refused for what they are, with nothing written.

An unsafe pickle, a restoration model, an unknown state dict or a photo renamed ``.pth``
each once reached a loader that blamed the wrong thing (damage, torch advice, "Python
objects"); the oracle is what the file really is, made by the test itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import srmeta
from cli_errors import error_line, exit_code, png, tree
from srmeta.models.loading import load_model

# --- unsafe pickles are refused for what they are ------------------------------------------


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_an_unsafe_pth_is_refused_as_unsafe_not_damaged(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pth"
    torch.save({"weight": _Evil()}, evil)
    image = png(tmp_path / "a.png")
    assert exit_code(["upscale", str(image), "--model", str(evil)]) == 2
    line = error_line(capsys)
    assert "Python objects" in line and "damaged" not in line and "weights_only" not in line


def test_resuming_from_an_unsafe_checkpoint_gives_no_torch_advice(tmp_path, data_root, capsys):
    from run_configs import write_run_config

    config = write_run_config(tmp_path, data_root, "run", train__steps=10)
    evil = tmp_path / "evil.pt"
    torch.save({"step": _Evil()}, evil)
    assert exit_code(["train", str(config), "--resume", str(evil), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Python objects" in err and "weights_only" not in err and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists()


# --- weights srmeta cannot use: every command refuses them the same way --------------------


def _restoration_weights(path):
    """A known family (IMDN) at x1: its upsampler makes 3 * 1^2 channels, a denoiser's
    or deblurrer's shape."""
    state = load_model("imdn", 2, n_feats=8, n_modules=1).state_dict()
    state["upsampler.0.weight"] = torch.randn(3, 8, 3, 3)
    state["upsampler.0.bias"] = torch.randn(3)
    torch.save(state, path)


WEIGHTS_SRMETA_CANNOT_USE = {
    "unknown": (
        lambda path: torch.save({"conv.weight": torch.randn(8, 3, 3, 3)}, path),
        "cannot tell which architecture",
    ),
    "unsafe": (lambda path: torch.save({"weight": _Evil()}, path), "Python objects"),
    "restoration": (_restoration_weights, "imdn weights for x1, a restoration model"),
}


@pytest.mark.parametrize("kind", sorted(WEIGHTS_SRMETA_CANNOT_USE))
@pytest.mark.parametrize("command", ["upscale", "eval", "export"])
def test_weights_srmeta_cannot_use_get_one_line_and_nothing_written(
    tmp_path, data_root, capsys, monkeypatch, kind, command
):
    data_root = str(Path(data_root).resolve())
    monkeypatch.chdir(tmp_path)  # where the pickle's payload would write
    write, message = WEIGHTS_SRMETA_CANNOT_USE[kind]
    weights = tmp_path / "weights.pth"
    write(weights)
    image = png(tmp_path / "a.png")
    before = tree(tmp_path)
    argv = {
        "upscale": ["upscale", str(image), "-o", str(tmp_path / "out.png")],
        "eval": ["eval", "--datasets", "Set5", "--data-root", data_root, "--no-cache"],
        "export": ["export", "-o", str(tmp_path / "m.onnx")],
    }[command]
    if command == "eval":
        argv += ["--scales", "4", "--out", str(tmp_path / "scores")]
    assert exit_code([*argv, "--model", str(weights)]) == 2
    assert message in error_line(capsys)
    assert tree(tmp_path) == before  # no output, and no PWNED from the pickle


# --- files given as the wrong thing ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "save"),
    [
        ("photo.jpg", "JPEG", {}),
        ("shot.png", "PNG", {}),
        ("pic.webp", "WebP", {}),
        ("scan.tif", "TIFF", {}),
        ("photo.pth", "JPEG", {"format": "JPEG"}),  # an image renamed, as weights
    ],
)
def test_an_image_given_as_the_model_is_named_as_an_image(tmp_path, capsys, name, kind, save):
    """A JPEG as --model reached the pickle loader, which said it "holds Python objects"."""
    weights = tmp_path / name
    png(weights, 8, 8, **save)
    image = png(tmp_path / "a.png")
    assert exit_code(["upscale", str(image), "--model", str(weights)]) == 2
    line = error_line(capsys)
    assert f"{weights}: not a model weights file (.safetensors/.pth)" in line
    assert f"it looks like a {kind} image" in line and "Python objects" not in line
    with pytest.raises(srmeta.SrmetaError, match=f"looks like a {kind} image"):
        load_model(weights)
