"""Training runs in the report: loss and validation curves from ``metrics.jsonl``, and the
figures ``srmeta weights`` wrote for them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srmeta.errors import SrmetaError
from srmeta.report.comparison import Chart, Curve, Figure
from srmeta.training.runlog import METRICS_FILE, read_records

WEIGHT_FIGURES = ("weight_maps_*.png", "frequency_bands.png")
"""What ``srmeta weights --out DIR`` draws, in the order the report shows it."""


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` (a torn last line is left out)."""
    path = Path(run_dir).expanduser() / METRICS_FILE
    if not path.is_file():
        raise SrmetaError(f"--run {run_dir}: no {METRICS_FILE} (not a training run folder)")
    return read_records(path)


def _series(records: list[dict[str, Any]], kind: str, key: str) -> list[tuple[float, float]]:
    points = []
    for record in records:
        value = record.get(key)
        if record.get("kind") != kind or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            points.append((float(record["step"]), float(value)))
    return points


def _val_keys(records: list[dict[str, Any]], suffix: str) -> list[str]:
    keys = (k for r in records if r.get("kind") == "val" for k in r if k.endswith(suffix))
    return list(dict.fromkeys(keys))


def run_charts(runs: Sequence[tuple[str, list[dict[str, Any]]]]) -> list[Chart]:
    """Training loss (log scale when positive), validation PSNR and SSIM per set: one
    curve per run (and set); charts with nothing to draw are left out."""
    loss = [Curve(name, _series(records, "train", "loss")) for name, records in runs]
    charts = [Chart("Training loss", "loss", loss, log_y=True)]
    for suffix, title, unit in (
        ("/psnr", "Validation PSNR", "dB"),
        ("/ssim", "Validation SSIM", "SSIM"),
    ):
        curves = [
            Curve(f"{name} {key.removesuffix(suffix)}", _series(records, "val", key))
            for name, records in runs
            for key in _val_keys(records, suffix)
        ]
        charts.append(Chart(title, unit, curves))
    kept = []
    for chart in charts:
        curves = [curve for curve in chart.curves if curve.points]
        if curves:
            positive = all(y > 0 for curve in curves for _, y in curve.points)
            kept.append(Chart(chart.title, chart.y_label, curves, chart.log_y and positive))
    return kept


def weight_figures(folder: str | Path) -> list[Figure]:
    """The PNG figures of ``srmeta weights`` found in ``folder`` (none: empty)."""
    path = Path(folder).expanduser()
    found = [file for pattern in WEIGHT_FIGURES for file in sorted(path.glob(pattern))]
    try:
        return [Figure(file.stem.replace("_", " "), file.read_bytes()) for file in found]
    except OSError as err:
        raise SrmetaError(f"{path}: unreadable figure ({err})") from None
