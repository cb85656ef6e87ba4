"""Bad inputs and odd uses end in a clear one-line error, never in a silently wrong output.

Each case here once produced a result that looked fine and was not (random weights, a
folder where a file was asked for, clamped or NaN pixels, a changed dtype): the oracle is
the user's request itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srmeta
from srmeta.cli import main
from srmeta.models.loading import load_model


def _png(path, h=9, w=7):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _exit_code(argv: list[str]) -> int:
    """What the shell would see: main's return value, or argparse's exit status."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


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


# --- PIL images keep their mode, alpha and orientation, as files do --------------------


def _pil_rgb(h=6, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_a_palette_image_with_transparency_keeps_its_alpha(model_file):
    rgba = np.concatenate([_pil_rgb(), np.full((6, 5, 1), 255, np.uint8)], axis=2)
    rgba[0, 0, 3] = 0
    paletted = Image.fromarray(rgba).convert("P")
    paletted.info["transparency"] = paletted.getpixel((0, 0))
    out = srmeta.upscale(paletted, model=model_file)
    assert out.mode == "RGBA" and out.size == (10, 12)
    assert np.asarray(out)[..., 3].min() < 255  # the transparent pixel is still there


@pytest.mark.parametrize("mode", ["1", "I", "F"])
def test_one_bit_32_bit_and_float_images_come_back_in_their_mode(model_file, mode):
    grey = _pil_rgb()[..., 0]
    if mode == "1":
        image = Image.fromarray(grey > 127).convert("1")
    elif mode == "I":
        image = Image.fromarray(grey.astype(np.int32) * 257, mode="I")
    else:
        image = Image.fromarray(grey.astype(np.float32) / 255.0, mode="F")
    out = srmeta.upscale(image, model=model_file)
    assert out.mode == mode and out.size == (10, 12)


def test_exif_orientation_of_a_pil_image_is_applied_as_for_files(model_file, tmp_path):
    upright = Image.fromarray(_pil_rgb(6, 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: displayed after a 90-degree clockwise turn
    path = tmp_path / "turned.jpg"
    upright.rotate(90, expand=True).save(path, exif=exif, quality=100)
    with Image.open(path) as pil:
        from_pil = srmeta.upscale(pil, model=model_file)
    from_file = Image.open(srmeta.upscale(path, model=model_file, out=tmp_path / "o.png"))
    assert from_pil.size == from_file.size == (8, 12)


def test_a_multi_frame_file_is_refused_rather_than_cut_to_its_first_frame(
    model_file, tmp_path, capsys
):
    frames = [Image.fromarray(_pil_rgb(seed=s)) for s in range(3)]
    path = tmp_path / "pages.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert main(["upscale", str(path), "--model", str(model_file)]) == 2
    assert "3 frames" in _error_line(capsys)
    assert not (tmp_path / "pages_x2.tif").exists()
    with Image.open(path) as pil, pytest.raises(srmeta.SrmetaError, match="3 frames"):
        srmeta.upscale(pil, model=model_file)


def test_a_lossless_webp_stays_lossless(model_file, tmp_path):
    path = tmp_path / "art.webp"
    Image.fromarray(_pil_rgb(16, 16)).save(path, lossless=True)
    out = srmeta.upscale(path, model=model_file)
    with open(out, "rb") as handle:
        header = handle.read(40)
    assert b"VP8L" in header  # the lossless bitstream, not VP8 (lossy)


# --- options and settings out of range end in one line, before any work -----------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tile-memory", "-5"], "positive number"),
        (["--tile-memory", "nan"], "positive number"),
        (["--outscale", "inf"], "positive number"),
        (["--outscale", "-1"], "positive number"),
        (["--tile", "0"], "positive integer"),
        (["--device", "cuda:7"], "CUDA"),
        (["--device", "foo"], "device"),
    ],
)
def test_upscale_options_out_of_range(extra, message, tmp_path, capsys):
    image = _png(tmp_path / "a.png")
    code = _exit_code(["upscale", str(image), "--model", "bicubic", "--scale", "2", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert _tree(tmp_path) == ["a.png"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-pixels", "0"], "positive integer"),
        (["--degradation", "blur:iso:1e9"], "too large"),
        (["--device", "cuda"], "CUDA"),
        (["--device", "foo"], "unknown device"),
    ],
)
def test_eval_options_out_of_range(extra, message, data_root, capsys):
    args = ["eval", "--datasets", "Set5", "--scales", "2", "--data-root", str(data_root)]
    assert _exit_code([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_eval_out_naming_a_file_fails_before_evaluating(data_root, tmp_path, capsys):
    taken = _png(tmp_path / "taken.png")
    args = ["eval", "--datasets", "Set5", "--scales", "2", "--data-root", str(data_root)]
    assert main([*args, "--out", str(taken), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "is a file" in captured.err and "Set5" not in captured.out  # nothing was scored


@pytest.mark.parametrize("outscale", [float("nan"), -2.0, 0, float("inf"), "3"])
def test_api_outscale_must_be_a_finite_positive_number(model_file, outscale):
    with pytest.raises(srmeta.SrmetaError, match="outscale"):
        srmeta.upscale(np.zeros((4, 4, 3), np.float32), model=model_file, outscale=outscale)


@pytest.mark.parametrize("scale", ["2", 5, True, 2.0])
def test_api_scale_must_be_2_3_or_4(scale):
    with pytest.raises(srmeta.SrmetaError, match="scale"):
        srmeta.upscale(np.zeros((4, 4, 3), np.uint8), scale=scale)


@pytest.mark.parametrize("shape", [(0, 5, 3), (5, 0), (0, 0)])
def test_an_empty_array_is_refused(model_file, shape):
    with pytest.raises(srmeta.SrmetaError, match="empty"):
        srmeta.upscale(np.zeros(shape, np.uint8), model=model_file)


# --- cheap checks first, and messages that say what is true -----------------------------


@pytest.mark.parametrize("out", ["folder/", "taken.onnx"])
def test_export_checks_its_output_before_exporting(model_file, tmp_path, capsys, out):
    (tmp_path / "taken.onnx").write_bytes(b"keep")
    (tmp_path / "folder").mkdir()
    target = f"{tmp_path}/{out}"
    assert _exit_code(["export", "--model", str(model_file), "-o", target]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "taken.onnx").read_bytes() == b"keep"
    assert list((tmp_path / "folder").iterdir()) == []


def test_demo_checks_its_output_first_and_says_it_runs_at_x4(tmp_path, capsys):
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"keep")
    assert _exit_code(["demo", "-o", str(taken)]) == 2
    assert "exists" in _error_line(capsys) and taken.read_bytes() == b"keep"
    assert _exit_code(["demo", "--model", "srmeta-x2", "-o", str(tmp_path / "d.png")]) == 2
    line = _error_line(capsys)
    assert "x4" in line and "--scale" not in line


def test_demo_help_has_no_raw_markup(capsys):
    assert _exit_code(["demo", "--help"]) == 0
    assert "``" not in capsys.readouterr().out


def test_a_name_without_a_scale_lists_the_scales_once(capsys):
    with pytest.raises(srmeta.SrmetaError) as exc:
        load_model("edsr")
    assert "((" not in str(exc.value) and "2, 3, 4" in str(exc.value)


def test_eval_defaults_to_the_models_own_scale(model_file, data_root, capsys):
    args = ["eval", "--model", str(model_file), "--datasets", "Set5", "--quiet"]
    assert _exit_code([*args, "--data-root", str(data_root)]) == 0
    assert "x2" in capsys.readouterr().out


def test_the_same_input_twice_is_upscaled_once(model_file, tmp_path, capsys):
    a = _png(tmp_path / "a.png")
    assert _exit_code(["upscale", str(a), str(tmp_path / "a.png"), "--model", str(model_file)]) == 0
    assert "upscaled 1 image by 2" in capsys.readouterr().out


# --- conventions users of Real-ESRGAN and BasicSR expect -----------------------------------


def test_version_is_the_installed_package_version(capsys):
    import importlib.metadata

    assert _exit_code(["--version"]) == 0
    assert importlib.metadata.version("srmeta") in capsys.readouterr().out


def test_suffix_ext_and_quality_name_and_encode_the_outputs(model_file, tmp_path):
    a, b = _png(tmp_path / "a.png", 16, 16), _png(tmp_path / "b.png", 16, 16)
    args = ["upscale", str(a), str(b), "--model", str(model_file), "--quiet"]
    assert _exit_code([*args, "--suffix", "sr", "--ext", "jpg", "--quality", "40"]) == 0
    small = (tmp_path / "a_sr.jpg").stat().st_size
    assert (tmp_path / "b_sr.jpg").is_file() and Image.open(tmp_path / "b_sr.jpg").format == "JPEG"
    out = tmp_path / "out"
    assert _exit_code([*args, "-o", f"{out}/", "--ext", "jpg", "--quality", "95"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.jpg"]
    assert (out / "a.jpg").stat().st_size > small  # the quality reached the encoder


@pytest.mark.parametrize("bad", [["--quality", "0"], ["--quality", "101"], ["--ext", "gif"]])
def test_bad_naming_options_are_refused(model_file, tmp_path, bad, capsys):
    a = _png(tmp_path / "a.png")
    assert _exit_code(["upscale", str(a), "--model", str(model_file), *bad]) == 2
    assert _tree(tmp_path) == ["a.png"]


# --- unsafe pickles are refused for what they are ------------------------------------------


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_an_unsafe_pth_is_refused_as_unsafe_not_damaged(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pth"
    torch.save({"weight": _Evil()}, evil)
    image = _png(tmp_path / "a.png")
    assert _exit_code(["upscale", str(image), "--model", str(evil)]) == 2
    line = _error_line(capsys)
    assert "Python objects" in line and "damaged" not in line and "weights_only" not in line


def test_resuming_from_an_unsafe_checkpoint_gives_no_torch_advice(tmp_path, data_root, capsys):
    from run_configs import write_run_config

    config = write_run_config(tmp_path, data_root, "run", train__steps=10)
    evil = tmp_path / "evil.pt"
    torch.save({"step": _Evil()}, evil)
    assert _exit_code(["train", str(config), "--resume", str(evil), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Python objects" in err and "weights_only" not in err and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists()


def test_a_16_bit_pil_image_comes_back_16_bit():
    image = Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 997)
    assert image.mode == "I;16"
    out = srmeta.upscale(image, scale=2, model="bicubic")
    assert out.mode == "I;16" and out.size == (16, 16)


def test_a_truncated_lazily_opened_pil_image_is_a_clean_error(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with Image.open(path) as image, pytest.raises(srmeta.SrmetaError, match="truncated"):
        srmeta.upscale(image, scale=2, model="bicubic")


def test_a_symlink_loop_as_output_is_refused(tmp_path, capsys):
    image = _png(tmp_path / "a.png")
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    assert (
        _exit_code(["upscale", str(image), "--model", "bicubic", "--scale", "2", "-o", str(loop)])
        == 2
    )
    assert "loop" in _error_line(capsys)
    assert loop.is_symlink()


def test_images_too_small_to_score_are_refused_before_any_work(tmp_path, data_root, capsys):
    folder = tmp_path / "sets" / "Tiny"
    folder.mkdir(parents=True)
    _png(folder / "big.png", 40, 40)
    _png(folder / "small.png", 6, 6)
    assert _exit_code(["eval", "--datasets", str(folder), "--scales", "4", "--quiet"]) == 2
    assert "small.png" in _error_line(capsys)
    from run_configs import write_run_config

    config = write_run_config(
        tmp_path,
        data_root,
        "run",
        train__steps=10,
        data__val={"datasets": [str(folder)], "every": 5},
    )
    assert _exit_code(["train", str(config), "--quiet"]) == 2
    assert "small.png" in _error_line(capsys)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # not a single step was run


def test_library_calls_print_no_progress_bars(data_root, tmp_path, capfd):
    srmeta.evaluate("bicubic", ["Set5"], [4], data_root=data_root)
    from run_configs import write_run_config
    from srmeta.config import load_config
    from srmeta.training.loop import train

    train(load_config(write_run_config(tmp_path, data_root, "run", train__steps=4)))
    captured = capfd.readouterr()
    assert "it/s" not in captured.err and "%|" not in captured.err


# --- outputs keep the input's colour profile, EXIF and DPI ---------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_exif_and_dpi_are_kept_with_orientation_reset(model_file, tmp_path, suffix):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: applied on reading, so the output must not say it again
    exif[0x010F] = "ParkingCam"  # Make
    path = tmp_path / f"shot{suffix}"
    save = {"icc_profile": icc, "exif": exif.tobytes()}
    if suffix != ".webp":
        save["dpi"] = (300, 300)
    Image.fromarray(_pil_rgb(8, 6)).save(path, **save)
    out = srmeta.upscale(path, model=model_file)
    with Image.open(out) as result:
        assert result.info.get("icc_profile") == icc
        kept = result.getexif()
        if suffix != ".tif":  # TIFF keeps profile and DPI only: its tags are the file's own
            assert kept.get(0x010F) == "ParkingCam"
        assert kept.get(0x0112, 1) == 1
        if suffix != ".webp":
            assert tuple(round(v) for v in result.info["dpi"]) == (300, 300)
        assert result.size == (16, 12)  # stored 6 x 8, shown turned: 8 x 6, then x2


def test_recursive_folders_keep_their_layout_in_the_output_folder(model_file, tmp_path):
    shots = tmp_path / "shots"
    (shots / "cam1" / "night").mkdir(parents=True)
    _png(shots / "top.png")
    _png(shots / "cam1" / "a.png")
    _png(shots / "cam1" / "night" / "b.png")
    out = tmp_path / "out"
    args = ["upscale", str(shots), "--model", str(model_file), "-o", f"{out}/", "--quiet"]
    assert _exit_code(args) == 0
    assert _tree(out) == ["top.png"]  # not recursive by default
    assert _exit_code([*args, "--recursive", "--force"]) == 0
    assert _tree(out) == ["cam1", "cam1/a.png", "cam1/night", "cam1/night/b.png", "top.png"]


def test_progress_moves_within_a_large_image(model_file, tmp_path, capsys):
    image = _png(tmp_path / "wide.png", 40, 90)
    assert _exit_code(["upscale", str(image), "--model", str(model_file), "--tile", "24"]) == 0
    err = capsys.readouterr().err
    assert "tile" in err and "wide.png" in err  # a per-tile bar, not only per image


@pytest.mark.parametrize(
    ("extra", "message"), [(["--device", "cuda"], "CUDA"), (["--device", "foo"], "'foo'")]
)
def test_train_refuses_a_missing_or_unknown_device_before_any_work(
    tmp_path, data_root, capsys, extra, message
):
    from run_configs import write_run_config

    config = write_run_config(tmp_path, data_root, "run", train__steps=4)
    assert _exit_code(["train", str(config), "--quiet", *extra]) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_train_output_dir_naming_a_file_is_refused(tmp_path, data_root, capsys):
    from run_configs import write_run_config

    config = write_run_config(tmp_path, data_root, "run", train__steps=4)
    (tmp_path / "run").write_text("not a folder")
    assert _exit_code(["train", str(config), "--quiet"]) == 2
    assert "is a file" in _error_line(capsys)
    assert (tmp_path / "run").read_text() == "not a folder"


def test_train_refuses_an_architecture_without_weights(tmp_path, data_root, capsys):
    """Bicubic's descriptor says it has no weights: refused before any work, not at Adam."""
    from run_configs import write_run_config

    config = write_run_config(
        tmp_path, data_root, "run", train__steps=4, model={"arch": "bicubic", "options": {}}
    )
    assert _exit_code(["train", str(config), "--quiet"]) == 2
    assert "bicubic has no weights to train" in _error_line(capsys)
    assert not (tmp_path / "run").exists()


def _eval_folder(folder, degradation: str = "down:bicubic") -> None:
    """A hand-written ``srmeta eval --out`` folder: one Set5 image, x4."""
    folder.mkdir()
    summary = {
        "model": "bicubic",
        "protocol": "rgb",
        "degradation": degradation,
        "y_channel": "float",
        "summary": [{"dataset": "Set5", "scale": 4, "images": 1, "psnr": 30.0, "ssim": 0.9}],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "per_image.csv").write_text("dataset,scale,image,psnr,ssim\nSet5,4,baby,30.0,0.9\n")


COMPARE_BAD = {
    "missing eval folder": (["--eval", "{tmp}/nope"], "--eval {tmp}/nope: no such folder"),
    "eval folder without scores": (["--eval", "{tmp}/empty"], "no summary.json"),
    "output is a directory": (["--model", "bicubic", "--out", "{tmp}/empty"], "is a directory"),
    "unknown model": (["--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    "architecture without weights": (["--model", "edsr"], "without trained weights"),
    "model of another scale": (["--model", "srmeta-x4", "--scales", "2"], "is x4"),
    "nothing to compare": ([], "nothing to compare"),
    "images without models": (["--eval", "{tmp}/ev", "--images", "Set5:baby"], "needs --model"),
    "image of another set": (["--model", "bicubic", "--images", "Set14:baboon"], "not among"),
    "unknown image": (["--model", "bicubic", "--images", "Set5:nobody"], "no image 'nobody'"),
    "eval scored another way": (
        ["--model", "bicubic", "--eval", "{tmp}/ev", "--degradation", "noise:5"],
        "scored another way",
    ),
    "run without metrics": (["--run", "{tmp}/empty"], "no metrics.jsonl"),
}


@pytest.mark.parametrize("case", COMPARE_BAD)
def test_compare_refuses_bad_inputs_before_any_work(case, tmp_path, data_root, capsys, monkeypatch):
    """One line, exit 2, nothing written, and no model run: every check comes first."""
    import srmeta.report.compare

    def no_work(*_args, **_kwargs):
        raise AssertionError("evaluated before checking the inputs")

    monkeypatch.setattr(srmeta.report.compare, "evaluate", no_work)
    (tmp_path / "empty").mkdir()
    _eval_folder(tmp_path / "ev")
    extra, message = COMPARE_BAD[case]
    extra = [part.format(tmp=tmp_path) for part in extra]
    out = [] if "--out" in extra else ["--out", str(tmp_path / "report.html")]
    before = _tree(tmp_path)
    argv = ["compare", *extra, *out, "--data-root", str(data_root), "--quiet"]
    assert _exit_code(argv) == 2
    assert message.format(tmp=tmp_path) in _error_line(capsys)
    assert _tree(tmp_path) == before


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
    image = _png(tmp_path / "a.png")
    before = _tree(tmp_path)
    argv = {
        "upscale": ["upscale", str(image), "-o", str(tmp_path / "out.png")],
        "eval": ["eval", "--datasets", "Set5", "--data-root", data_root, "--no-cache"],
        "export": ["export", "-o", str(tmp_path / "m.onnx")],
    }[command]
    if command == "eval":
        argv += ["--scales", "4", "--out", str(tmp_path / "scores")]
    assert _exit_code([*argv, "--model", str(weights)]) == 2
    assert message in _error_line(capsys)
    assert _tree(tmp_path) == before  # no output, and no PWNED from the pickle


# --- the public API's arguments, and files given as the wrong thing -----------------------


@pytest.mark.parametrize("scales", ["4", "2,3", b"4", [2, "3"], [True], [0], [], 4.0, None])
def test_evaluate_refuses_scales_that_are_not_ints_in_one_line(scales, data_root):
    """``evaluate(model, sets, "4")`` ended in a TypeError deep in the size check."""
    with pytest.raises(srmeta.SrmetaError, match="scales must be") as exc:
        srmeta.evaluate("bicubic", ["Set5"], scales, data_root=data_root)
    assert "\n" not in str(exc.value)


def test_evaluate_takes_one_int_as_one_scale(data_root):
    one = srmeta.evaluate("bicubic", ["Set5"], 4, data_root=data_root).summary()
    assert one == srmeta.evaluate("bicubic", ["Set5"], [4], data_root=data_root).summary()
    assert [row.scale for row in one] == [4]


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
    Image.fromarray(_pil_rgb(8, 8)).save(weights, **save)
    image = _png(tmp_path / "a.png")
    assert _exit_code(["upscale", str(image), "--model", str(weights)]) == 2
    line = _error_line(capsys)
    assert f"{weights}: not a model weights file (.safetensors/.pth)" in line
    assert f"it looks like a {kind} image" in line and "Python objects" not in line
    with pytest.raises(srmeta.SrmetaError, match=f"looks like a {kind} image"):
        load_model(weights)
