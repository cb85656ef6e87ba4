"""Bad inputs and odd uses end in a clear one-line error, never in a silently wrong output.

Each case here once produced a result that looked fine and was not (random weights, a
folder where a file was asked for, clamped or NaN pixels, a changed dtype): the oracle is
the user's request itself.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import srmeta
from cli_errors import error_line, exit_code, png, tree
from srmeta.cli import main
from srmeta.models.loading import load_model


@pytest.mark.parametrize("command", ["upscale", "export"])
def test_an_architecture_without_weights_is_refused(command, tmp_path, capsys):
    image = png(tmp_path / "in.png")
    before = tree(tmp_path)
    args = [str(image)] if command == "upscale" else ["-o", str(tmp_path / "m.onnx")]
    assert main([command, *args, "--model", "edsr", "--scale", "2"]) == 2
    assert "without trained weights" in error_line(capsys)
    assert tree(tmp_path) == before
    with pytest.raises(srmeta.SrmetaError, match="without trained weights"):
        srmeta.upscale(np.zeros((4, 4, 3), np.uint8), model="edsr", scale=2)


def test_bicubic_needs_no_weights_and_still_works(tmp_path):
    image = png(tmp_path / "in.png")
    assert main(["upscale", str(image), "--model", "bicubic", "--scale", "2", "--quiet"]) == 0
    assert (tmp_path / "in_x2.png").is_file()


def test_a_file_name_for_several_inputs_is_refused_not_made_a_folder(model_file, tmp_path, capsys):
    a, b = png(tmp_path / "a.png"), png(tmp_path / "b.png")
    out = tmp_path / "out.png"
    assert main(["upscale", str(a), str(b), "--model", str(model_file), "-o", str(out)]) == 2
    assert "names one file" in error_line(capsys)
    assert not out.exists()


def test_an_unknown_output_extension_is_an_error_not_a_folder(model_file, tmp_path, capsys):
    a = png(tmp_path / "a.png")
    out = tmp_path / "result.xyz"
    assert main(["upscale", str(a), "--model", str(model_file), "-o", str(out)]) == 2
    assert "xyz" in error_line(capsys)
    assert not out.exists()


def test_a_trailing_slash_makes_a_folder_even_with_a_dot(model_file, tmp_path):
    a = png(tmp_path / "a.png")
    out = tmp_path / "results.v2"
    assert main(["upscale", str(a), "--model", str(model_file), "-o", f"{out}/", "--quiet"]) == 0
    assert (out / "a.png").is_file()


def test_an_empty_input_name_is_not_the_current_folder(model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    png(tmp_path / "here.png")
    assert main(["upscale", "", "--model", str(model_file)]) == 2
    assert "empty" in error_line(capsys)
    assert tree(tmp_path) == ["here.png"]


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
    image = png(tmp_path / "a.png")
    code = exit_code(["upscale", str(image), "--model", "bicubic", "--scale", "2", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert tree(tmp_path) == ["a.png"]


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
    assert exit_code([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_eval_out_naming_a_file_fails_before_evaluating(data_root, tmp_path, capsys):
    taken = png(tmp_path / "taken.png")
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
    assert exit_code(["export", "--model", str(model_file), "-o", target]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "taken.onnx").read_bytes() == b"keep"
    assert list((tmp_path / "folder").iterdir()) == []


def test_demo_checks_its_output_first_and_says_it_runs_at_x4(tmp_path, capsys):
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"keep")
    assert exit_code(["demo", "-o", str(taken)]) == 2
    assert "exists" in error_line(capsys) and taken.read_bytes() == b"keep"
    assert exit_code(["demo", "--model", "srmeta-x2", "-o", str(tmp_path / "d.png")]) == 2
    line = error_line(capsys)
    assert "x4" in line and "--scale" not in line


def test_demo_help_has_no_raw_markup(capsys):
    assert exit_code(["demo", "--help"]) == 0
    assert "``" not in capsys.readouterr().out


def test_a_name_without_a_scale_lists_the_scales_once(capsys):
    with pytest.raises(srmeta.SrmetaError) as exc:
        load_model("edsr")
    assert "((" not in str(exc.value) and "2, 3, 4" in str(exc.value)


def test_eval_defaults_to_the_models_own_scale(model_file, data_root, capsys):
    args = ["eval", "--model", str(model_file), "--datasets", "Set5", "--quiet"]
    assert exit_code([*args, "--data-root", str(data_root)]) == 0
    assert "x2" in capsys.readouterr().out


def test_the_same_input_twice_is_upscaled_once(model_file, tmp_path, capsys):
    a = png(tmp_path / "a.png")
    assert exit_code(["upscale", str(a), str(tmp_path / "a.png"), "--model", str(model_file)]) == 0
    assert "upscaled 1 image by 2" in capsys.readouterr().out


# --- conventions users of Real-ESRGAN and BasicSR expect -----------------------------------


def test_version_is_the_installed_package_version(capsys):
    import importlib.metadata

    assert exit_code(["--version"]) == 0
    assert importlib.metadata.version("srmeta") in capsys.readouterr().out


def test_suffix_ext_and_quality_name_and_encode_the_outputs(model_file, tmp_path):
    a, b = png(tmp_path / "a.png", 16, 16), png(tmp_path / "b.png", 16, 16)
    args = ["upscale", str(a), str(b), "--model", str(model_file), "--quiet"]
    assert exit_code([*args, "--suffix", "sr", "--ext", "jpg", "--quality", "40"]) == 0
    small = (tmp_path / "a_sr.jpg").stat().st_size
    assert (tmp_path / "b_sr.jpg").is_file() and Image.open(tmp_path / "b_sr.jpg").format == "JPEG"
    out = tmp_path / "out"
    assert exit_code([*args, "-o", f"{out}/", "--ext", "jpg", "--quality", "95"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.jpg"]
    assert (out / "a.jpg").stat().st_size > small  # the quality reached the encoder


@pytest.mark.parametrize("bad", [["--quality", "0"], ["--quality", "101"], ["--ext", "gif"]])
def test_bad_naming_options_are_refused(model_file, tmp_path, bad, capsys):
    a = png(tmp_path / "a.png")
    assert exit_code(["upscale", str(a), "--model", str(model_file), *bad]) == 2
    assert tree(tmp_path) == ["a.png"]


def test_a_symlink_loop_as_output_is_refused(tmp_path, capsys):
    image = png(tmp_path / "a.png")
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    assert (
        exit_code(["upscale", str(image), "--model", "bicubic", "--scale", "2", "-o", str(loop)])
        == 2
    )
    assert "loop" in error_line(capsys)
    assert loop.is_symlink()


def test_images_too_small_to_score_are_refused_before_any_work(tmp_path, data_root, capsys):
    folder = tmp_path / "sets" / "Tiny"
    folder.mkdir(parents=True)
    png(folder / "big.png", 40, 40)
    png(folder / "small.png", 6, 6)
    assert exit_code(["eval", "--datasets", str(folder), "--scales", "4", "--quiet"]) == 2
    assert "small.png" in error_line(capsys)
    from run_configs import write_run_config

    config = write_run_config(
        tmp_path,
        data_root,
        "run",
        train__steps=10,
        data__val={"datasets": [str(folder)], "every": 5},
    )
    assert exit_code(["train", str(config), "--quiet"]) == 2
    assert "small.png" in error_line(capsys)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # not a single step was run


def test_library_calls_print_no_progress_bars(data_root, tmp_path, capfd):
    srmeta.evaluate("bicubic", ["Set5"], [4], data_root=data_root)
    from run_configs import write_run_config
    from srmeta.config import load_config
    from srmeta.training.loop import train

    train(load_config(write_run_config(tmp_path, data_root, "run", train__steps=4)))
    captured = capfd.readouterr()
    assert "it/s" not in captured.err and "%|" not in captured.err


def test_recursive_folders_keep_their_layout_in_the_output_folder(model_file, tmp_path):
    shots = tmp_path / "shots"
    (shots / "cam1" / "night").mkdir(parents=True)
    png(shots / "top.png")
    png(shots / "cam1" / "a.png")
    png(shots / "cam1" / "night" / "b.png")
    out = tmp_path / "out"
    args = ["upscale", str(shots), "--model", str(model_file), "-o", f"{out}/", "--quiet"]
    assert exit_code(args) == 0
    assert tree(out) == ["top.png"]  # not recursive by default
    assert exit_code([*args, "--recursive", "--force"]) == 0
    assert tree(out) == ["cam1", "cam1/a.png", "cam1/night", "cam1/night/b.png", "top.png"]


def test_progress_moves_within_a_large_image(model_file, tmp_path, capsys):
    image = png(tmp_path / "wide.png", 40, 90)
    assert exit_code(["upscale", str(image), "--model", str(model_file), "--tile", "24"]) == 0
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
    assert exit_code(["train", str(config), "--quiet", *extra]) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_train_output_dir_naming_a_file_is_refused(tmp_path, data_root, capsys):
    from run_configs import write_run_config

    config = write_run_config(tmp_path, data_root, "run", train__steps=4)
    (tmp_path / "run").write_text("not a folder")
    assert exit_code(["train", str(config), "--quiet"]) == 2
    assert "is a file" in error_line(capsys)
    assert (tmp_path / "run").read_text() == "not a folder"


def test_train_refuses_an_architecture_without_weights(tmp_path, data_root, capsys):
    """Bicubic's descriptor says it has no weights: refused before any work, not at Adam."""
    from run_configs import write_run_config

    config = write_run_config(
        tmp_path, data_root, "run", train__steps=4, model={"arch": "bicubic", "options": {}}
    )
    assert exit_code(["train", str(config), "--quiet"]) == 2
    assert "bicubic has no weights to train" in error_line(capsys)
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
    before = tree(tmp_path)
    argv = ["compare", *extra, *out, "--data-root", str(data_root), "--quiet"]
    assert exit_code(argv) == 2
    assert message.format(tmp=tmp_path) in error_line(capsys)
    assert tree(tmp_path) == before


# --- the public API's arguments ------------------------------------------------------------


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
