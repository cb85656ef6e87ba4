"""For each run, draw the loss weights its weighting would train with on the given images (with
the reward and error maps) and summarise them; then compare the runs' (and bicubic's) SR
error by radial frequency band.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from srmeta.argtypes import positive_int
from srmeta.atomic import atomic_write_text, check_writable

BAND_FIGURE = "frequency_bands.png"
BAND_TABLE = "frequency_bands.md"
STATS_FILE = "weight_stats.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        dest="runs",
        action="append",
        required=True,
        metavar="RUN",
        help="a training run folder (repeatable)",
    )
    p.add_argument(
        "--images",
        nargs="+",
        required=True,
        metavar="PATH",
        help="HR image files, or DATASET:name (e.g. Set5:bird, Urban100:img_004)",
    )
    p.add_argument("--out", default=".", metavar="DIR", help="output folder (default: .)")
    p.add_argument(
        "--crop",
        type=positive_int,
        metavar="N",
        help="centre-crop each image to N x N pixels (faster)",
    )
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="folder holding the datasets (default: the run's, else $SRMETA_DATA)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def _json_safe(value: Any) -> Any:
    """NaN (a constant map's correlation) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.3f}"


def run(args: argparse.Namespace) -> int:
    """Write ``weight_maps_<run>.png`` per run, the band figure and table, and the stats."""
    from srmeta.report.frequency_bands import band_table, compare_runs_bands, save_band_figure
    from srmeta.report.weight_maps import (
        resolve_image,
        run_data_root,
        run_names,
        save_weight_figure,
        weight_maps,
        weight_statistics,
    )

    out = Path(args.out).expanduser()
    names = run_names(args.runs)
    figures = [out / f"weight_maps_{name}.png" for name in names]
    targets = [*figures, out / BAND_FIGURE, out / BAND_TABLE, out / STATS_FILE]
    if not args.force:  # refuse before the slow part, not after it
        for target in targets:
            check_writable(target, force=False)
    root = args.data_root or run_data_root(args.runs[0])
    images = [resolve_image(spec, root) for spec in args.images]

    stats: dict[str, list[dict[str, Any]]] = {}
    for run, name, figure in zip(args.runs, names, figures, strict=True):
        maps = weight_maps(run, images, data_root=args.data_root, crop=args.crop)
        save_weight_figure(maps, figure, force=args.force, title=name)
        stats[name] = weight_statistics(maps)
        for row in stats[name]:
            print(
                f"{name} {row['image']}: weight std {row['weight_std']:.3f},"
                f" corr(weight, structure) {_fmt(row['spearman_weight_structure'])},"
                f" weight on top-20% structure {row['weight_share_top20_structure']:.1%},"
                f" corr(weight, error) {_fmt(row['spearman_weight_error'])}"
            )
    bands = compare_runs_bands(args.runs, images, data_root=args.data_root, crop=args.crop)
    table = band_table(bands)
    print()
    print(table, end="")
    save_band_figure(bands, out / BAND_FIGURE, force=args.force)
    atomic_write_text(out / BAND_TABLE, table, force=args.force)
    text = json.dumps(_json_safe(stats), indent=2, allow_nan=False) + "\n"
    atomic_write_text(out / STATS_FILE, text, force=args.force)
    for target in targets:
        print(f"wrote {target}")
    return 0
