"""One run of the meta-weighting grid: what it is (:class:`Job`), how it trains and is
scored, and the committed record it leaves (:mod:`meta_experiments` schedules them)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from meta_grid import SETTINGS, Budget, Setting, warm_config
from meta_select import (
    FALLBACK,
    SELECT,
    held_out_scores,
    meta_names,
    run_config,
    select,
    trial_arm,
)

WARM = "warm"


@dataclasses.dataclass(frozen=True)
class Job:
    setting: str
    arm: str  # an arm name, or "warm"
    seed: int
    draw: int = 0  # the meta images and corruption split (meta_grid._base); 0: the original

    def _where(self) -> Path:
        """``<setting>/seed<k>``, or ``<setting>/draw<d>/seed<k>`` for the other draws (the
        original grid's paths stay as they were)."""
        base = Path(self.setting) if self.draw == 0 else Path(self.setting) / f"draw{self.draw}"
        return base / f"seed{self.seed}"

    def folder(self, out: Path) -> Path:
        return out / self._where() / self.arm

    def warm(self) -> Job:
        return Job(self.setting, WARM, self.seed, self.draw)

    def record(self, record: Path) -> Path:
        return record / self._where() / f"{self.arm}.json"


def git_commit(code: Path) -> tuple[str, bool]:
    """``(commit, dirty)`` of the tree at ``code``."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(code), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))


REPO = Path(__file__).resolve().parents[1]


def cell_job(cell: str, arm: str) -> Job:
    """The run of ``arm`` in a ``setting:draw:seed`` cell, as the scripts' ``--cells`` name it."""
    setting, draw, seed = cell.split(":")
    return Job(setting, arm, int(seed), int(draw))


def read_record(job: Job, record: Path) -> dict[str, Any]:
    path = job.record(record)
    if not path.is_file():
        raise SystemExit(f"no record {path}; run {job.arm} of that cell first")
    return json.loads(path.read_text(encoding="utf-8"))


def budget_of(result: dict[str, Any]) -> Budget:
    """The budget a recorded run had (JSON keeps its tuples as lists)."""
    fields = result["budget"]
    return Budget(
        **{**fields, "pool": tuple(fields["pool"]), "test_sets": tuple(fields["test_sets"])}
    )


def add_grid_paths(parser: argparse.ArgumentParser, record: str = "meta_draws") -> None:
    """``--out``, ``--record`` and ``--data-root`` of a script that reads the grid's runs."""
    parser.add_argument("--out", default=str(REPO / "runs" / "meta_draws"))
    parser.add_argument("--record", default=str(REPO / "benchmarks" / "results" / record))
    parser.add_argument("--data-root", default=os.environ.get("SRMETA_DATA", "../shared/data"))


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _logged(metrics: Path, key: str) -> list[float]:
    values = []
    if metrics.is_file():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if key in row and row[key] is not None:
                values.append(float(row[key]))
    return values


def median_step_time(metrics: Path) -> float | None:
    """Median over logging windows: robust to a window where the machine was busy."""
    values = _logged(metrics, "sec_per_step")[1:]  # the first window holds the start-up
    return statistics.median(values) if values else None


def logged_mean(metrics: Path, key: str) -> float | None:
    """Mean of ``key`` over the logging windows of ``metrics.jsonl`` that have it."""
    values = _logged(metrics, key)
    return sum(values) / len(values) if values else None


def run_job(
    job: Job, out: Path, budget: Budget, data_root: str, commit: str, record: Path
) -> dict[str, Any]:
    """Train (resuming if interrupted) and score one run; writes and returns its result.

    A trial run (``<arm>@<split>``, :mod:`meta_select`, or a fold ``<arm>#<i>``,
    :mod:`meta_kfold`) is scored on its held-out meta images instead of the test sets;
    the selection arm trains nothing itself beyond the confirmation trials it asks for."""
    import srmeta
    from srmeta.config import validate_config
    from srmeta.training.loop import train

    if job.arm == SELECT:
        return _run_select(job, out, budget, data_root, commit, record)
    folder = job.folder(out)
    setting = SETTINGS[job.setting]
    held: list[str] | None = None
    if job.arm == WARM:
        cfg = warm_config(setting, budget, job.seed, str(folder), job.draw)
    else:
        init = str(job.warm().folder(out) / "model_last.safetensors")
        cfg, held = run_config(
            setting, job.arm, budget, job.seed, str(folder), init, job.draw, data_root
        )
    cfg["data_root"] = data_root
    start = time.perf_counter()
    train(validate_config(cfg), resume="auto", progress=False)
    result: dict[str, Any] = {
        "setting": job.setting,
        "arm": job.arm,
        "seed": job.seed,
        "draw": job.draw,
        "commit": commit,
        "srmeta": str(Path(srmeta.__file__).resolve().parent),
        "budget": dataclasses.asdict(budget),
        "config": cfg,
    }
    metrics = folder / "metrics.jsonl"
    result["sec_per_step"] = median_step_time(metrics)
    result["corrupt_weight_share"] = logged_mean(metrics, "corrupt_weight_share")
    if job.arm != WARM:
        model = folder / "model_last.safetensors"
        result.update(scores_of(model, setting, budget, data_root, out / "lr_cache", held))
    result["wall_s"] = time.perf_counter() - start
    write_json(folder / "result.json", result)
    if job.arm != WARM:
        job.record(record).parent.mkdir(parents=True, exist_ok=True)
        write_json(job.record(record), result)
    return result


def scores_of(
    model: Path,
    setting: Setting,
    budget: Budget,
    data_root: str,
    lr_cache: Path,
    held_out: list[str] | None = None,
) -> dict[str, Any]:
    """A finished run's scores for its record: per test image PSNR and SSIM (``scores``,
    ``ssim``), or for a selection trial, PSNR on its ``held_out`` meta images only."""
    from srmeta.data.lr_cache import LRCache
    from srmeta.evaluation import evaluate

    if held_out is not None:
        return {"held_out": held_out_scores(model, held_out, setting, budget, data_root)}
    report = evaluate(
        str(model),
        list(budget.test_sets),
        [4],
        degradation=setting.target_degradation,
        data_root=data_root,
        hr_crop=budget.hr_crop,
        progress=False,
        cache=LRCache(lr_cache),
    )
    return {
        "scores": {f"{r.dataset}/{r.image}": r.psnr for r in report.images},
        "ssim": {f"{r.dataset}/{r.image}": r.ssim for r in report.images},
    }


def _run_select(
    job: Job, out: Path, budget: Budget, data_root: str, commit: str, record: Path
) -> dict[str, Any]:
    """Choose from the trials' held-out scores; the test scores are the chosen arm's."""
    setting = SETTINGS[job.setting]
    fallback = Job(job.setting, FALLBACK, job.seed, job.draw).folder(out)

    def fallback_scores(held: list[str]) -> dict[str, float]:
        return held_out_scores(
            fallback / "model_last.safetensors", held, setting, budget, data_root
        )

    def trial(arm: str, split: int) -> dict[str, Any]:
        run = Job(job.setting, trial_arm(arm, split), job.seed, job.draw)
        path = run.record(record)
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
        return run_job(run, out, budget, data_root, commit, record)

    names = meta_names(setting, budget, job.seed, job.draw, data_root)
    start = time.perf_counter()
    chosen = select(names, job.seed, fallback_scores, trial)
    final = json.loads(
        Job(job.setting, chosen["choice"], job.seed, job.draw).record(record).read_text()
    )
    trials = job.record(record).parent.glob("*@*.json")
    result = {
        **{k: final[k] for k in ("setting", "seed", "draw", "budget", "scores", "ssim")},
        "arm": SELECT,
        "commit": commit,
        "meta_images": names,
        **chosen,
        "sec_per_step": None,  # the chosen arm's steps plus trials: see the costs below
        "corrupt_weight_share": final.get("corrupt_weight_share"),
        "chosen_wall_s": final["wall_s"],
        "trials_wall_s": sum(json.loads(p.read_text())["wall_s"] for p in trials),
        "wall_s": time.perf_counter() - start,
    }
    job.record(record).parent.mkdir(parents=True, exist_ok=True)
    write_json(job.record(record), result)
    return result
