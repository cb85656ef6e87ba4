"""Smoke test of benchmarks/upscale_speed.py: its ``--quick`` mode runs and measures.

Tiny on purpose (two small inputs, Set5, few methods): it checks that every part of the
benchmark (child processes, timing, memory, the evaluation wrappers, the Markdown) works,
not the numbers. CI has no OpenCV, so the OpenCV methods join only where cv2 imports.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "upscale_speed.py"


def test_quick_run_reports_speed_memory_and_psnr(tmp_path, data_root):
    methods = ["srmeta-x4@torch", "pil-bicubic", "bicubic"]
    if importlib.util.find_spec("cv2") is not None:
        methods.append("opencv-espcn")
    results = tmp_path / "speed.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--methods",
            ",".join(methods),
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
    speed_methods = [m for m in methods if m != "bicubic"]  # MATLAB bicubic: PSNR only
    assert sorted(payload["speed"]) == sorted(speed_methods)
    for method in speed_methods:
        for size in ("64", "96"):
            cell = payload["speed"][method][size]
            assert "error" not in cell, (method, size, cell)
            assert cell["mp_per_s"] > 0 and cell["peak_rss_mib"] > 0
    assert sorted(payload["memory"]) == ["srmeta-x4@torch"] and payload["memory_sizes"] == [96, 192]
    for size, cell in payload["memory"]["srmeta-x4@torch"].items():
        side = int(size)
        assert cell["image_mib"] == side * side * 3 * (1 + 16) / 2**20  # uint8 in + x4 out
        assert cell["peak_rss_mib"] > cell["image_mib"]
    profile = payload["speed"]["srmeta-x4@torch"]["96"]["profile"]
    assert 0 < profile["model"] <= 1 and profile["tiles"] >= 1
    for method in methods:
        cell = payload["psnr"][method]["Set5"]
        assert cell["images"] == 5 and math.isfinite(cell["psnr"]) and cell["psnr"] > 20
    assert "Peak RSS against image size" in done.stdout
    assert "## Upscaling speed" in done.stdout  # the Markdown is printed, the docs untouched
