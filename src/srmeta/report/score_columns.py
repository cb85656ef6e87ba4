"""The report's score columns: from a fresh evaluation or from an ``srmeta eval --out``
folder, checked to be scored the same way, and which images the columns disagree on most.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srmeta.errors import SrmetaError
from srmeta.evaluation import EvalReport
from srmeta.report.comparison import BICUBIC, ImageKey, Score, ScoreColumn
from srmeta.tables import REPORT_FILES

SUMMARY, PER_IMAGE = REPORT_FILES[0], REPORT_FILES[1]
PROTOCOL_FIELDS = ("protocol", "degradation", "y_channel")
"""The summary fields that must agree for two columns to be comparable."""


def column_from_report(report: EvalReport, label: str, model: str) -> ScoreColumn:
    """A fresh evaluation's column; ``model`` is what renders it again for crops."""
    column = ScoreColumn(label, f"model {model}", model=model)
    for row in report.summary():
        column.sets[(row.dataset, row.scale)] = Score(row.psnr, row.ssim)
    for image in report.images:
        column.images[(image.dataset, image.scale, image.image)] = Score(image.psnr, image.ssim)
    return column


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SrmetaError(f"{path}: not a readable summary ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("summary"), list):
        raise SrmetaError(f"{path}: not an srmeta eval summary (no 'summary' list)")
    return data


def _score(row: dict[str, Any], where: str) -> Score:
    try:
        return Score(float(row["psnr"]), float(row["ssim"]))
    except (KeyError, TypeError, ValueError):
        raise SrmetaError(f"{where}: a row without numeric psnr and ssim") from None


def read_eval_folder(folder: str | Path, label: str) -> tuple[ScoreColumn, dict[str, Any]]:
    """The column of an ``srmeta eval --out`` folder and its protocol settings."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise SrmetaError(f"--eval {folder}: no such folder")
    for name in (SUMMARY, PER_IMAGE):
        if not (path / name).is_file():
            raise SrmetaError(f"--eval {folder}: no {name} (write it with srmeta eval --out)")
    data = _read_json(path / SUMMARY)
    column = ScoreColumn(label, f"eval folder {folder} (model {data.get('model', '?')})")
    try:
        for row in data["summary"]:
            column.sets[(str(row["dataset"]), int(row["scale"]))] = _score(row, str(path))
        with (path / PER_IMAGE).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                key = (row["dataset"], int(row["scale"]), row["image"])
                column.images[key] = _score(row, str(path / PER_IMAGE))
    except (KeyError, TypeError, ValueError, OSError, UnicodeDecodeError, csv.Error) as err:
        raise SrmetaError(f"--eval {folder}: unreadable scores ({err!r})") from None
    return column, {key: data.get(key) for key in PROTOCOL_FIELDS}


def check_same_protocol(settings: dict[str, Any], expected: dict[str, Any], what: str) -> None:
    """Refuse to put scores made another way beside each other."""
    differ = [
        f"{key} {settings.get(key)!r}, not {expected.get(key)!r}"
        for key in PROTOCOL_FIELDS
        if settings.get(key) != expected.get(key)
    ]
    if differ:
        raise SrmetaError(f"{what}: scored another way: {'; '.join(differ)}")


def unique_labels(
    names: Sequence[str], full: Sequence[str], taken: Sequence[str] = ()
) -> list[str]:
    """``names`` where unique (among themselves and ``taken``), else the ``full`` text."""
    seen = [*taken, *names]
    return [n if seen.count(n) == 1 else f for n, f in zip(names, full, strict=True)]


def spread_labels(columns: Sequence[ScoreColumn]) -> list[str]:
    """The columns whose disagreement picks images and windows: the rendered models, without
    bicubic when at least two others are there (models against each other, not against the
    baseline they all beat)."""
    rendered = [c.label for c in columns if c.renders]
    models = [label for label in rendered if label != BICUBIC]
    return models if len(models) >= 2 else rendered


def most_different(columns: Sequence[ScoreColumn], count: int) -> list[ImageKey]:
    """The ``count`` images with the largest PSNR spread (max - min) between the columns
    :func:`spread_labels` names, largest first (input order on ties)."""
    chosen = [c for c in columns if c.label in spread_labels(columns)]
    if not chosen or count <= 0:
        return []
    keys = [k for k in chosen[0].images if all(k in c.images for c in chosen)]

    def spread(key: ImageKey) -> float:
        values = [c.images[key].psnr for c in chosen]
        finite = [v for v in values if math.isfinite(v)]
        return max(finite) - min(finite) if finite else 0.0

    return sorted(keys, key=spread, reverse=True)[:count]
