"""The `srmeta` command: tables, result files, and one-line errors with exit code 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from srmeta.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_prints_table_and_writes_results(capsys, data_root, tmp_path):
    out = tmp_path / "res"
    code, stdout, _ = _run(
        capsys,
        "eval",
        "--datasets",
        "Set5",
        "--scales",
        "4",
        "--data-root",
        str(data_root),
        "--out",
        str(out),
        "--quiet",
    )
    assert code == 0
    assert "| Set5 | 28.43 / 0.8111 |" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "rgb" and summary["y_channel"] == "float"
    assert summary["summary"][0]["psnr"] == pytest.approx(28.4290, abs=1e-4)
    assert len((out / "per_image.csv").read_text().splitlines()) == 6
    # Existing results are kept unless --force, and nothing is evaluated before refusing.
    before = (out / "table.md").read_text()
    code, _, err = _run(
        capsys,
        "eval",
        "--datasets",
        "Set5",
        "--scales",
        "2",
        "--data-root",
        str(data_root),
        "--out",
        str(out),
        "--quiet",
    )
    assert code == 2 and "--force" in err and err.count("\n") == 1
    assert (out / "table.md").read_text() == before


def _valid_png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


BAD_INPUTS = {
    "corrupt": lambda: b"\x89PNG\r\n\x1a\n" + os.urandom(300),
    "truncated": lambda: _valid_png_bytes()[: len(_valid_png_bytes()) // 2],
    "empty": lambda: b"",
    "random": lambda: os.urandom(500),
}


@pytest.mark.parametrize("kind", [*BAD_INPUTS, "over-large"])
def test_bad_inputs_give_one_line_exit_2_and_no_output(capsys, tmp_path, kind):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "good.png").write_bytes(_valid_png_bytes())
    extra = []
    if kind == "over-large":
        extra = ["--max-pixels", "1000"]
    else:
        (folder / "zz_bad.png").write_bytes(BAD_INPUTS[kind]())
    out = tmp_path / "res"
    code, _, err = _run(
        capsys,
        "eval",
        "--datasets",
        str(folder),
        "--scales",
        "2",
        "--out",
        str(out),
        "--quiet",
        "--no-cache",
        *extra,
    )
    assert code == 2
    assert err.startswith("srmeta: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert not out.exists()


def test_usage_errors(capsys, tmp_path):
    code, _, err = _run(capsys, "eval", "--datasets", "Nope", "--data-root", str(tmp_path))
    assert code == 2 and "unknown dataset 'Nope'" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "eval", "--datasets", "Set5", "--data-root", str(tmp_path))
    assert code == 2 and "not found" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "eval", "--degradation", "blur:box:3", "--data-root", str(tmp_path))
    assert code == 2 and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--scales", "two"])
    assert exit_info.value.code == 2


def test_real_entry_point_exit_code(tmp_path, data_root):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    env = {**os.environ, "SRMETA_DATA": str(data_root)}
    done = subprocess.run(
        [sys.executable, "-m", "srmeta", "eval", "--datasets", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "broken.png" in done.stderr
