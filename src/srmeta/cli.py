"""The ``srmeta`` command. Thin by design: parse arguments, call the public API, print.

User mistakes (bad files, unknown datasets, malformed options) end with one line on stderr
and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from srmeta.argtypes import int_list, name_list, positive_int
from srmeta.atomic import check_writable
from srmeta.config import load_config, resolved_output_dir
from srmeta.data.lr_cache import LRCache
from srmeta.demo import add_demo_command
from srmeta.errors import SrmetaError
from srmeta.evaluate import PROTOCOLS, evaluate
from srmeta.inference.commands import add_export_command, add_upscale_command
from srmeta.report.cli_weights import add_weights_command
from srmeta.tables import REPORT_FILES, describe, markdown_table, write_report
from srmeta.train.loop import train
from srmeta.train.resume import saved_config

EXIT_USER_ERROR = 2


def _add_eval(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "eval",
        help="score a model on benchmark datasets (PSNR/SSIM on Y, published protocol)",
        description="Score a model on benchmark datasets with the published SR protocol.",
    )
    p.add_argument(
        "--model",
        default="bicubic",
        help="bicubic (default), a weights file (.safetensors/.pth) or a run folder",
    )
    p.add_argument(
        "--datasets",
        type=name_list,
        default=["Set5"],
        help="comma-separated: Set5,Set14,BSD100 (B100),Urban100,T91 or folders",
    )
    p.add_argument(
        "--scales",
        type=int_list,
        help="e.g. 2,3,4 (default: a weights file's own scale; 2,3,4 for bicubic)",
    )
    p.add_argument(
        "--degradation",
        default="",
        help="LR degradation, e.g. 'blur:iso:1.2 down:bicubic noise:5' (default: MATLAB bicubic)",
    )
    p.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default="rgb",
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
    p.set_defaults(run=_run_eval)


def _allow_pixels(max_pixels: int | None) -> None:
    """A user who raises --max-pixels has vouched for the files: lift Pillow's own guard too."""
    if max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = None


def _default_scales(model: str) -> list[int]:
    """A weights file's own scale; every scale for a method that has none (bicubic)."""
    from srmeta.models.bundled import resolve_model_name
    from srmeta.models.files import read_model_file, weights_file

    path = Path(resolve_model_name(model, None))  # a bundled name becomes its file
    if not path.exists():  # a registered name, or a missing file that evaluate reports
        return [2, 3, 4]
    scale = read_model_file(weights_file(path))[1].scale
    return [scale] if scale is not None else [2, 3, 4]


def _run_eval(args: argparse.Namespace) -> int:
    if args.out:  # fail before a long evaluation, not after it
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise SrmetaError(f"--out {out}: is a file; give a folder for the result files")
        for name in REPORT_FILES if not args.force else ():
            check_writable(out / name, force=False)
    _allow_pixels(args.max_pixels)
    report = evaluate(
        args.model,
        args.datasets,
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


def _add_train(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "train",
        help="train an SR model from a YAML config (torchrun for several processes)",
        description="Train an SR model from a YAML experiment config. Under torchrun, every "
        "process trains on its shard of each step's batch (DistributedDataParallel).",
    )
    p.add_argument(
        "config",
        help="experiment config (YAML; examples in configs/), or a run"
        " folder to continue with its saved config",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.optimizer.lr=1e-3 (repeatable)",
    )
    p.add_argument(
        "--resume",
        default="none",
        help="auto: continue the run's newest checkpoint; a checkpoint file or run "
        "folder; none (default): start fresh",
    )
    p.add_argument("--data-root", help="shortcut for --set data_root=...")
    p.add_argument("--device", help="shortcut for --set device=... (auto, cpu, cuda)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data_root={args.data_root}")
    if args.device:
        overrides.append(f"device={args.device}")
    config = Path(args.config)
    if config.is_dir():  # a run folder: continue it with the config it saved
        overrides.insert(0, f"output_dir={config}")
        config = config / "config.yaml"
        if not config.is_file():
            raise SrmetaError(f"{args.config}: no config.yaml in this folder (not a run?)")
    cfg = load_config(config, overrides)
    if args.resume != "none" and cfg.data_root is None and not os.environ.get("SRMETA_DATA"):
        saved = saved_config(resolved_output_dir(cfg)) or {}  # a resumed run keeps its data
        cfg = cfg.model_copy(update={"data_root": saved.get("data_root")})
    result = train(cfg, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        best = (
            ""
            if result.best_psnr is None
            else (f"; best validation PSNR {result.best_psnr:.2f} dB at step {result.best_step}")
        )
        print(f"trained {cfg.name} to step {result.step}{best}; run folder {result.run_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srmeta",
        description="Single-image super-resolution with meta-learned pixel loss weighting.",
    )
    parser.add_argument("--version", action="version",
                        version=f"srmeta {importlib.metadata.version('srmeta')}")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_eval(commands)
    _add_train(commands)
    add_weights_command(commands)
    add_upscale_command(commands)
    add_export_command(commands)
    add_demo_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``srmeta`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SrmetaError as err:
        print(f"srmeta: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("srmeta: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
