"""Train ESPCN and a CPU-sized EDSR x4 on T91 for a fixed budget, then score them.

Each model trains from its example config for a fixed number of steps (chosen so a run takes
20 minutes on a 2-core CPU; the steps, seed and measured wall time are recorded), is
evaluated with the published protocol on Set5/Set14/BSD100/Urban100 x4, and its results go
to benchmarks/results/train_budget.json and the table in docs/results.md.

The script resumes: a killed training continues from its last checkpoint (``--resume
auto``), and models already evaluated are not evaluated again.

    python benchmarks/train_budget.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import update_section

from srmeta.checkpoints import list_states
from srmeta.config import load_config
from srmeta.evaluation import evaluate
from srmeta.training.loop import train

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "train_budget.json"
DATASETS = ["Set5", "Set14", "BSD100", "Urban100"]
# (config, steps): budgets chosen to take about 20 minutes each on the 2-core CPU.
RUNS = [("espcn_x4", 50000), ("edsr_cpu_x4", 6000)]


def _load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def _save(results: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def _step_time(run_dir: Path) -> float:
    """Median seconds per step over the run's logged intervals (validation excluded)."""
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    times = sorted(r["sec_per_step"] for r in rows if r["kind"] == "train")
    return times[len(times) // 2]


def run_one(name: str, steps: int, data_root: str, results: dict) -> None:
    run_dir = REPO / "runs" / "bench" / name
    overrides = [
        f"train.steps={steps}",
        f"output_dir={run_dir}",
        f"data_root={data_root}",
        "data.val.every=0",
    ]
    cfg = load_config(REPO / "configs" / f"{name}.yaml", overrides)
    entry = results.get(name, {})
    if entry.get("steps") != steps or "scores" not in entry:
        done = list_states(run_dir)
        start = time.time()
        train(cfg, resume="auto" if done else None, progress=True)
        entry = {
            "config": f"configs/{name}.yaml",
            "overrides": overrides[:1],
            "steps": steps,
            "seed": cfg.seed,
            "batch_size": cfg.data.train.batch_size,
            "patch_size": cfg.data.train.patch_size,
            "wall_seconds_this_session": round(time.time() - start, 1),
            "sec_per_step": _step_time(run_dir),
        }
        report = evaluate(str(run_dir), DATASETS, [4], data_root=data_root, progress=True)
        entry["scores"] = {s.dataset: {"psnr": s.psnr, "ssim": s.ssim} for s in report.summary()}
        results[name] = entry
        _save(results)


def _cells(scores: dict) -> str:
    return " | ".join(f"{scores[d]['psnr']:.2f} / {scores[d]['ssim']:.4f}" for d in DATASETS)


def markdown(results: dict) -> str:
    lines = [
        "| model | steps (seed) | s/step | train wall (min) | " + " | ".join(DATASETS) + " |",
        "|---|---|---|---|" + "---|" * len(DATASETS),
    ]
    if "bicubic" in results:
        lines.append(f"| bicubic | - | - | - | {_cells(results['bicubic']['scores'])} |")
    for name, _ in RUNS:
        if name in results:
            e = results[name]
            wall = e["wall_seconds_this_session"] / 60
            head = f"| {name} | {e['steps']} ({e['seed']}) | {e['sec_per_step']:.3f} | {wall:.1f} |"
            lines.append(f"{head} {_cells(e['scores'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    results = _load()
    if "bicubic" not in results:
        report = evaluate("bicubic", DATASETS, [4], data_root=args.data_root, progress=True)
        results["bicubic"] = {
            "scores": {s.dataset: {"psnr": s.psnr, "ssim": s.ssim} for s in report.summary()}
        }
        _save(results)
    for name, steps in RUNS:
        run_one(name, steps, args.data_root, results)
    section = "\n".join(
        [
            "## Training on T91 for a fixed budget (x4)",
            "",
            "`benchmarks/train_budget.py`: each model trains from its config in `configs/`"
            " (uniform",
            "L1, Adam, cosine schedule; seed and steps below) on T91 with MATLAB-bicubic LR, on",
            "this 2-core CPU. Scores: `srmeta eval`, protocol `rgb`, PSNR (dB) / SSIM on Y.",
            "s/step is the median logged training step time.",
            "",
            markdown(results),
        ]
    )
    update_section("train-budget", section)
    print(section)


if __name__ == "__main__":
    main()
