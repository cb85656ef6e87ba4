"""A diagnostic of the selection arm, never used to choose: the split-1 trial models scored
on the test sets, beside the same arms trained on all the meta images.

The selection judges each strategy by a trial trained on 3 of the 5 meta images and scored
on the other 2. When it picks against the test sets' verdict, this tells why: either the
trials themselves rank differently on the test sets (training on 3 images is another
experiment than on 5), or they rank the same and the 2 held-out images disagree with the
test sets (too few to choose by).

    python benchmarks/meta_trials_on_test.py --cells A1:1:0,B:1:0
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from meta_grid import SETTINGS
from meta_job import REPO, add_grid_paths, budget_of, cell_job, read_record, scores_of
from meta_select import CANDIDATES, trial_arm


def diagnose(cell: str, out: Path, record: Path, data_root: str) -> dict[str, dict[str, float]]:
    """``arm -> {trial, full, held_out}``: mean PSNR gains over ``uniform`` on the test
    sets of the trial and of the full arm, and the trial's held-out gain over uniform."""

    def recorded(arm: str) -> dict:
        return read_record(cell_job(cell, arm), record)

    uniform = recorded("uniform")["scores"]
    chosen = recorded("select")
    setting, budget = SETTINGS[chosen["setting"]], budget_of(chosen)
    rows = {}
    for arm in CANDIDATES:
        model = cell_job(cell, trial_arm(arm, 1)).folder(out) / "model_last.safetensors"
        scores = scores_of(model, setting, budget, data_root, out / "lr_cache")["scores"]
        full = recorded(arm)["scores"]
        held = chosen["candidates"][arm]
        base = chosen["fallback_held_out"]
        rows[arm] = {
            "trial_test_vs_uniform": sum(scores[k] - uniform[k] for k in uniform) / len(uniform),
            "full_test_vs_uniform": sum(full[k] - uniform[k] for k in uniform) / len(uniform),
            "trial_held_out_vs_uniform": sum(held[k] - base[k] for k in base) / len(base),
        }
        print(cell, arm, {k: round(v, 3) for k, v in rows[arm].items()}, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", required=True, help="setting:draw:seed, comma-separated")
    add_grid_paths(parser)
    parser.add_argument(
        "--results", default=str(REPO / "benchmarks" / "results" / "meta_draws_trials.json")
    )
    args = parser.parse_args()
    path = Path(args.results)
    found = json.loads(path.read_text()) if path.is_file() else {}
    for cell in args.cells.split(","):
        found[cell] = diagnose(cell, Path(args.out), Path(args.record), args.data_root)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
