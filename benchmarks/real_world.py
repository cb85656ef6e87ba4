"""How models do on realistically degraded inputs: PSNR / SSIM and two artifact measures.

The bundled models are trained on clean MATLAB-bicubic LR; on noisy, JPEG-compressed inputs
they score below bicubic and sharpen the JPEG block grid. This benchmark is the yardstick for
a blind model family (srmeta-real-xS, issue 25): its target is at least +0.8 dB over bicubic
and over srmeta-fast on Set5 / Set14 / BSD100 under several degradations, with no visible
block grid (flat-region high-frequency energy no higher than bicubic's).

Degradations (:data:`DEGRADATIONS`, srmeta's own strings, README "Degradations"): noise +
JPEG, blur + noise + JPEG, anisotropic blur + noise, JPEG alone, and one draw of the
``realistic`` second-order chain. Each is scored with :func:`srmeta.evaluation.evaluate`
under the ``rgb`` protocol (PSNR / SSIM on float BT.601 Y, border = scale), so the numbers
are those ``srmeta eval --degradation ...`` prints.

Models: ``bicubic``, ``srmeta-fast-xS``, ``srmeta-xS`` and every ``--model NAME=PATH`` (a
weights file or a training run folder). Images of any model's meta-dataset are left out for
every model, so all rows score the same images.

Artifact measures (flat-region HF energy, blockiness): ``artifact_measures.py``. The
ground truth's own values under its mask (``gt_flat_hf``, ``gt_blockiness``) are recorded:
what a perfect output scores.

    python benchmarks/real_world.py --data-root ../shared/data       # x4, ~5 min, 1 core
    python benchmarks/real_world.py --model srmeta-real-x4=runs/real_x4 --resume
    python benchmarks/real_world.py --quick                           # Set5, one degradation
    python benchmarks/real_world.py --datasets DIR --model a=runs/a --results sel.json

Writes benchmarks/results/real_world.json (x2, x3: real_world_x2.json, ...) after every
finished cell; ``--resume`` keeps the cells of a previous run whose model weights, scale and
degradation are unchanged. Then the "real-world" (``-x2``, ...) section of docs/results.md.
``--quick`` writes to a temporary file unless ``--results`` is given, and leaves the docs
alone unless ``--docs``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artifact_measures import (
    FLAT_STD,
    FLAT_WINDOW,
    HF_SIGMA,
    HF_SIZE,
    JPEG_BLOCK,
    NONE,
    artifacts_of,
    flat_mask,
    image_y,
)
from docs_section import update_section
from real_world_report import (
    REFERENCE,
    cell_key,
    fmt,
    markdown,
    payload_name,
    section_name,
)

REPO = Path(__file__).resolve().parents[1]
DEGRADATIONS = (
    "down:bicubic noise:6 jpeg:30 seed:1",
    "blur:iso:1.5 down:bicubic noise:4 jpeg:50 seed:2",
    "blur:aniso:2.5,1.0,30 down:bicubic noise:10 seed:3",
    "down:bicubic jpeg:20 seed:4",
    "realistic seed:11",
)
DATASETS, QUICK_DATASETS = ("Set5", "Set14", "BSD100"), ("Set5",)


# --- scoring ---------------------------------------------------------------------------


def score_cell(
    model: str,
    degradation: str,
    dataset: str,
    scale: int,
    args: argparse.Namespace,
    exclude: list[str],
) -> dict:
    """One model on one dataset under one degradation: protocol scores and artifacts."""
    from srmeta.evaluation import ImageScore, evaluate
    from srmeta.protocol import RGB

    per_image: dict[str, dict] = {}
    total = truth = NONE
    border = RGB.border(scale)

    def hook(row: ImageScore, hr: torch.Tensor, sr: torch.Tensor) -> None:
        nonlocal total, truth
        hr_y, sr_y = image_y(hr, border), image_y(sr, border)
        mask = flat_mask(hr_y)
        mine = artifacts_of(sr_y, mask, scale, border)
        total, truth = total + mine, truth + artifacts_of(hr_y, mask, scale, border)
        values = {
            "psnr": row.psnr,
            "ssim": row.ssim,
            "flat_hf": _finite(mine.flat_hf),
            "blockiness": _finite(mine.blockiness),
            "flat_fraction": mine.flat_pixels / hr_y.size,
        }  # 5 decimals: far below any difference that counts, and a third of the file
        per_image[row.image] = {k: v if v is None else round(v, 5) for k, v in values.items()}

    report = evaluate(
        model,
        [dataset],
        [scale],
        degradation=degradation,
        data_root=args.data_root,
        device=args.device,
        exclude=exclude,
        skip_meta=True,
        on_image=hook,
    )
    (summary,) = report.summary()
    return {
        "model": model,
        "degradation": degradation,
        "dataset": dataset,
        "scored_as": summary.dataset,  # BSD100-98 when meta-dataset images were left out
        "images": summary.images,
        "psnr": summary.psnr,
        "ssim": summary.ssim,
        "flat_hf": _finite(total.flat_hf),
        "blockiness": _finite(total.blockiness),
        "flat_pixels": total.flat_pixels,
        "gt_flat_hf": _finite(truth.flat_hf),
        "gt_blockiness": _finite(truth.blockiness),
        "per_image": per_image,
    }


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined measure (no flat pixel) is null."""
    return None if math.isnan(value) else value


def parse_models(scale: int, extra: list[str], quick: bool = False) -> dict[str, str]:
    """Row name -> what :func:`evaluate` loads: the reference, the bundled models this
    installation ships at ``scale`` (clean families first; only srmeta-fast when ``quick``,
    a smoke run of the ``NAME=PATH`` models), then those entries in order."""
    from srmeta.models.bundled import shipped_models

    models = {REFERENCE: REFERENCE}
    for family, s in shipped_models():
        if s == scale and (family == "srmeta-fast" or not quick):
            models[f"{family}-x{scale}"] = f"{family}-x{scale}"
    for entry in extra:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--model takes NAME=PATH, not {entry!r}")
        if name in models:  # a second row of one name would overwrite the first's cells
            raise SystemExit(f"--model {name}: that name is taken; choose another")
        if not Path(path).exists():
            raise SystemExit(f"--model {name}: {path} does not exist")
        models[name] = str(Path(path).resolve())
    return models


def model_digest(model: str, scale: int) -> str:
    """What a cell's numbers depend on besides the inputs: the weights (bicubic: none)."""
    if model == REFERENCE:
        return REFERENCE
    from srmeta.models.bundled import resolve_model_name
    from srmeta.models.files import weights_digest

    return weights_digest(resolve_model_name(model, scale))


def excluded_images(models: dict[str, str], scale: int) -> list[str]:
    """Every model's meta-dataset images: left out for all, so rows compare alike."""
    from srmeta.models.bundled import resolve_model_name
    from srmeta.models.files import meta_images_of

    return sorted(
        {
            n
            for m in models.values()
            if m != REFERENCE
            for n in meta_images_of(resolve_model_name(m, scale))
        }
    )


def code_commit() -> str:
    """``git rev-parse HEAD``, marked when tracked files under src/ or benchmarks/ differ."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "src", "benchmarks")
    return git("rev-parse", "HEAD") + (" (with uncommitted changes)" if dirty else "")


def environment(threads: int, device: str) -> dict[str, str]:
    import srmeta

    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": str(threads),
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "srmeta": getattr(srmeta, "__version__", "unknown"),
    }


def compact_json(payload: dict) -> str:
    """Indented JSON with every innermost object (an image's numbers, the environment) on
    one line: 1500 per-image rows stay readable and diffable without a line per number."""
    text = json.dumps(payload, indent=1)
    one_line = lambda m: "{" + " ".join(m.group()[1:-1].split()) + "}"  # noqa: E731
    return re.sub(r"\{[^{}\[\]]*\}", one_line, text) + "\n"


def kept_cells(old: dict, scale: int, digests: dict[str, str], exclude: list[str]) -> dict:
    """The cells of a previous run still valid: same scale and excluded images, and the
    model's weights unchanged."""
    if old.get("scale") != scale or old.get("excluded") != exclude:
        return {}
    return {
        key: cell
        for key, cell in old.get("cells", {}).items()
        if digests.get(cell["model"]) is not None and cell.get("digest") == digests[cell["model"]]
    }


# --- the command -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), default=4)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="an extra model (weights file or run folder), repeatable",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--quick", action="store_true", help="Set5, one degradation, bicubic and srmeta-fast"
    )
    parser.add_argument(
        "--datasets",
        help="comma-separated names or folders in place of Set5,Set14,BSD100 (e.g. a"
        " validation set to choose a recipe on); like --quick, writes to a temporary file"
        " unless --results is given and leaves the docs alone",
    )
    parser.add_argument("--results", type=Path, help="JSON output (default: see the docstring)")
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        help="write the docs/results.md section (default: not --quick)",
    )
    parser.add_argument("--resume", action="store_true", help="keep finished cells")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = parse_models(args.scale, args.model, quick=args.quick)
    degradations = DEGRADATIONS[:1] if args.quick else DEGRADATIONS
    datasets = QUICK_DATASETS if args.quick else DATASETS
    side_run = args.quick or args.datasets is not None  # not the benchmark's own table
    if args.datasets is not None:
        datasets = tuple(d for d in args.datasets.split(",") if d)
    default = Path(tempfile.gettempdir()) / "real_world_quick.json" if side_run else None
    results = args.results or default or REPO / "benchmarks" / "results" / payload_name(args.scale)
    digests = {name: model_digest(path, args.scale) for name, path in models.items()}
    exclude = excluded_images(models, args.scale)
    payload = {
        "commit": code_commit(),
        "environment": environment(args.threads, args.device),
        "scale": args.scale,
        "quick": args.quick,
        "protocol": "rgb",
        "models": list(models),
        "model_files": {n: p for n, p in models.items() if n != REFERENCE},
        "digests": digests,
        "degradations": list(degradations),
        "datasets": list(datasets),
        "excluded": exclude,
        "definitions": {
            "flat_window": FLAT_WINDOW,
            "flat_std": FLAT_STD,
            "hf_gaussian": [HF_SIZE, HF_SIGMA],
            "jpeg_block_lr": JPEG_BLOCK,
            "pooling": "sums over a dataset's images, then divided",
        },
        "cells": {},
    }
    if args.resume and results.is_file():
        payload["cells"] = kept_cells(json.loads(results.read_text()), args.scale, digests, exclude)
        print(f"resuming: {len(payload['cells'])} finished cells kept", flush=True)

    def save() -> None:
        results.parent.mkdir(parents=True, exist_ok=True)
        tmp = results.with_suffix(".tmp")
        tmp.write_text(compact_json(payload))
        os.replace(tmp, results)

    for deg in degradations:
        for name, model in models.items():
            for data in datasets:
                key = cell_key(name, deg, data)
                if key in payload["cells"]:
                    continue
                cell = score_cell(model, deg, data, args.scale, args, exclude)
                cell.update(model=name, digest=digests[name], commit=payload["commit"])
                payload["cells"][key] = cell
                print(
                    f"{key}: {cell['psnr']:.3f} dB, flat HF {fmt(cell['flat_hf'], 3)},"
                    f" blockiness {fmt(cell['blockiness'], 3)}",
                    flush=True,
                )
                save()
    order = [cell_key(m, d, s) for d in degradations for m in models for s in datasets]
    payload["cells"] = {k: payload["cells"][k] for k in order}
    save()
    text = markdown(payload)
    if args.docs if args.docs is not None else not side_run:
        update_section(section_name(args.scale), text)
    print(text)


if __name__ == "__main__":
    main()
