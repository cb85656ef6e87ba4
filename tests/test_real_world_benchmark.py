"""benchmarks/real_world.py: its artifact measures against hand computations and brute-force
oracles, and a ``--quick`` run end to end (Set5, one degradation, a few seconds)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "real_world.py"
sys.path.insert(0, str(REPO / "benchmarks"))

import artifact_measures as am  # noqa: E402
import real_world as rw  # noqa: E402
import real_world_report as report  # noqa: E402

from srmeta.models.bundled import shipped_models  # noqa: E402


def _brute_std(y: np.ndarray, window: int) -> np.ndarray:
    """Each pixel's population std over its window, mirror padded, one window at a time."""
    half = window // 2
    padded = np.pad(y, half, mode="reflect")
    out = np.empty_like(y)
    for r in range(y.shape[0]):
        for c in range(y.shape[1]):
            out[r, c] = padded[r : r + window, c : c + window].std()
    return out


def _brute_high_pass(y: np.ndarray) -> np.ndarray:
    """``y`` minus its blur by the full 5 x 5 Gaussian (not the separable passes)."""
    x = np.arange(5) - 2.0
    kernel = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / 2)
    kernel /= kernel.sum()
    windows = sliding_window_view(np.pad(y, 2, mode="reflect"), (5, 5))
    return y - np.einsum("rcij,ij->rc", windows, kernel)


def test_the_mask_of_a_constant_image_is_all_ones() -> None:
    mask = am.flat_mask(np.full((20, 31), 117.0))
    assert mask.shape == (20, 31) and mask.all()


def test_the_mask_matches_a_window_by_window_std_and_spares_pixels_near_texture() -> None:
    rng = np.random.default_rng(0)
    y = np.full((40, 48), 80.0) + rng.normal(0, 0.5, (40, 48))  # flat: std ~0.5 < 2
    y[10:20, 15:25] += 30 * (np.indices((10, 10)).sum(0) % 2)  # a textured patch
    y[30:, 40:] = rng.uniform(0, 255, (10, 8))  # noise in a corner, at the border
    std = _brute_std(y, 7)
    assert np.array_equal(am.flat_mask(y), std < 2.0)
    mask = am.flat_mask(y)
    assert not mask[8:22, 13:27].any()  # the patch and 2 px around it; 3 px away, only a
    assert mask[7, 12] and not mask[7, 13:27].any()  # corner's window holds one patch pixel
    assert mask[:6].all() and mask[:, :11].all()


def test_gaussian_high_pass_equals_the_full_2d_kernel() -> None:
    y = np.random.default_rng(1).uniform(0, 255, (23, 30))
    assert np.allclose(am.high_pass(y), _brute_high_pass(y), atol=1e-10)
    assert am.gaussian_taps().sum() == pytest.approx(1.0)


def test_flat_hf_energy_of_a_checkerboard_is_a_squared_times_the_filter_gain() -> None:
    """A +-a checkerboard's blur is the checkerboard times r^2, r the 1-D taps' alternating
    sum over their sum; mirror padding keeps the pattern, so HF^2 = (a (1 - r^2))^2 at every
    pixel of a flat HR."""
    a = 3.0
    checker = a * (1 - 2 * (np.indices((32, 32)).sum(0) % 2))
    sr = 100.0 + checker
    e1, e2 = math.exp(-0.5), math.exp(-2.0)
    r = (1 - 2 * e1 + 2 * e2) / (1 + 2 * e1 + 2 * e2)
    mask = am.flat_mask(np.full((32, 32), 100.0))
    total, pixels = am.flat_hf_sums(sr, mask)
    assert pixels == 32 * 32
    assert total / pixels == pytest.approx((a * (1 - r * r)) ** 2, rel=1e-12)


def test_flat_hf_energy_counts_only_flat_pixels() -> None:
    """Texture where the HR is textured is no artifact: only the flat mask is averaged."""
    rng = np.random.default_rng(2)
    hr = np.full((48, 48), 60.0)
    hr[:, 24:] += 40 * (np.indices((48, 24)).sum(0) % 2)  # right half textured
    sr = hr + rng.normal(0, 1.0, hr.shape)
    mask = am.flat_mask(hr)
    total, pixels = am.flat_hf_sums(sr, mask)
    hf = _brute_high_pass(sr)
    assert pixels == mask.sum() == 48 * 21  # columns 0..20: 3 px short of the texture
    assert total == pytest.approx(float((hf[:, :21] ** 2).sum()), rel=1e-10)


def test_block_edges_sit_every_8s_pixels_of_the_uncropped_image() -> None:
    # x2, border 2: edges between uncropped columns 15|16, 31|32...: cropped pairs 13, 29...
    edge, same_phase = am.block_edges(64, 2, 2)
    assert np.flatnonzero(edge).tolist() == [13, 29, 45, 61]
    assert np.flatnonzero(same_phase).tolist() == [i for i in range(1, 63, 2) if i % 16 != 13]
    edge, same_phase = am.block_edges(40, 4, 0)
    assert np.flatnonzero(edge).tolist() == [31]
    assert np.flatnonzero(same_phase).tolist() == [3, 7, 11, 15, 19, 23, 27, 35]


def _steps(n: int, period: int, offset: int, step: float, slope: float) -> np.ndarray:
    x = np.arange(n)
    return slope * x + step * ((x + offset) // period)


def test_blockiness_of_steps_on_the_block_edges_is_their_ratio_and_of_a_ramp_is_one() -> None:
    """x2: steps of 10 every 16 px on a slope of 0.5 along both axes: edge pairs differ by
    10.5, the others by 0.5, so the ratio is 21; a plane has the same mean difference
    everywhere (square image, as many edge rows as columns): 1."""
    mask = np.ones((64, 64), dtype=bool)
    line = _steps(64, 16, 2, 10.0, 0.5)
    stepped = line[:, None] + line[None, :]
    assert am.blockiness(stepped, mask, 2, 2) == pytest.approx(21.0, rel=1e-12)
    rows, cols = np.indices((64, 64))
    assert am.blockiness(0.7 * cols + 0.3 * rows, mask, 2, 2) == pytest.approx(1.0, rel=1e-12)
    # Off the grid (phase shifted by 8) the same steps count against the edges.
    assert am.blockiness(stepped, mask, 2, 10) < 1


def test_a_step_at_every_lr_pixel_edge_is_no_block_grid() -> None:
    """An upscaler's period-S structure (steps of 3 every S px) is the same on and off the
    block edges: 1, where a comparison with all other pairs would see a grid."""
    mask = np.ones((48, 48), dtype=bool)
    line = _steps(48, 4, 4, 3.0, 0.5)
    pattern = line[:, None] + line[None, :]
    assert am.blockiness(pattern, mask, 4, 4) == pytest.approx(1.0, rel=1e-12)


def test_blockiness_ignores_pairs_outside_the_mask() -> None:
    mask = np.ones((64, 64), dtype=bool)
    line = _steps(64, 16, 2, 10.0, 0.5)
    stepped = line[:, None] + line[None, :]
    noisy = stepped.copy()
    noisy[40:, 40:] = np.random.default_rng(3).uniform(0, 255, (24, 24))
    mask[39:, 39:] = False
    assert am.blockiness(noisy, mask, 2, 2) == pytest.approx(21.0, rel=1e-12)
    assert math.isnan(am.blockiness(stepped, np.zeros_like(mask), 2, 2))


def test_image_artifacts_pool_sums_over_images() -> None:
    a = am.Artifacts(10, 20.0, 6.0, 2, 3.0, 3)
    b = am.Artifacts(30, 20.0, 2.0, 2, 1.0, 1)
    pooled = a + b
    assert pooled.flat_hf == pytest.approx(1.0)  # 40 / 40, not the mean of 2.0 and 0.67
    assert pooled.blockiness == pytest.approx((8 / 4) / (4 / 4))
    assert math.isnan(am.Artifacts(0, 0.0, 0.0, 0, 0.0, 0).flat_hf)


def test_image_y_quantises_a_float_output_and_crops_the_border() -> None:
    sr = torch.full((3, 10, 12), 0.5)
    y = am.image_y(sr, 2)
    assert y.shape == (6, 8)
    assert np.allclose(y, 16 + 219 * 128 / 255)  # MATLAB rgb2ycbcr luma of gray 128


def _run(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_quick_run_writes_every_cell_and_resume_keeps_them(tmp_path, data_root, model_file):
    """x2 with an extra model file: bicubic, srmeta-fast-x2 and the file, on Set5 under one
    degradation; a resumed run keeps the finished cells instead of scoring again."""
    results = tmp_path / "real.json"
    common = ["--scale", "2", "--data-root", str(data_root), "--results", str(results)]
    _run(*common, "--model", f"tiny={model_file}")
    payload = json.loads(results.read_text())
    assert payload["scale"] == 2 and payload["quick"]
    assert payload["models"] == ["bicubic", "srmeta-fast-x2", "tiny"]
    assert payload["degradations"] == [rw.DEGRADATIONS[0]] and payload["datasets"] == ["Set5"]
    assert len(payload["commit"].split()[0]) == 40 and payload["environment"]["threads"] == "1"
    assert len(payload["cells"]) == 3
    for cell in payload["cells"].values():
        assert cell["dataset"] == "Set5" and cell["images"] == 5
        assert cell["degradation"] == rw.DEGRADATIONS[0]
        assert 5 < cell["psnr"] < 40  # the tiny model is untrained and 0 < cell["ssim"] < 1
        assert cell["flat_hf"] > 0 and cell["blockiness"] > 0 and cell["flat_pixels"] > 0
        assert cell["gt_flat_hf"] > 0 and len(cell["per_image"]) == 5
        assert cell["commit"] == payload["commit"] and cell["digest"]
    bicubic = payload["cells"][rw.cell_key("bicubic", rw.DEGRADATIONS[0], "Set5")]
    assert bicubic["psnr"] < 30  # noise 6 + JPEG 30 on Set5 x2: well below clean bicubic

    key = rw.cell_key("tiny", rw.DEGRADATIONS[0], "Set5")
    payload["cells"][key]["psnr"] = 99.0  # a marker: kept only if the cell is not rescored
    results.write_text(json.dumps(payload))
    _run(*common, "--model", f"tiny={model_file}", "--resume")
    again = json.loads(results.read_text())
    assert again["cells"][key]["psnr"] == 99.0
    assert list(again["cells"]) == list(payload["cells"])
    text = report.markdown(again)
    assert f"| `{rw.DEGRADATIONS[0]}` | tiny | 99.00 (" in text  # the PSNR table, with Δ
    assert "| (any) | *ground truth* |" in text and "\n| tiny | " in text  # target check


def test_compact_json_puts_innermost_objects_on_one_line_and_round_trips() -> None:
    payload = {"cells": {"a | b": {"per_image": {"x": {"psnr": 1.5, "ssim": None}}}}, "l": [1]}
    payload["environment"] = {"machine": "x86_64, 2 cores"}
    text = rw.compact_json(payload)
    assert json.loads(text) == payload
    assert '{"psnr": 1.5, "ssim": null}' in text
    assert '{"machine": "x86_64, 2 cores"}' in text


def test_extra_models_need_a_fresh_name_and_an_existing_path(model_file) -> None:
    models = rw.parse_models(4, [f"mine={model_file}"])
    real = [f"{f}-x4" for f, s in shipped_models() if s == 4 and f.startswith("srmeta-real")]
    assert list(models) == ["bicubic", "srmeta-fast-x4", "srmeta-x4", *real, "mine"]
    quick = rw.parse_models(4, [f"mine={model_file}"], quick=True)
    assert list(quick) == ["bicubic", "srmeta-fast-x4", "mine"]  # a smoke run of "mine"
    for bad in ("mine", f"bicubic={model_file}", "x=/nonexistent/file.safetensors"):
        with pytest.raises(SystemExit):
            rw.parse_models(4, [bad])
