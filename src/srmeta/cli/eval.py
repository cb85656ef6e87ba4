"""Score a model on benchmark datasets with the published SR protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from srmeta.argtypes import int_list, name_list, positive_int
from srmeta.atomic import check_writable
from srmeta.config import PairsConfig
from srmeta.data.lr_cache import LRCache
from srmeta.data.pairs import PairDataset
from srmeta.errors import SrmetaError
from srmeta.evaluation import evaluate
from srmeta.models.bundled import resolve_model_name
from srmeta.models.files import read_model_file, weights_file
from srmeta.protocol import PROTOCOLS, RGB
from srmeta.tables import REPORT_FILES, describe, markdown_table, write_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="bicubic",
        help="bicubic (default), a weights file (.safetensors/.pth) or a run folder",
    )
    p.add_argument(
        "--datasets",
        type=name_list,
        help="comma-separated: Set5,Set14,BSD100 (B100),Urban100,T91 or folders"
        " (default: Set5, or none with --pairs)",
    )
    p.add_argument(
        "--pairs",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of real <name>L / <name>H pairs, scored on their own LR (repeatable)",
    )
    p.add_argument("--lr", help="a folder of real LR images, paired by name with --hr")
    p.add_argument("--hr", help="the HR images of --lr")
    p.add_argument(
        "--scales",
        type=int_list,
        help="e.g. 2,3,4 (default: a weights file's own scale; 2,3,4 for bicubic)",
    )
    p.add_argument(
        "--degradation",
        default="",
        help="LR degradation, e.g. 'blur:iso:1.2 down:bicubic noise:5' or 'realistic seed:3'"
        " (default: MATLAB bicubic)",
    )
    p.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default=RGB.name,
        help="rgb: score like any model; y-plane: the published bicubic pipeline",
    )
    p.add_argument("--round-y", action="store_true", help="round Y to integers before metrics")
    p.add_argument(
        "--skip-meta",
        action="store_true",
        help="leave out the model's meta-dataset images (else they are refused)",
    )
    p.add_argument("--data-root", help="folder holding the datasets (default: $SRMETA_DATA)")
    p.add_argument("--cache-dir", help="LR cache folder (default: $SRMETA_CACHE or user cache)")
    p.add_argument("--no-cache", action="store_true", help="recompute LR images every time")
    p.add_argument("--out", help="write summary.json, per_image.csv and table.md here")
    p.add_argument("--force", action="store_true", help="overwrite existing result files")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--max-pixels", type=positive_int, help="refuse larger images (150M)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _allow_pixels(max_pixels: int | None) -> None:
    """A user who raises --max-pixels has vouched for the files: lift Pillow's own guard too."""
    if max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = None


def _default_scales(model: str) -> list[int]:
    """A weights file's own scale; every scale for a method that has none (bicubic)."""
    path = Path(resolve_model_name(model, None))  # a bundled name becomes its file
    if not path.exists():  # a registered name, or a missing file that evaluate reports
        return [2, 3, 4]
    scale = read_model_file(weights_file(path))[1].scale
    return [scale] if scale is not None else [2, 3, 4]


def run(args: argparse.Namespace) -> int:
    if args.out:  # fail before a long evaluation, not after it
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise SrmetaError(f"--out {out}: is a file; give a folder for the result files")
        for name in REPORT_FILES if not args.force else ():
            check_writable(out / name, force=False)
    _allow_pixels(args.max_pixels)
    if (args.lr is None) != (args.hr is None):
        raise SrmetaError("--lr and --hr go together")
    pair_sets = [PairDataset.from_config(PairsConfig(folder=d)) for d in args.pairs]
    if args.lr is not None:
        pair_sets.append(PairDataset.from_config(PairsConfig(lr=args.lr, hr=args.hr)))
    names = args.datasets if args.datasets is not None else ([] if pair_sets else ["Set5"])
    report = evaluate(
        args.model,
        [*names, *pair_sets],
        args.scales or _default_scales(args.model),
        degradation=args.degradation,
        protocol=args.protocol,
        round_y=args.round_y,
        data_root=args.data_root,
        cache=None if args.no_cache else LRCache(args.cache_dir),
        device=args.device,
        max_pixels=args.max_pixels,
        skip_meta=args.skip_meta,
        progress=not args.quiet,
    )
    print(describe(report))
    print(markdown_table(report))
    if args.out:
        for path in write_report(report, args.out, force=args.force):
            print(f"wrote {path}")
    return 0
