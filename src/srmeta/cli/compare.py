"""Write one HTML page (offline, nothing fetched): PSNR/SSIM per set and scale and per image
(sortable) for bicubic and each model or srmeta eval folder; for the images where the models
differ most, side-by-side zoomable crops of HR, bicubic and each model with a before/after
slider; and training runs' curves and weight maps.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from srmeta.argtypes import count, int_list, name_list, positive_int
from srmeta.data.lr_cache import LRCache
from srmeta.report.compare import CompareRequest, build, check_output, plan, write_report

REPEATABLE = (
    ("--model", "MODEL", "bundled name, weights file or run folder; bicubic is always added"),
    ("--eval", "DIR", "an srmeta eval --out folder: its scores become a column"),
    ("--run", "DIR", "a training run folder: its loss and validation curves"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    for flag, metavar, what in REPEATABLE:  # dest: models, evals, runs
        help_text = f"{what} (repeatable)"
        dest = flag.removeprefix("--") + "s"
        p.add_argument(
            flag, dest=dest, action="append", default=[], metavar=metavar, help=help_text
        )
    p.add_argument(
        "--weight-maps",
        metavar="DIR",
        help="an srmeta weights --out folder to show (default: figures found in the runs)",
    )
    p.add_argument("--datasets", type=name_list, default=["Set5"], help="comma-separated (Set5)")
    p.add_argument("--scales", type=int_list, default=[4], help="comma-separated (4)")
    p.add_argument(
        "--images",
        type=name_list,
        default=[],
        help="crops of these, e.g. Set5:baby,Set14:zebra (default: where the models differ most)",
    )
    p.add_argument(
        "--crops",
        type=count,
        default=3,
        metavar="N",
        help="without --images: crops of the N images the models differ most on (default 3)",
    )
    p.add_argument("--crop-size", type=positive_int, default=96, help="window side in HR px")
    p.add_argument("--degradation", default="", help="LR degradation (default: MATLAB bicubic)")
    p.add_argument("--skip-meta", action="store_true", help="leave out meta-dataset images")
    p.add_argument("--data-root", help="folder holding the datasets (default: $SRMETA_DATA)")
    p.add_argument("--cache-dir", help="LR cache folder (default: $SRMETA_CACHE or user cache)")
    p.add_argument("--no-cache", action="store_true", help="recompute LR images every time")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--title", help="the page's title")
    p.add_argument("--out", default="compare.html", help="the HTML file (default compare.html)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    out = check_output(args.out, args.force)
    given = {f.name: getattr(args, f.name) for f in fields(CompareRequest) if f.name in args}
    cache = None if args.no_cache else LRCache(args.cache_dir)
    request = CompareRequest(**given, cache=cache, progress=not args.quiet)
    comparison = build(plan(request))
    size = write_report(comparison, out, force=args.force)
    columns = ", ".join(column.label for column in comparison.columns)
    print(f"columns: {columns}" if columns else "no score columns")
    for crop in comparison.crops:
        dataset, scale, image = crop.key
        print(f"crop {dataset} {image} x{scale}: {crop.side} px at x={crop.left}, y={crop.top}")
    print(f"wrote {out} ({size / 1e6:.2f} MB)")
    return 0
