"""A second candidate default for issue 24: choose fine-tuning or ``weightnet_best`` by
leaving each meta image out once (the arm ``kfold``).

The selection arm (:mod:`meta_select`, adapt's procedure) judged fine-tuning on two
held-out meta images, and on draw 1 those two images ranked the 3-image fine-tuning trial
last in every setting while the test sets ranked it first in A1, A2 and B
(docs/experiments.md). Two images are too few: their content, not the pool's corruption,
decided. This arm holds out every meta image once instead, so the verdict rests on all five:

1. fold ``i`` trains ``finetune_meta`` from the warm start on the other four meta images
   (trial run ``finetune_meta#i``; image ``i`` leaves the pool as well) and scores image ``i``;
2. the gain is the mean over the five folds of that score minus ``uniform``'s on the same
   image (``uniform`` never saw any meta image, so its scores cost no run);
3. the choice is ``finetune_meta`` if the gain is above 0, else ``weightnet_best``, whose
   worst loss against ``uniform`` in the grid is 0.016 dB; the test scores are the chosen
   arm's run on all five images.

The rule was fixed before any fold ran; it is not tuned on the test sets. The fold trials
cost five fine-tuning runs per cell (fine-tuning steps are about 0.75 of a pool step).

    python benchmarks/meta_experiments.py run --code ../wt-kfold --settings A1,A2,A3,A4,B \\
        --draws 1 --seeds 0 --arms finetune_meta#0,...,finetune_meta#4 \\
        --out runs/meta_draws --record benchmarks/results/meta_kfold
    python benchmarks/meta_kfold.py choose      # every cell whose folds are all recorded

``choose`` writes one ``kfold.json`` per cell beside its fold records, with the test
scores of the chosen arm (read from the grid's records, ``--base-record``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from meta_grid import SETTINGS
from meta_job import REPO, add_grid_paths, budget_of, cell_job, read_record, write_json
from meta_select import TUNED, fold_arm, held_out_scores, meta_names

KFOLD = "kfold"
SAFE = "weightnet_best"
BASE = "uniform"


def choose(fold_scores: dict[str, float], base_scores: dict[str, float]) -> tuple[str, float]:
    """``(choice, gain)``: fine-tuning if its held-out mean beats ``uniform``'s."""
    gain = sum(fold_scores[n] - base_scores[n] for n in base_scores) / len(base_scores)
    return (TUNED if gain > 0 else SAFE), gain


def kfold_cell(
    cell: str, out: Path, record: Path, base_record: Path, data_root: str
) -> dict[str, Any]:
    """Choose for one ``setting:draw:seed`` cell from its fold records; write its record."""
    base = read_record(cell_job(cell, BASE), base_record)
    setting, budget = SETTINGS[base["setting"]], budget_of(base)
    names = meta_names(setting, budget, base["seed"], base["draw"], data_root)
    folds = [read_record(cell_job(cell, fold_arm(i)), record) for i in range(len(names))]
    fold_scores = {k: v for f in folds for k, v in f["held_out"].items()}
    assert sorted(fold_scores) == sorted(names), (fold_scores, names)
    base_model = cell_job(cell, BASE).folder(out) / "model_last.safetensors"
    base_scores = held_out_scores(base_model, names, setting, budget, data_root)
    choice, gain = choose(fold_scores, base_scores)
    final = read_record(cell_job(cell, choice), base_record)
    result = {
        **{k: final[k] for k in ("setting", "seed", "draw", "budget", "scores", "ssim")},
        "arm": KFOLD,
        "choice": choice,
        "held_out_gain": gain,
        "fold_held_out": fold_scores,
        "uniform_held_out": base_scores,
        "meta_images": names,
        "fold_commits": sorted({f["commit"] for f in folds}),
        "commit": final["commit"],
        "trials_wall_s": sum(f["wall_s"] for f in folds),
    }
    write_json(cell_job(cell, KFOLD).record(record), result)
    print(f"{cell}: {choice} (held-out gain of fine-tuning {gain:+.3f} dB)", flush=True)
    return result


def ready_cells(record: Path) -> list[str]:
    """The cells whose folds are all recorded and that have no choice yet."""
    cells = []
    for first in sorted(record.rglob(f"{fold_arm(0)}.json")):
        fold = json.loads(first.read_text(encoding="utf-8"))
        count = int(fold["budget"]["meta_count"])
        done = all((first.parent / f"{fold_arm(i)}.json").is_file() for i in range(count))
        if done and not (first.parent / f"{KFOLD}.json").is_file():
            cells.append(f"{fold['setting']}:{fold['draw']}:{fold['seed']}")
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("choose")
    p.add_argument(
        "--cells",
        help="setting:draw:seed, comma-separated (default: every cell whose folds are"
        " all recorded and that has no choice yet)",
    )
    add_grid_paths(p, record="meta_kfold")
    p.add_argument("--base-record", default=str(REPO / "benchmarks" / "results" / "meta_draws"))
    args = parser.parse_args()
    cells = args.cells.split(",") if args.cells else ready_cells(Path(args.record))
    for cell in cells:
        kfold_cell(cell, Path(args.out), Path(args.record), Path(args.base_record), args.data_root)


if __name__ == "__main__":
    main()
