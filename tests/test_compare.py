"""``srmeta compare`` without a browser: the window choice against a brute-force oracle, the
image choice, the score columns, run curves, and the page a small comparison writes."""

from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from srmeta.cli import main
from srmeta.report.comparison import Chart, Curve, Score, ScoreColumn
from srmeta.report.crops import best_window, crop_view, luma, spread_map, window_sums
from srmeta.report.run_curves import read_metrics, run_charts
from srmeta.report.score_columns import most_different, spread_labels, unique_labels
from srmeta.report.svg_chart import line_chart, log_ticks, nice_ticks


def _brute_sums(values: np.ndarray, side: int) -> np.ndarray:
    h, w = values.shape
    out = np.empty((h - side + 1, w - side + 1))
    for top in range(out.shape[0]):
        for left in range(out.shape[1]):
            out[top, left] = values[top : top + side, left : left + side].sum()
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(0, 2**31 - 1),
)
def test_window_sums_and_best_window_match_brute_force(h, w, side, seed):
    side = min(side, h, w)
    values = np.random.default_rng(seed).random((h, w)) * 255
    oracle = _brute_sums(values, side)
    np.testing.assert_allclose(window_sums(values, side), oracle, rtol=1e-12, atol=1e-9)
    top, left = best_window(values, side)
    assert oracle[top, left] == pytest.approx(oracle.max(), abs=1e-9)


def _planted(seed: int = 0):
    """HR noise; model a near it everywhere; model b like a except a 10x10 patch at
    (40, 20) turned into its negative; bicubic far off everywhere, uniformly."""
    rng = np.random.default_rng(seed)
    hr = torch.from_numpy(rng.integers(30, 226, (3, 72, 64), dtype=np.uint8))
    a = (hr.int() + torch.from_numpy(rng.integers(-2, 3, (3, 72, 64)))).clamp(0, 255).byte()
    b = a.clone()
    b[:, 40:50, 20:30] = 255 - hr[:, 40:50, 20:30]
    bicubic = (hr.int() + 25).clamp(0, 255).byte()
    return hr, {"bicubic": bicubic, "a": a, "b": b}


def test_the_window_covers_a_planted_difference_and_equals_the_oracle():
    hr, outputs = _planted()
    view = crop_view(("S", 2, "x"), hr, outputs, 16, ["a", "b"])
    assert view.top <= 40 and view.top + 16 >= 50 and view.left <= 20 and view.left + 16 >= 30
    errors = [np.abs(luma(outputs[k]) - luma(hr)) for k in ("a", "b")]
    oracle = _brute_sums(spread_map(errors), 16)
    assert oracle[view.top, view.left] == pytest.approx(oracle.max())
    assert [p.label for p in view.panels] == ["HR", "bicubic", "a", "b"]
    assert view.panels[0].psnr is None and view.panels[3].psnr < view.panels[2].psnr
    for panel in view.panels:
        assert Image.open(io.BytesIO(panel.png)).size == (16, 16)
    thumb = Image.open(io.BytesIO(view.thumbnail))
    assert max(thumb.size) <= 192 and (view.height, view.width) == (72, 64)


def test_the_window_stays_inside_the_border_and_shrinks_to_fit():
    hr, outputs = _planted()
    outputs["b"] = outputs["a"].clone()
    outputs["b"][:, :3, :3] = 0  # a difference only in the unscored border
    view = crop_view(("S", 3, "x"), hr, outputs, 200, ["a", "b"], border=3)
    assert view.side == 64 - 6 and view.top >= 3 and view.left == 3
    assert view.top + view.side <= 72 - 3


def test_one_output_is_its_own_spread():
    errors = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(spread_map([errors]), errors)
    np.testing.assert_array_equal(spread_map([errors, errors * 3]), errors * 2)


def _column(label: str, psnrs: list[float], model: str | None = "m") -> ScoreColumn:
    images = {("S", 4, f"i{n}"): Score(p, 0.5) for n, p in enumerate(psnrs)}
    return ScoreColumn(label, label, images=images, model=model)


def test_images_are_chosen_by_the_spread_between_models_not_bicubic():
    columns = [
        _column("bicubic", [20.0, 10.0, 20.0]),
        _column("a", [30.0, 30.0, 31.0]),
        _column("b", [31.0, 30.5, 35.0]),
        _column("folder", [0.0, 0.0, 0.0], model=None),  # scores only: never counts
    ]
    assert spread_labels(columns) == ["a", "b"]
    assert most_different(columns, 2) == [("S", 4, "i2"), ("S", 4, "i0")]
    assert spread_labels(columns[:2]) == ["bicubic", "a"]
    assert most_different(columns[:2], 1) == [("S", 4, "i1")]
    assert most_different(columns, 0) == []


def test_unique_labels_fall_back_to_the_full_name():
    assert unique_labels(["x", "y", "x"], ["a/x", "b/y", "c/x"]) == ["a/x", "y", "c/x"]
    assert unique_labels(["bicubic"], ["r/bicubic"], ["bicubic"]) == ["r/bicubic"]


def _metrics(folder, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text("\n".join(lines), encoding="utf-8")


def test_run_curves_read_train_and_validation_records(tmp_path):
    train = [json.dumps({"step": s, "kind": "train", "loss": 1 / s}) for s in range(1, 200)]
    val = [
        json.dumps({"step": s, "kind": "val", "Set5/psnr": 20 + s / 100, "Set5/ssim": 0.5})
        for s in (100, 199)
    ]
    _metrics(tmp_path / "run", [*train, *val, '{"step": 200, "kind": "tr'])  # torn last line
    charts = run_charts([("run", read_metrics(tmp_path / "run"))])
    assert [c.title for c in charts] == ["Training loss", "Validation PSNR", "Validation SSIM"]
    assert charts[0].log_y and len(charts[0].curves[0].points) == 199
    assert charts[1].curves[0].label == "run Set5" and charts[1].curves[0].points[-1] == (
        199.0,
        21.99,
    )
    _metrics(tmp_path / "bad", ["{oops", train[0]])
    with pytest.raises(Exception, match=r"metrics.jsonl:1: not a JSON line"):
        read_metrics(tmp_path / "bad")


def test_a_chart_is_valid_svg_with_one_line_per_curve_and_round_ticks():
    chart = Chart("t <&>", "dB", [Curve("a", [(0, 1), (10, 2)]), Curve("b", [(5, 3)])])
    root = ET.fromstring(line_chart(chart))
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 2
    assert nice_ticks(0.0, 1.0) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert [round(10**t, 6) for t in log_ticks(math.log10(0.015), math.log10(0.3))] == [
        0.02,
        0.05,
        0.1,
        0.2,
    ]


def _dataset(folder, count: int = 2, side: int = 40) -> None:
    (folder / "HR").mkdir(parents=True)
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "HR" / f"img{i}.png")


def test_a_comparison_page_holds_the_eval_scores_and_only_itself(model_file, tmp_path, capsys):
    data = tmp_path / "mini"
    _dataset(data)
    common = ["--datasets", str(data), "--scales", "2", "--no-cache"]
    assert main(["eval", "--model", str(model_file), *common, "--out", str(tmp_path / "ev")]) == 0
    out = tmp_path / "page" / "report.html"
    argv = ["compare", "--model", str(model_file), "--eval", str(tmp_path / "ev"), *common]
    assert main([*argv, "--crop-size", "16", "--out", str(out), "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    page = out.read_text(encoding="utf-8")
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())["summary"][0]
    cells = re.findall(r'data-label="([^"]+)" data-psnr="[^"]+" data-ssim="[^"]+"><span', page)
    assert cells == ["bicubic", "tiny_x2", "ev"]
    expected = f'<span class="psnr">{summary["psnr"]:.2f}</span> / <span class="ssim">'
    assert page.count(expected + f"{summary['ssim']:.4f}</span>") == 2  # model and folder
    assert len(re.findall(r'<article class="crop"', page)) == 2
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert main([*argv, "--out", str(out), "--quiet"]) == 2  # exists: needs --force
    assert "--force" in capsys.readouterr().err


def test_a_models_meta_images_are_left_out_of_every_column(tmp_path, capsys):
    """A model trained with meta images: with --skip-meta every column (bicubic too) scores
    the same other images, and crops come from them; without it, a clear refusal."""
    from srmeta.models.files import META_IMAGES_KEY, save_model_file
    from srmeta.models.loading import load_model

    torch.manual_seed(0)
    options = {"n_resblocks": 1, "n_feats": 8}
    model = tmp_path / "meta_x2.safetensors"
    metadata = {META_IMAGES_KEY: json.dumps(["img0"])}
    save_model_file(model, load_model("edsr", 2, **options), "edsr", 2, options, metadata)
    _dataset(tmp_path / "mini", count=3)
    argv = ["compare", "--model", str(model), "--datasets", str(tmp_path / "mini")]
    argv += ["--scales", "2", "--crop-size", "16", "--no-cache", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a.html")]) == 2
    assert "--skip-meta" in capsys.readouterr().err and not (tmp_path / "a.html").exists()
    assert main([*argv, "--skip-meta", "--out", str(tmp_path / "b.html")]) == 0
    page = (tmp_path / "b.html").read_text(encoding="utf-8")
    assert page.count('data-set="mini-2"') == 1 and 'data-set="mini"' not in page
    assert sorted(re.findall(r'data-key="mini-2/x2/(\w+)"', page)) == ["img1", "img2"]
