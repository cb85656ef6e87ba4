"""Train an SR model from a YAML experiment config. Under torchrun, every process trains on its
shard of each step's batch (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from srmeta.config import load_config, resolved_output_dir
from srmeta.errors import SrmetaError
from srmeta.training.loop import train
from srmeta.training.resume import saved_config


def add_arguments(p: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
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
