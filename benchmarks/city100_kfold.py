"""The k-fold candidate default (:mod:`meta_kfold`) on City100 NikonD5500, x3.

The same rule as in the meta grid, with City100's arms: fold ``i`` fine-tunes srmeta-x3 on
the cell's k pairs less pair ``i`` (the ``finetune`` arm's steps, batch and seed) and scores
pair ``i``; the held-out gain is the mean over the k folds of that score minus srmeta-x3's
on the same pair (the starting model is the fallback here, as in ``srmeta adapt``); the
choice is ``finetune`` if the gain is above 0, else ``weightnet``, and the cell's test
scores are the chosen arm's recorded run on all k pairs.

    PYTHONPATH=../wt-kfold/src python benchmarks/city100_kfold.py --city100 DIR \\
        --data-root ../shared/data --k 5
    python benchmarks/city100.py report

Each fold's score is kept in ``--out`` (``fold<i>.json``), so a killed run resumes; the
cell's record is ``benchmarks/results/city100/k<k>/draw<d>/seed<s>/kfold.json``.
"""

from __future__ import annotations

import argparse
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from city100 import RECORD, SCALE, START, code_commit, draw_names, score, write
from meta_kfold import KFOLD, choose
from meta_select import TUNED

from srmeta.config import PairsConfig, validate_config
from srmeta.data.pairs import find_pairs
from srmeta.models.bundled import resolve_model_name
from srmeta.models.files import ModelSpec, read_model_file
from srmeta.training.adapt_settings import AdaptSettings, strategy_config
from srmeta.training.loop import train

ARM_OF = {TUNED: "finetune", "weightnet_best": "weightnet"}  # the grid's names -> City100's


@cache
def start_model() -> tuple[Path, ModelSpec]:
    """srmeta-x3's file and descriptor, read once for every fold."""
    start_file = Path(resolve_model_name(START, SCALE))
    return start_file, read_model_file(start_file)[1]


def fold_score(args: argparse.Namespace, few: list[str], fold: int, seed: int, run: Path):
    """Fine-tune on ``few`` less its ``fold``-th pair (by name); score that pair."""
    held = sorted(few)[fold]
    done = run / f"fold{fold}.json"
    if done.is_file():
        return json.loads(done.read_text())
    train_names = [n for n in few if n != held]
    settings = AdaptSettings(scale=SCALE, start=START, steps=args.steps, seed=seed, device="cpu")
    start_file, spec = start_model()
    pairs = PairsConfig(folder=args.city100, names=train_names)
    folder = run / f"fold{fold}"
    cfg = strategy_config(
        "finetune", settings, start_file, spec.arch, dict(spec.options), pairs, train_names,
        None, folder, args.data_root,
    )  # fmt: skip
    train(validate_config(cfg), resume="auto", progress=False)
    result = score(str(folder / "model_last.safetensors"), args.city100, [held])
    write(done, result)
    return result


def fold_seconds(folder: Path) -> float:
    """A fold's training time from its log: each window's steps times its seconds per step
    (the same measure for a fold trained in one go or resumed after a kill)."""
    seconds, last = 0.0, 0
    for line in (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("kind") == "train" and row.get("sec_per_step") is not None:
            seconds += (row["step"] - last) * row["sec_per_step"]
            last = row["step"]
    return seconds


def kfold_cell(args: argparse.Namespace, names: list[str], k: int, draw: int, seed: int):
    cell = args.record / f"k{k}" / f"draw{draw}" / f"seed{seed}"
    if (cell / f"{KFOLD}.json").is_file():
        return
    few = draw_names(names, k, draw)
    run = args.out / f"k{k}" / f"draw{draw}" / f"seed{seed}" / KFOLD
    folds: dict[str, float] = {}
    for fold in range(k):
        folds.update(fold_score(args, few, fold, seed, run))
    start = json.loads((args.record / "start.json").read_text())["per_image"]
    choice, gain = choose(folds, {n: start[n] for n in folds})
    final = json.loads((cell / f"{ARM_OF[choice]}.json").read_text())
    record: dict[str, Any] = {
        **{key: final[key] for key in ("k", "draw", "seed", "few_shot", "steps", "per_image")},
        "arm": KFOLD,
        "chosen": ARM_OF[choice],
        "held_out_gain": gain,
        "fold_held_out": folds,
        "commit": code_commit(),
        "chosen_commit": final["commit"],
        # the chosen arm's run on all k pairs plus the k fold trials
        "train_seconds": final["train_seconds"]
        + sum(fold_seconds(run / f"fold{i}") for i in range(k)),
        "threads": torch.get_num_threads(),
    }
    write(cell / f"{KFOLD}.json", record)
    mean = np.mean(list(final["per_image"].values()))
    print(f"k{k} draw{draw} seed{seed} kfold: {ARM_OF[choice]} (gain {gain:+.3f}), {mean:.3f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--city100", required=True, help="the City100_NikonD5500 folder")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--draws", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("runs/city100"))
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [p.name for p in find_pairs(args.city100)]
    for seed in args.seeds:
        for draw in args.draws:
            kfold_cell(args, names, args.k, draw, seed)


if __name__ == "__main__":
    main()
