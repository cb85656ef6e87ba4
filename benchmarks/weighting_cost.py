"""Cost of each weighting strategy relative to plain L1, measured side by side.

Same model (CPU-sized EDSR x4, 8 blocks x 32 features), same batches (16 HR patches of 96 px
from T91, pre-generated so data loading is not timed), one process. Each strategy gets its
own trainer; the timed code is the production ``Trainer.train_step``. Strategies are
interleaved in rounds, so machine load affects all of them alike. A strategy's step time is
the median over rounds of its mean step in the round: each round holds ``steps`` consecutive
steps (4 by default), so a strategy that refreshes every k = 4 steps pays its refresh exactly
once per round and the number is its amortised cost. The ratio divides by ``uniform``'s.
Meta strategies use a meta batch of 1/4 of the training batch (4 patches) from 5 Urban100
meta images (img_091 to img_095).

Memory: every strategy runs 3 steps again in a fresh subprocess; the resident set size is
sampled every millisecond and the peak above the set-up process (model, data, meta images)
is reported: the memory the training step itself needs.

    python benchmarks/weighting_cost.py --data-root ../shared/data

Writes benchmarks/results/weighting_cost.json and the "weighting-cost" section of
docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import update_section

from srmeta.config import validate_config
from srmeta.data.training import TrainingPatches
from srmeta.training.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "weighting_cost.json"
STRATEGIES: dict[str, dict] = {
    "uniform": {"name": "uniform"},
    "loss_power": {"name": "loss_power"},
    "gradient_weighted": {"name": "gradient_weighted"},
    "weightnet k=1": {"name": "weightnet", "options": {"every": 1}},
    "weightnet k=4": {"name": "weightnet", "options": {"every": 4}},
    "weightnet k=1, reward fd": {"name": "weightnet", "options": {"every": 1, "reward": "fd"}},
    "weightnet k=4, reward fd": {"name": "weightnet", "options": {"every": 4, "reward": "fd"}},
    "l2rw (g_M every step)": {"name": "l2rw", "options": {"every": 1}},
    "l2rw image": {"name": "l2rw", "options": {"every": 1, "level": "image"}},
    "mwnet k=1": {"name": "mwnet", "options": {"every": 1}},
    "mwnet image k=1": {"name": "mwnet", "options": {"every": 1, "level": "image"}},
    "weightnet batch+head+consistency k=1": {
        "name": "weightnet",
        "options": {
            "every": 1,
            "normalise": "batch",
            "image_head": True,
            "inputs": ["hr", "lr", "consistency"],
        },
    },
    "weightnet batch+head+consistency k=4": {
        "name": "weightnet",
        "options": {
            "every": 4,
            "normalise": "batch",
            "image_head": True,
            "inputs": ["hr", "lr", "consistency"],
        },
    },
}
META = {"dataset": "Urban100", "names": [f"img_{i:03d}" for i in range(91, 96)], "batch_size": 4}


def make_trainer(label: str, data_root: str, out: Path) -> Trainer:
    weighting = STRATEGIES[label]
    meta = META if weighting["name"] in ("weightnet", "l2rw", "mwnet") else None
    raw = {
        "name": "cost",
        "seed": 0,
        "scale": 4,
        "output_dir": str(out / label.replace(" ", "_").replace("=", "")),
        "data_root": data_root,
        "device": "cpu",
        "model": {"arch": "edsr", "options": {"n_resblocks": 8, "n_feats": 32}},
        "data": {
            "train": {"datasets": ["T91"], "patch_size": 96, "batch_size": 16},
            "meta": meta,
            "val": {"datasets": ["Set5"], "every": 0},
        },
        "train": {"steps": 10_000, "weighting": weighting},
    }
    return Trainer(validate_config(raw), progress=False)


def batches(data_root: str, count: int) -> list[dict[str, torch.Tensor]]:
    from srmeta.data.benchmarks import find_dataset
    from srmeta.degrade import Degradation

    files = find_dataset("T91", data_root).files
    patches = TrainingPatches(files, 4, 96, 16, Degradation.parse(""), True, seed=0)
    return [patches[step] for step in range(count)]


def time_side_by_side(data_root: str, rounds: int, steps: int) -> dict[str, list[float]]:
    """Per strategy, the mean step time of each round (``steps`` consecutive steps)."""
    data = batches(data_root, steps)
    times: dict[str, list[float]] = {label: [] for label in STRATEGIES}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {label: make_trainer(label, data_root, Path(tmp)) for label in STRATEGIES}
        step = 0
        for trainer in trainers.values():  # warm-up: first calls allocate and plan
            trainer.train_step(0, data[0])
        for _ in range(rounds):
            for label, trainer in trainers.items():
                start = time.perf_counter()
                for i in range(steps):
                    step += 1
                    trainer.train_step(step, data[i])
                times[label].append((time.perf_counter() - start) / steps)
    return times


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def step_memory(trainer: Trainer, data: list[dict[str, torch.Tensor]]) -> float:
    """MiB the training steps add to the resident set at their peak (sampled every ms)."""
    before, peak, running = current_rss_mib(), [0.0], [True]

    def sample() -> None:
        while running[0]:
            peak[0] = max(peak[0], current_rss_mib())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for step, batch in enumerate(data):
        trainer.train_step(step, batch)
    running[0] = False
    sampler.join()
    return peak[0] - before


def peak_memory(label: str, data_root: str) -> float:
    """Step memory of one strategy, in a fresh process so no other strategy's pages count."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks');"
        "import weighting_cost as w, tempfile, pathlib;"
        f"data = w.batches({data_root!r}, 3);"
        f"t = w.make_trainer({label!r}, {data_root!r}, pathlib.Path(tempfile.mkdtemp()));"
        "print(w.step_memory(t, data))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=4, help="steps per strategy per round")
    args = parser.parse_args()
    torch.manual_seed(0)
    times = time_side_by_side(args.data_root, args.rounds, args.steps)
    base = statistics.median(times["uniform"])
    rows = {}
    for label, values in times.items():
        median = statistics.median(values)
        rows[label] = {
            "step_s": median,
            "ratio_to_uniform": median / base,
            "steps_timed": len(values) * args.steps,
            "step_memory_mib": peak_memory(label, args.data_root),
        }
    base_mem = rows["uniform"]["step_memory_mib"]
    threads = torch.get_num_threads()
    payload = {
        "machine": f"{platform.processor() or platform.machine()}, {threads} threads",
        "torch": torch.__version__,
        "model": "edsr 8x32 x4",
        "batch": "16 x 96px HR (T91), meta batch 4 (Urban100 img_091-095)",
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "results": rows,
        "memory_note": "peak RSS during 3 steps minus RSS before them, fresh process each",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "## Cost of the weighting strategies",
        "",
        "`benchmarks/weighting_cost.py`: CPU, "
        f"{payload['machine']}, torch {payload['torch']}; {payload['model']}, {payload['batch']};",
        f"{args.rounds} interleaved rounds of {args.steps} steps per strategy; step time = median"
        " over rounds of the round's mean step (amortised over k).",
        "",
        "| strategy | step (s) | × uniform | step memory (MiB) | × uniform |",
        "|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        lines.append(
            f"| {label} | {row['step_s']:.3f} | {row['ratio_to_uniform']:.2f} | "
            f"{row['step_memory_mib']:.0f} | {row['step_memory_mib'] / base_mem:.2f} |"
        )
    update_section("weighting-cost", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
