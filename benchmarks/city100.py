"""Real-camera benchmark: adapting srmeta-x3 to City100's Nikon D5500 from k of its pairs.

City100 (Chen et al., CVPR 2019, github.com/ngchc/CameraSR, MIT) holds 100 pairs per
camera of the same printed city scenes shot at two focal lengths; only the NikonD5500 pairs
are used here (the iPhoneX pairs are a held-out test: never trained or tuned on). Task x3:
LR' = imresize(L, 1/3) (MATLAB bicubic), target H, the rgb protocol (Y PSNR, border 3).

A *cell* is (k, draw, seed): ``draw`` picks k pairs (``default_rng([draw, k])``), the
other 100 - k are its test pairs, ``seed`` seeds training (and adapt's hold-out split).
Arms, all from srmeta-x3's weights with the same steps, batch and pool:

- ``start``: srmeta-x3 unchanged; ``bicubic`` for reference (both scored once, all pairs);
- ``finetune``: the k pairs as the only data; ``mixed``: pool + pairs as data, uniform;
- ``weightnet``: pool weighted by Weight-Net meta-learned on the k pairs;
- ``combined``: Weight-Net and the pairs as data;
- ``adapt``: ``srmeta adapt --no-refit --no-confirm`` (hold out a quarter of the k pairs,
  train finetune / weightnet / combined with early stopping, keep the best on the held-out);
- ``adapt_refit``: the same, then the choice retrained on all k pairs (``--no-confirm``);
- ``adapt_confirm``: ``srmeta adapt``'s default: a choice other than the simplest must win
  again on a second hold-out, then it is retrained on all k pairs.

    git worktree add ../wt-city <commit>      # pin the code of a batch
    PYTHONPATH=../wt-city/src python benchmarks/city100.py run --city100 DIR \\
        --data-root ../shared/data --k 5 --part 0/2      # and --part 1/2 beside it
    python benchmarks/city100.py report       # JSON + docs/city100.md

Each arm's result (per-image PSNR on its test pairs, the steps, the seconds, the commit the
code ran at) is written atomically to ``--record`` (default
``benchmarks/results/city100/k<k>/draw<d>/seed<s>/<arm>.json``); recorded arms are skipped,
and the training runs under ``--out`` resume, so ``run`` continues across sessions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import update_section

import srmeta
from srmeta.atomic import atomic_write_text
from srmeta.config import PairsConfig, validate_config
from srmeta.data.camera_blur import fit_blur
from srmeta.data.pairs import PairDataset, find_pairs, load_pairs, selected_files
from srmeta.evaluation import evaluate
from srmeta.models.bundled import resolve_model_name
from srmeta.training.adapt import adapt
from srmeta.training.adapt_settings import STRATEGIES, AdaptSettings, strategy_config
from srmeta.training.loop import train

START = "srmeta-x3"
SCALE = 3
TRAINED_ARMS = ("finetune", "mixed", "weightnet", "combined")
# The pool's LR made with the blur the k pairs imply (srmeta.data.camera_blur) instead of
# adapt's broad spread: does a camera-like pool beat fine-tuning on the pairs alone?
# combined_fit8: as many pair crops per step as fine-tuning (8), the weighted pool beside.
FIT_ARMS = ("mixed_fit", "combined_fit", "combined_fit8")
# adapt's arms, by the settings they pin (the tool's defaults moved; the arms do not):
# the first choice as it is, refit on every pair, and refit after a confirmed choice (the
# default from the confirm rule until k-fold).
ADAPT_ARMS = {
    "adapt": {"choose": "holdout", "refit": False, "confirm": False},
    "adapt_refit": {"choose": "holdout", "refit": True, "confirm": False},
    "adapt_confirm": {"choose": "holdout", "refit": True, "confirm": True},
    # srmeta adapt --choose kfold: every pair held out once (the kfold arm's rule, run by
    # the tool itself, with its early stopping on the pooled fold curve).
    "adapt_kfold": {"choose": "kfold"},
}
ARMS = (*TRAINED_ARMS, *ADAPT_ARMS, *FIT_ARMS)
REPORTED = (*ARMS, "kfold")  # kfold: the meta grid's k-fold choice (city100_kfold.py)
RECORD = Path("benchmarks/results/city100")
DOC = Path(__file__).resolve().parents[1] / "docs" / "city100.md"
DOC_HEADER = "# City100: adapting to a real camera\n"


def code_commit() -> str:
    """The commit of the srmeta code this process imported (``+dirty`` when edited)."""
    root = Path(srmeta.__file__).resolve().parents[2]

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip()

    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return git("rev-parse", "HEAD") + ("+dirty" if dirty else "")


def draw_names(names: list[str], k: int, draw: int) -> list[str]:
    chosen = np.random.default_rng([draw, k]).choice(len(names), k, replace=False)
    return [names[i] for i in sorted(int(i) for i in chosen)]


def score(model: str, folder: str, names: list[str]) -> dict[str, float]:
    pairs = PairDataset.from_config(PairsConfig(folder=folder, names=names), name="City100")
    report = evaluate(model, [pairs], [SCALE])
    return {row.image: row.psnr for row in report.images}


def write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n", force=True)


def references(args: argparse.Namespace, names: list[str]) -> None:
    for model in ("start", "bicubic"):
        path = args.record / f"{model}.json"
        if path.exists():
            continue
        label = START if model == "start" else "bicubic"
        per_image = score(label, args.city100, names)
        write(path, {"model": label, "per_image": per_image, "commit": code_commit()})
        print(f"{model}: {np.mean(list(per_image.values())):.3f} dB", flush=True)


def run_arm(args: argparse.Namespace, k: int, draw: int, seed: int, arm: str, names: list[str]):
    record = args.record / f"k{k}" / f"draw{draw}" / f"seed{seed}" / f"{arm}.json"
    if record.exists():
        return
    few = draw_names(names, k, draw)
    test = [n for n in names if n not in few][: args.max_test]
    run_dir = args.out / f"k{k}" / f"draw{draw}" / f"seed{seed}" / arm
    settings = AdaptSettings(scale=SCALE, start=START, steps=args.steps, seed=seed, device="cpu")
    pairs = PairsConfig(folder=args.city100, names=few)
    tick = time.perf_counter()
    extra: dict[str, Any] = {}
    if arm.startswith("adapt"):
        done = run_dir / "adapt.json"  # finished before a kill: its report stands
        plain = run_dir.parent / "adapt" / "candidates"
        kfold = ADAPT_ARMS[arm].get("choose") == "kfold"  # no held-out runs to share
        if arm != "adapt" and not kfold and plain.is_dir():  # only what follows is new
            for strategy in plain.iterdir():
                if (
                    strategy.name in STRATEGIES
                    and not (run_dir / "candidates" / strategy.name).exists()
                ):
                    shutil.copytree(strategy, run_dir / "candidates" / strategy.name)
        if not done.exists():
            settings = replace(settings, **ADAPT_ARMS[arm])
            adapt(pairs, settings, run_dir, args.data_root, force=False, say=print)
        result = json.loads(done.read_text())
        model = str(run_dir / "model_best.safetensors")
        extra = {"chosen": result["chosen"], "holdout": result["holdout_pairs"]}
        extra["held_out_gain"] = result["gain"]
        extra["confirmations"] = result.get("confirmations", [])
        if result.get("kfold"):
            extra["kfold"] = result["kfold"]
            extra["fold_held_out"] = {
                ",".join(fold["held_out"]): dict(fold["curve"])[result["kfold"]["steps"]]
                for fold in result["folds"]
            }
    else:
        start_file = Path(resolve_model_name(START, SCALE))
        from srmeta.models.files import read_model_file

        spec = read_model_file(start_file)[1]
        strategy = arm.split("_")[0]
        if arm == "combined_fit8":
            settings = replace(settings, meta_batch_size=8)
        if arm in FIT_ARMS:
            fit = fit_blur(load_pairs(selected_files(pairs), SCALE), SCALE)
            settings = replace(settings, pool_degradation=fit.pool_degradation())
            extra = {"blur_fit": {"sigma": fit.sigma, "psnr": fit.psnr}}
            extra["pool_degradation"] = settings.pool_degradation
        cfg = strategy_config(
            strategy, settings, start_file, spec.arch, dict(spec.options), pairs, few, None,
            run_dir, args.data_root,
        )  # fmt: skip
        train(validate_config(cfg), resume="auto")
        model = str(run_dir / "model_last.safetensors")
    seconds = time.perf_counter() - tick
    per_image = score(model, args.city100, test)
    write(
        record,
        {
            "k": k, "draw": draw, "seed": seed, "arm": arm, "few_shot": few,
            "steps": args.steps, "train_seconds": seconds, "per_image": per_image,
            "commit": code_commit(), "threads": torch.get_num_threads(), **extra,
        },
    )  # fmt: skip
    print(
        f"k{k} draw{draw} seed{seed} {arm}: {np.mean(list(per_image.values())):.3f} dB", flush=True
    )


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    names = [p.name for p in find_pairs(args.city100)]
    if len(names) != 100:
        raise SystemExit(f"expected City100's 100 NikonD5500 pairs in {args.city100}")
    part, parts = (int(v) for v in args.part.split("/"))
    if part == 0:
        references(args, names)
    cells = [(k, d, s) for k in args.k for s in args.seeds for d in args.draws]
    for index, (k, draw, seed) in enumerate(cells):
        if index % parts != part:
            continue
        for arm in args.arms:
            run_arm(args, k, draw, seed, arm, names)


# ---------------------------------------------------------------- report


def _load(record: Path) -> tuple[dict[str, Any], dict[tuple, dict[str, Any]]]:
    refs = {p.stem: json.loads(p.read_text()) for p in record.glob("*.json")}
    arms = {}
    for path in record.glob("k*/draw*/seed*/*.json"):
        r = json.loads(path.read_text())
        arms[(r["k"], r["draw"], r["seed"], r["arm"])] = r
    return refs, arms


def cell_deltas(
    arms: dict[tuple, dict[str, Any]], refs: dict[str, Any], k: int, arm: str, base: str
) -> list[np.ndarray]:
    """Per cell (draw, seed) with both arms: the per-image PSNR differences arm - base."""
    out = []
    for (kk, draw, seed, name), r in sorted(arms.items()):
        if kk != k or name != arm:
            continue
        other = refs[base] if base in refs else arms.get((k, draw, seed, base))
        if other is None:
            continue
        images = sorted(r["per_image"])
        out.append(np.array([r["per_image"][i] - other["per_image"][i] for i in images]))
    return out


def two_level_ci(cells: list[np.ndarray], rounds: int = 2000, seed: int = 0):
    """Mean over cells of each cell's mean, and its 95% interval: resample cells, then images
    within each (each cell is its own draw's test pairs)."""
    if not cells:
        return float("nan"), (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(rounds)
    for t in range(rounds):
        picks = rng.integers(len(cells), size=len(cells)) if len(cells) > 1 else [0]
        means[t] = np.mean([cells[c][rng.integers(len(cells[c]), size=len(cells[c]))].mean()
                            for c in picks])  # fmt: skip
    low, high = np.percentile(means, [2.5, 97.5])
    return float(np.mean([c.mean() for c in cells])), (float(low), float(high))


def report(args: argparse.Namespace) -> None:
    refs, arms = _load(args.record)
    rows = []
    for k in sorted({key[0] for key in arms}):
        for arm in REPORTED:
            cells = [key for key in arms if key[0] == k and key[3] == arm]
            if not cells:
                continue
            psnr = np.mean([np.mean(list(arms[c]["per_image"].values())) for c in cells])
            row: dict[str, Any] = {"k": k, "arm": arm, "cells": len(cells), "psnr": psnr}
            for base in ("start", "finetune"):
                if base == arm:
                    continue
                mean, ci = two_level_ci(cell_deltas(arms, refs, k, arm, base))
                row[f"vs_{base}"] = mean
                row[f"vs_{base}_ci"] = ci
            if arm.startswith("adapt") or arm == "kfold":
                row["chosen"] = sorted(arms[c].get("chosen", "?") for c in cells)
            row["train_seconds"] = float(np.mean([arms[c]["train_seconds"] for c in cells]))
            rows.append(row)
    commits = sorted({r["commit"] for r in arms.values()})
    summary = {
        "references": {n: float(np.mean(list(r["per_image"].values()))) for n, r in refs.items()},
        "rows": rows,
        "commits": commits,
    }
    write(Path("benchmarks/results/city100.json"), summary)
    lines = [
        "| k | arm | cells | PSNR | vs srmeta-x3 [95% CI] | vs finetune [95% CI] | s/run |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(row: dict[str, Any], key: str) -> str:
        if key not in row:
            return "—"
        low, high = row[f"{key}_ci"]
        return f"{row[key]:+.3f} [{low:+.3f}, {high:+.3f}]"

    for row in rows:
        arm = row["arm"]
        if "chosen" in row:
            counts = Counter(row["chosen"])
            arm += " (chose " + ", ".join(f"{n} ×{c}" for n, c in sorted(counts.items())) + ")"
        lines.append(
            f"| {row['k']} | {arm} | {row['cells']} | {row['psnr']:.3f} |"
            f" {cell(row, 'vs_start')} | {cell(row, 'vs_finetune')} | {row['train_seconds']:.0f} |"
        )
    refs_line = ", ".join(f"{n} {v:.3f} dB" for n, v in sorted(summary["references"].items()))
    table = "\n".join(lines)
    markdown = (
        f"All 100 NikonD5500 pairs: {refs_line} (`start` is {START}).\n\n{table}\n\n"
        f"Cells are (draw, seed); code {', '.join(c[:10] for c in commits)}."
    )
    update_section("city100", markdown, DOC, header=DOC_HEADER)
    summary_md = (
        "## Real camera: City100 NikonD5500, x3 (`benchmarks/city100.py`)\n\n"
        "srmeta-x3 adapted from k of the 100 pairs, scored on the other 100 - k; arms, budget"
        " and the reading: [city100.md](city100.md).\n\n" + markdown
    )
    update_section("city100", summary_md)  # docs/results.md, beside the other benchmarks
    print(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--city100", required=True, help="the City100_NikonD5500 folder")
    r.add_argument("--data-root", required=True)
    r.add_argument("--k", type=lambda s: [int(v) for v in s.split(",")], default=[5, 10])
    r.add_argument("--draws", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    r.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    r.add_argument("--arms", type=lambda s: s.split(","), default=list(ARMS))
    r.add_argument("--steps", type=int, default=400)
    r.add_argument("--part", default="0/1", help="i/n: this process runs every n-th cell")
    r.add_argument("--max-test", type=int, help="smoke only: score this many test pairs")
    r.add_argument("--out", type=Path, default=Path("runs/city100"))
    r.add_argument("--record", type=Path, default=RECORD)
    p = sub.add_parser("report")
    p.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    sys.exit(main())
