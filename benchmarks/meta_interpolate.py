"""A candidate default that costs no training: the weights of two finished arms of a cell,
interpolated, scored on the test sets.

Fine-tuning on the five meta pairs wins where the pool is wrong for the target (A1, A2, B)
and loses where it is not (A3, A4); ``weightnet_best`` and ``uniform`` keep the pool's
breadth. Every arm of a cell starts from the same warm start, so their weights lie in one
basin, and a point between them (weight-space ensembling, as WiSE-FT does for fine-tuned
classifiers) may keep most of the fine-tuning gain while losing less of the pool. Each
model is ``(1 - alpha) * base + alpha * finetune_meta``.

This reads the grid's finished models and changes none of them; the scores of each
(cell, base, alpha) go to ``benchmarks/results/meta_interp.json`` with the commit of the
runs they come from.

    python benchmarks/meta_interpolate.py --cells A1:1:0,B:1:0 --alphas 0.25,0.5,0.75
    python benchmarks/meta_interpolate.py --report   # the Markdown table of what is scored
"""

from __future__ import annotations

import argparse
import json
from functools import cache
from pathlib import Path
from typing import Any

from meta_grid import SETTINGS
from meta_job import REPO, add_grid_paths, budget_of, cell_job, read_record, scores_of, write_json
from meta_select import TUNED
from meta_stats import bootstrap_ci, paired_deltas


def interpolate(base: Path, tuned: Path, alpha: float, target: Path) -> None:
    """Write ``(1 - alpha) * base + alpha * tuned`` with ``base``'s metadata (the descriptor
    that ``evaluate`` reads to build the model)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(base), "pt") as fa, safe_open(str(tuned), "pt") as fb:
        metadata, names = fa.metadata(), fa.keys()
        if set(names) != set(fb.keys()):
            raise SystemExit(f"{base} and {tuned} hold different tensors")
        tensors = {
            k: ((1 - alpha) * fa.get_tensor(k) + alpha * fb.get_tensor(k)).contiguous()
            for k in names
        }
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target), metadata=metadata)


def score_cell(
    cell: str, bases: list[str], alphas: list[float], out: Path, record: Path, data_root: str
) -> dict[str, dict[str, dict[str, float]]]:
    """``base -> alpha -> per-image PSNR`` for one ``setting:draw:seed`` cell."""
    recorded = read_record(cell_job(cell, "uniform"), record)
    setting, budget = SETTINGS[recorded["setting"]], budget_of(recorded)
    tuned = cell_job(cell, TUNED).folder(out) / "model_last.safetensors"
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for base in bases:
        base_model = cell_job(cell, base).folder(out) / "model_last.safetensors"
        rows[base] = {}
        for alpha in alphas:
            target = out / "interp" / cell.replace(":", "_") / f"{base}_{alpha:g}.safetensors"
            interpolate(base_model, tuned, alpha, target)
            scores = scores_of(target, setting, budget, data_root, out / "lr_cache")["scores"]
            rows[base][f"{alpha:g}"] = scores
            target.unlink()
            print(cell, base, alpha, round(sum(scores.values()) / len(scores), 3), flush=True)
    return {"commit": recorded["commit"], **rows}  # type: ignore[dict-item]


def markdown(found: dict[str, Any], record: Path) -> str:
    """Per setting, base and alpha: the gain over ``uniform`` and over ``finetune_meta``,
    paired per cell and test image (two-level interval over the cells that have it)."""

    @cache  # each row compares with the same two records of every cell
    def arm_scores(cell: str, arm: str) -> dict[str, float]:
        return read_record(cell_job(cell, arm), record)["scores"]

    def versus(mixed: dict[str, Any], arm: str) -> str:
        deltas = paired_deltas(mixed, {c: arm_scores(c, arm) for c in mixed})
        lo, hi = bootstrap_ci(deltas)
        return f"{deltas.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]"

    lines = [
        "| setting | model | cells | Δ vs uniform | Δ vs fine-tuning |",
        "|---|---|---|---|---|",
    ]
    settings = sorted({c.split(":")[0] for c in found}, key=list(SETTINGS).index)
    for setting in settings:
        cells = sorted(c for c in found if c.split(":")[0] == setting)
        bases = sorted({b for c in cells for b in found[c] if b != "commit"})
        for base in bases:
            alphas = sorted({a for c in cells for a in found[c][base]}, key=float)
            for alpha in alphas:
                mixed = {c: found[c][base][alpha] for c in cells if alpha in found[c][base]}
                lines.append(
                    f"| {setting} | {1 - float(alpha):g} {base} + {alpha} {TUNED} |"
                    f" {len(mixed)} | {versus(mixed, 'uniform')} | {versus(mixed, TUNED)} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="", help="setting:draw:seed, comma-separated")
    parser.add_argument("--report", action="store_true", help="print the table, score nothing")
    parser.add_argument("--bases", default="weightnet_best,uniform")
    parser.add_argument("--alphas", default="0.25,0.5,0.75")
    add_grid_paths(parser)
    parser.add_argument(
        "--results", default=str(REPO / "benchmarks" / "results" / "meta_interp.json")
    )
    args = parser.parse_args()
    path = Path(args.results)
    found = json.loads(path.read_text()) if path.is_file() else {}
    if args.report:
        print(markdown(found, Path(args.record)))
        return
    alphas = [float(a) for a in args.alphas.split(",")]
    for cell in filter(None, args.cells.split(",")):
        found[cell] = score_cell(
            cell, args.bases.split(","), alphas, Path(args.out), Path(args.record), args.data_root
        )
        write_json(path, found)


if __name__ == "__main__":
    main()
