"""Smoke test of benchmarks/upscale_speed.py: its ``--quick`` mode runs and measures.

Tiny on purpose (two small inputs, Set5, few methods, one ``--zoo`` file): it checks that
every part of the benchmark (child processes, timing, memory, the evaluation wrappers, the
Markdown) works, not the numbers. CI has no OpenCV, so the OpenCV methods join only where
an OpenCV that reads their model files (< 5.1) imports.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "upscale_speed.py"


@pytest.fixture
def zoo(tmp_path, peers_root) -> Path:
    """A ``--zoo`` folder holding one x4 and one x2 official file."""
    folder = tmp_path / "zoo"
    folder.mkdir()
    for name in ("RLFN_NTIRE2022_x4.pth", "IMDN_x2.pth"):
        (folder / name).symlink_to(peers_root / "torch" / name)
    return folder


def test_quick_run_reports_speed_memory_and_psnr(tmp_path, data_root, zoo):
    """With ``--zoo``: each x4 file of the folder joins as ``<file>@<backend>`` (a x2 file
    is left out), is scored like srmeta's models and named by its stem, and is held to none
    of srmeta's acceptance lines."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from speed_methods import opencv_problem

    methods = ["srmeta-x4@torch", "pil-bicubic", "bicubic"]
    if opencv_problem() is None:
        methods.append("opencv-espcn")
    rlfn = str((zoo / "RLFN_NTIRE2022_x4.pth").resolve())
    zoo_method = f"{rlfn}@torch"  # --quick measures torch only
    results = tmp_path / "speed.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--methods",
            ",".join(methods),
            "--zoo",
            str(zoo),
            "--results",
            str(results),
            "--data-root",
            str(data_root),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(results.read_text())
    assert payload["quick"] and payload["sizes"] == [64, 96]
    assert payload["zoo"] == [rlfn] and payload["skipped"] == {}
    methods.append(zoo_method)
    speed_methods = [m for m in methods if m != "bicubic"]  # MATLAB bicubic: PSNR only
    assert sorted(payload["speed"]) == sorted(speed_methods)
    for method in speed_methods:
        for size in ("64", "96"):
            cell = payload["speed"][method][size]
            assert "error" not in cell, (method, size, cell)
            assert cell["mp_per_s"] > 0 and cell["peak_rss_mib"] > 0
    assert list(payload["memory"]) == ["srmeta-x4@torch"]  # memory: srmeta's own claim
    assert payload["memory_sizes"] == [96, 192]
    for size, cell in payload["memory"]["srmeta-x4@torch"].items():
        side = int(size)
        assert cell["image_mib"] == side * side * 3 * (1 + 16) / 2**20  # uint8 in + x4 out
        assert cell["peak_rss_mib"] > cell["image_mib"]
    profile = payload["speed"]["srmeta-x4@torch"]["96"]["profile"]
    assert 0 < profile["model"] <= 1 and profile["tiles"] >= 1
    for method in methods:
        cell = payload["psnr"][method]["Set5"]
        assert cell["images"] == 5 and math.isfinite(cell["psnr"]) and cell["psnr"] > 20
    assert payload["psnr"][zoo_method]["Set5"]["psnr"] == pytest.approx(32.10, abs=0.02)
    assert "| RLFN_NTIRE2022_x4 (torch) |" in done.stdout
    assert "Official third-party weights (`--zoo`" in done.stdout
    assert "RLFN_NTIRE2022_x4: Set5" not in done.stdout  # no acceptance line for the zoo
    assert "Peak RSS against image size" in done.stdout
    assert "## Upscaling speed" in done.stdout  # the Markdown is printed, the docs untouched

    # --resume after one model's file changed: only that model's cells run again. Marks on
    # every cell show which ones were kept (a re-measured cell comes back without its mark).
    for table in ("speed", "memory", "psnr"):
        for cells in payload[table].values():
            for cell in cells.values():
                cell["kept"] = True
    payload["environment"]["sha256 srmeta-x4"] = "an older file"
    results.write_text(json.dumps(payload))
    again = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--methods", ",".join(methods[:-1]),
         "--zoo", str(zoo), "--results", str(results), "--data-root", str(data_root),
         "--resume"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert "the weights of srmeta-x4 changed: their cells run again" in again.stdout
    resumed = json.loads(results.read_text())
    assert resumed["remeasured"] == ["srmeta-x4"]
    for table in ("speed", "memory", "psnr"):  # the re-measured rows keep their place
        assert list(resumed[table]) == list(payload[table])
    assert "were measured again, in a later window" in again.stdout
    for table in ("speed", "memory", "psnr"):
        for method, cells in resumed[table].items():
            ours = method == "srmeta-x4@torch"
            assert all(cell.get("kept") is not ours for cell in cells.values()), (table, method)


def test_quick_run_at_x2_measures_the_x2_models_and_peers(tmp_path, data_root, zoo):
    """``--scale 2``: the x2 bundled model, the x2 zoo file (the x4 one is left out), images
    upscaled twice, the Set5 cells scored at x2 (IMDN x2 as its own test measures it)."""
    imdn = str((zoo / "IMDN_x2.pth").resolve())
    results = tmp_path / "speed_x2.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--scale", "2", "--methods",
         "srmeta-x2@torch,pil-bicubic", "--zoo", str(zoo), "--results", str(results),
         "--data-root", str(data_root)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(results.read_text())
    assert payload["scale"] == 2 and payload["zoo"] == [imdn]
    assert sorted(payload["speed"]) == sorted(["srmeta-x2@torch", "pil-bicubic", f"{imdn}@torch"])
    cell = payload["memory"]["srmeta-x2@torch"]["96"]
    assert cell["image_mib"] == 96 * 96 * 3 * (1 + 4) / 2**20  # uint8 in + x2 out
    assert payload["psnr"][f"{imdn}@torch"]["Set5"]["psnr"] == pytest.approx(38.00, abs=0.02)
    assert "## Upscaling speed and quality against CPU peers (x2)" in done.stdout
    assert "PSNR (dB) / SSIM on Y, x2, protocol `rgb`, border 2" in done.stdout


def test_figure_labels_are_spread_apart_below_the_top():
    """Hand-worked cases of the label placement: close labels move up to the gap, and a
    stack that would pass the top is pushed back down from it; order is kept."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from speed_report import _spread

    assert _spread([1.0, 1.05, 3.0], 0.1, 3.0) == pytest.approx([1.0, 1.1, 3.0])
    assert _spread([3.0, 2.95, 1.0], 0.1, 3.0) == pytest.approx([3.0, 2.9, 1.0])
    assert _spread([2.0, 2.0, 2.0], 0.5, 2.5) == pytest.approx([1.5, 2.0, 2.5])


def test_stale_models_are_those_whose_file_changed():
    """Hand-made environments: a changed or new model file marks that model only; any
    other change (a library version, the thread count) marks every cell (None)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from speed_methods import keep_cells, stale_models

    old = {"torch": "2.13", "sha256 srmeta-x4": "aa", "sha256 CARN-M": "bb"}
    assert stale_models(old, dict(old)) == set()
    assert stale_models(old, {**old, "sha256 srmeta-x4": "cc"}) == {"srmeta-x4"}
    assert stale_models(old, {**old, "sha256 PAN_x4": "dd"}) == {"PAN_x4"}
    assert stale_models(old, {**old, "torch": "2.14"}) is None
    cells = {
        "srmeta-x4@torch": 1,
        "srmeta-x4@openvino": 2,
        "/peers/CARN-M.pth@torch": 3,
        "opencv-fsrcnn": 4,
    }
    assert keep_cells(cells, {"srmeta-x4"}) == {"/peers/CARN-M.pth@torch": 3, "opencv-fsrcnn": 4}
    assert keep_cells(cells, {"CARN-M"}) == {
        "srmeta-x4@torch": 1,
        "srmeta-x4@openvino": 2,
        "opencv-fsrcnn": 4,
    }


@pytest.mark.parametrize(
    ("version", "problem"), [("5.0.0", None), ("4.10.0", None), ("5.1.0", "<5.1"), ("6.0", "<5.1")]
)
def test_opencv_from_5_1_is_refused_with_the_pin_to_install(monkeypatch, version, problem):
    """OpenCV 5.1 no longer reads the FSRCNN .pb files: the benchmark says which to install
    (the pin its docstring gives) rather than failing inside dnn_superres."""
    import types

    sys.path.insert(0, str(REPO / "benchmarks"))
    from speed_methods import OPENCV_REQUIREMENT, opencv_problem

    assert OPENCV_REQUIREMENT == "opencv-contrib-python-headless<5.1"
    assert OPENCV_REQUIREMENT in SCRIPT.read_text()
    monkeypatch.setitem(sys.modules, "cv2", types.SimpleNamespace(__version__=version))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    found = opencv_problem()
    assert found is None if problem is None else (problem in found and version in found)
