"""The ``srmeta compare`` page as a browser shows it: headless Chromium renders a small
report (bicubic and the bundled srmeta-x4 on two Set5 images at x4, beside the same scores
from ``srmeta eval --out`` folders, and a tiny training run) and the test reads the page.

Needs ``/usr/bin/chromium`` (``.ci/run`` installs it) and the ``playwright`` package (the
``test`` extra); Playwright drives that Chromium and never downloads a browser.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from srmeta.cli import main

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IMAGES = ("bird", "head")  # the two smallest Set5 images


def _run_folder(folder: Path) -> None:
    """A run's metrics (train and validation records) and an ``srmeta weights`` figure."""
    folder.mkdir()
    lines = [{"step": s, "kind": "train", "loss": 0.1 / s**0.5} for s in range(10, 1001, 10)]
    lines += [
        {"step": s, "kind": "val", "Set5/psnr": 28 + s / 500, "Set5/ssim": 0.8 + s / 1e4}
        for s in (250, 500, 1000)
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / "metrics.jsonl").write_text(text, encoding="utf-8")
    buffer = io.BytesIO()
    Image.effect_noise((120, 60), 30).convert("RGB").save(buffer, format="PNG")
    (folder / "weight_maps_run.png").write_bytes(buffer.getvalue())


@pytest.fixture(scope="module")
def report(tmp_path_factory, data_root) -> Path:
    """The report, and beside it the eval folders whose scores it must show."""
    tmp = tmp_path_factory.mktemp("compare")
    (tmp / "pair" / "HR").mkdir(parents=True)
    for name in IMAGES:
        shutil.copy(data_root / "Set5" / "HR" / f"{name}.png", tmp / "pair" / "HR")
    common = ["--datasets", str(tmp / "pair"), "--scales", "4", "--quiet"]
    for model, folder in (("bicubic", "eval-bicubic"), ("srmeta-x4", "eval-srmeta")):
        assert main(["eval", "--model", model, *common, "--out", str(tmp / folder)]) == 0
    _run_folder(tmp / "run")
    evals = ["--eval", str(tmp / "eval-bicubic"), "--eval", str(tmp / "eval-srmeta")]
    out = tmp / "report.html"
    argv = ["compare", "--model", "srmeta-x4", *evals, "--run", str(tmp / "run"), *common]
    assert main([*argv, "--crops", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def page(report):
    """The page loaded in headless Chromium, with every request and error it caused."""
    from playwright import sync_api  # the test extra

    assert CHROMIUM.is_file(), f"{CHROMIUM} missing: apt-get install chromium (.ci/run does)"
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        view = browser.new_page(viewport={"width": 1400, "height": 900})
        view.errors, view.requests = [], []
        view.on("console", lambda m: view.errors.append(m.text) if m.type == "error" else None)
        view.on("pageerror", lambda err: view.errors.append(str(err)))
        view.on("request", lambda r: view.requests.append(r.url))
        view.goto(report.as_uri())
        view.wait_for_load_state("load")
        yield view
        browser.close()


def _summary(folder: Path) -> dict[str, float]:
    row = json.loads((folder / "summary.json").read_text())["summary"][0]
    return {"psnr": row["psnr"], "ssim": row["ssim"]}


def test_the_mean_table_shows_the_eval_summaries(page, report):
    cells = page.eval_on_selector_all(
        "#mean-scores tbody td[data-label]",
        "tds => tds.map(td => [td.dataset.label, td.innerText])",
    )
    bicubic = _summary(report.parent / "eval-bicubic")
    model = _summary(report.parent / "eval-srmeta")
    expected = {
        label: f"{s['psnr']:.2f} / {s['ssim']:.4f}"
        for label, s in (
            ("bicubic", bicubic),
            ("srmeta-x4", model),
            ("eval-bicubic", bicubic),
            ("eval-srmeta", model),
        )
    }
    assert dict(cells) == expected and len(cells) == 4


def _per_image(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "per_image.csv").open() as handle:
        return {row["image"]: row for row in csv.DictReader(handle)}


def test_the_per_image_table_shows_the_eval_per_image_scores(page, report):
    rows = page.eval_on_selector_all(
        "#per-image tbody tr", "trs => trs.map(tr => Array.from(tr.cells, c => c.innerText))"
    )
    assert sorted(row[2] for row in rows) == sorted(IMAGES)
    # columns: set, scale, image, PSNR of bicubic, srmeta-x4, eval-bicubic, eval-srmeta, SSIM
    for offset, folder in ((0, "eval-bicubic"), (1, "eval-srmeta")):
        scores = _per_image(report.parent / folder)
        for row in rows:
            want = scores[row[2]]
            assert row[3 + offset] == row[5 + offset] == f"{float(want['psnr']):.2f}"
            assert row[7 + offset] == row[9 + offset] == f"{float(want['ssim']):.4f}"


def _column(page, index: int) -> list[float]:
    return page.eval_on_selector_all(
        "#per-image tbody tr", f"trs => trs.map(tr => parseFloat(tr.cells[{index}].dataset.v))"
    )


def test_clicking_a_header_sorts_the_rows(page):
    header = page.locator("#per-image thead th", has_text="srmeta-x4 PSNR").first
    index = header.evaluate("th => th.cellIndex")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert _column(page, index) == sorted(_column(page, index))
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert _column(page, index) == sorted(_column(page, index), reverse=True)
    page.locator("#per-image thead th", has_text="image").first.click()
    names = page.eval_on_selector_all(
        "#per-image tbody tr", "trs => trs.map(t => t.cells[2].innerText)"
    )
    assert names == sorted(IMAGES)


def test_every_image_is_decoded(page):
    sizes = page.evaluate("Array.from(document.images, i => [i.complete, i.naturalWidth])")
    # per crop: thumbnail, HR, bicubic, srmeta-x4, the slider's two; and the weight figure
    assert len(sizes) == 2 * 6 + 1
    assert all(complete and width > 0 for complete, width in sizes)


def test_the_slider_wipes_and_the_zoom_scales_the_crops(page):
    sliders = page.locator("figure.slider input[type=range]")
    assert sliders.count() == 2
    sliders.first.fill("30")
    clip = page.locator("figure.slider .after").first.evaluate("i => getComputedStyle(i).clipPath")
    assert "30%" in clip
    assert page.locator("#slider-model option").all_inner_texts() == ["srmeta-x4"]
    page.locator("#zoom").fill("4")
    crop = page.locator('article.crop img[data-label="HR"]').first
    side = int(crop.get_attribute("width"))
    assert crop.evaluate("i => i.getBoundingClientRect().width") == pytest.approx(4 * side)


def test_training_curves_are_drawn(page):
    titles = page.eval_on_selector_all("svg.chart .title", "ts => ts.map(t => t.textContent)")
    assert titles == ["Training loss", "Validation PSNR", "Validation SSIM"]
    assert page.locator("svg.chart polyline").count() >= 3


def test_nothing_is_fetched_and_nothing_fails(page, report):
    assert page.errors == []
    assert [url for url in page.requests if not url.startswith("data:")] == [report.as_uri()]
