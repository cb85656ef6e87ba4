"""Result tables: the console/Markdown table, per-image CSV and the JSON summary.

Published tables give PSNR with 2 decimals and SSIM with 4, per dataset and scale, with the
protocol named; the same numbers go to machine-readable files beside them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, fields
from pathlib import Path

from srmeta.atomic import atomic_write_text, check_writable
from srmeta.evaluation import EvalReport, ImageScore

REPORT_FILES = ("summary.json", "per_image.csv", "table.md")


def markdown_table(report: EvalReport) -> str:
    """Datasets as rows, scales as columns, cells ``PSNR / SSIM``."""
    summary = report.summary()
    scales = sorted({s.scale for s in summary})
    datasets = list(dict.fromkeys(s.dataset for s in summary))
    cells = {(s.dataset, s.scale): f"{s.psnr:.2f} / {s.ssim:.4f}" for s in summary}
    header = "| dataset | " + " | ".join(f"x{s} PSNR / SSIM" for s in scales) + " |"
    rule = "|---|" + "---|" * len(scales)
    rows = [
        f"| {d} | " + " | ".join(cells.get((d, s), "-") for s in scales) + " |" for d in datasets
    ]
    return "\n".join([header, rule, *rows])


def describe(report: EvalReport) -> str:
    """One line naming what was measured and how (the protocol's own description)."""
    return f"model {report.model}; {report.protocol.describe()}"


def per_image_csv(images: list[ImageScore]) -> str:
    buffer = io.StringIO()
    names = [f.name for f in fields(ImageScore)]
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in images:
        writer.writerow(asdict(row))
    return buffer.getvalue()


def write_report(report: EvalReport, out_dir: str | Path, force: bool = False) -> list[Path]:
    """Write :data:`REPORT_FILES` (JSON summary, per-image CSV, Markdown table) to ``out_dir``."""
    out = Path(out_dir)
    texts = (
        json.dumps(report.to_dict(), indent=2) + "\n",
        per_image_csv(report.images),
        describe(report) + "\n\n" + markdown_table(report) + "\n",
    )
    contents = {out / name: text for name, text in zip(REPORT_FILES, texts, strict=True)}
    for path in contents:  # refuse before writing anything, so no partial result set
        check_writable(path, force)
    for path, text in contents.items():
        atomic_write_text(path, text, force=force)
    return list(contents)
