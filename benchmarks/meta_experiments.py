"""Meta-weighting experiments: settings x arms x seeds, as resumable background runs.

    # a pinned copy of the code, so later edits never mix into a running comparison
    git worktree add ../srmeta-grid <commit>
    python benchmarks/meta_experiments.py run --code ../srmeta-grid --data-root ../shared/data \\
        --settings A1,A2,A3,A4,B --seeds 0,1,2 --jobs 2
    python benchmarks/meta_experiments.py report       # JSON + docs/experiments.md tables
    python benchmarks/meta_experiments.py run --smoke  # every setting and arm, a few steps

``run`` starts one process per run (``--jobs`` at a time, one thread each): first the
warm start of each (setting, seed), then its arms. Each run is an ``srmeta train`` run
folder under ``--out`` (default ``runs/meta_experiments``), continued with ``--resume auto``
when interrupted, then scored per image on the test sets. Its result (per-image PSNR, step
time, weight on corrupted samples, the config and the commit of the code that ran) is
written atomically at the end to the run folder and to the committed record
(``--record``, default ``benchmarks/results/meta_runs/<setting>/seed<k>/<arm>.json``);
recorded runs are skipped, so ``run`` can be repeated, in later sessions too, until the grid
is done. The batch's commit and budget are fixed in ``<record>/manifest.json``: a later
``run`` from other code is refused. Runs are deterministic on the CPU
(``train.deterministic``), so a warm start recomputed in a later session is bitwise the one
the earlier arms started from.

``report`` pairs every arm with ``uniform`` of the same seed per test image
(:mod:`meta_stats`) and writes ``benchmarks/results/meta_experiments.json`` and the tables
of ``docs/experiments.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from meta_grid import ARMS, SETTINGS, Budget  # noqa: E402
from meta_job import WARM, Job, git_commit, run_job, write_json  # noqa: E402
from meta_select import CANDIDATES, FALLBACK, SELECT, trial_arm  # noqa: E402

REPO = HERE.parent
RESULTS = REPO / "benchmarks" / "results" / "meta_experiments.json"
RECORD = REPO / "benchmarks" / "results" / "meta_runs"
DOC = REPO / "docs" / "experiments.md"


def _budget(args: argparse.Namespace) -> Budget:
    pool = tuple(args.pool.split(",")) if args.pool else None
    if args.smoke:
        base = Budget.smoke(pool) if pool else Budget.smoke()
    else:
        base = Budget(pool=pool) if pool else Budget()
    changes = {k: v for k, v in (("warm_steps", args.warm_steps), ("steps", args.steps)) if v}
    return dataclasses.replace(base, **changes)


# -------------------------------------------------------------------------- scheduling


def _jobs(
    settings: list[str], arms: list[str], seeds: list[int], draws: tuple[int, ...] = (0,)
) -> list[Job]:
    """Every run of the grid, each cell's warm start first; ``select`` brings its split-1
    trials and comes last in its cell, after the arms it chooses among."""
    cell_arms = [a for a in arms if a != SELECT]
    if SELECT in arms:
        cell_arms += [a for a in (FALLBACK, *CANDIDATES) if a not in cell_arms]
        cell_arms += [trial_arm(a, 1) for a in CANDIDATES] + [SELECT]
    jobs = []
    for draw in draws:
        for setting in settings:
            for seed in seeds:
                jobs.append(Job(setting, WARM, seed, draw))
                jobs.extend(Job(setting, arm, seed, draw) for arm in cell_arms)
    return jobs


def _needs(job: Job) -> list[Job]:
    """The runs that must be finished before ``job`` starts."""
    if job.arm == WARM:
        return []
    if job.arm != SELECT:
        return [job.warm()]
    arms = [FALLBACK, *CANDIDATES, *(trial_arm(a, 1) for a in CANDIDATES)]
    return [Job(job.setting, a, job.seed, job.draw) for a in arms]


def _check_manifest(record: Path, commit: str, budget: Budget) -> None:
    manifest = record / "manifest.json"
    want = json.loads(json.dumps({"commit": commit, "budget": dataclasses.asdict(budget)}))
    if manifest.is_file():
        have = json.loads(manifest.read_text(encoding="utf-8"))
        if have != want:
            raise SystemExit(
                f"{record} holds runs of commit {have['commit'][:10]} with budget"
                f" {have['budget']}; this is {commit[:10]} with {want['budget']}:"
                " run from a worktree at that commit, or use another --record"
            )
    record.mkdir(parents=True, exist_ok=True)
    write_json(manifest, want)


def _done(job: Job, out: Path, record: Path, arms: list[str]) -> bool:
    if job.arm != WARM:
        return job.record(record).is_file()
    finished = (job.folder(out) / "result.json").is_file()
    return finished or all(
        Job(job.setting, arm, job.seed, job.draw).record(record).is_file() for arm in arms
    )


def _spawn(job: Job, args: argparse.Namespace, code: Path, out: Path) -> subprocess.Popen:
    folder = job.folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(code / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        str(code / "benchmarks" / "meta_experiments.py"),
        "one",
        "--setting",
        job.setting,
        "--arm",
        job.arm,
        "--seed",
        str(job.seed),
        "--draw",
        str(job.draw),
        "--out",
        str(out),
        "--data-root",
        args.data_root,
    ]
    cmd += ["--smoke"] if args.smoke else []
    cmd += ["--warm-steps", str(args.warm_steps)] if args.warm_steps else []
    cmd += ["--steps", str(args.steps)] if args.steps else []
    cmd += ["--pool", args.pool] if args.pool else []
    cmd += ["--extra-arms", str(Path(args.extra_arms).resolve())] if args.extra_arms else []
    cmd += ["--record", str(Path(args.record).resolve())]
    log = (folder / "log.txt").open("a", encoding="utf-8")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(code))


def cmd_run(args: argparse.Namespace) -> None:
    code = Path(args.code).resolve()
    out = Path(args.out).resolve()
    commit, dirty = git_commit(code)
    if dirty and not (args.smoke or args.allow_dirty):
        raise SystemExit(f"{code} has uncommitted changes: pin a clean worktree (see --help)")
    budget = _budget(args)
    record = Path(args.record).resolve()
    _check_manifest(record, commit, budget)
    seeds = [int(s) for s in args.seeds.split(",")]
    arms = args.arms.split(",")
    draws = tuple(int(d) for d in args.draws.split(","))
    jobs = _jobs(args.settings.split(","), arms, seeds, draws)
    todo = [j for j in jobs if not _done(j, out, record, arms)]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs done; commit {commit[:10]}", flush=True)
    if args.jobs == 0:  # in-process (smoke tests)
        for job in todo:
            run_job(job, out, budget, args.data_root, commit, record)
        return
    running: dict[Job, subprocess.Popen] = {}
    failed: set[Job] = set()
    while todo or running:
        for job, proc in list(running.items()):
            if proc.poll() is not None:
                del running[job]
                ok = proc.returncode == 0 and _done(job, out, record, arms)
                print(f"{'done' if ok else 'FAILED'}: {job}", flush=True)
                if not ok:
                    failed.add(job)
        blocked = {j for j in todo if any(n in failed for n in _needs(j))}
        todo = [j for j in todo if j not in blocked]
        failed |= blocked
        ready = [j for j in todo if all(_done(n, out, record, arms) for n in _needs(j))]
        while ready and len(running) < args.jobs:
            job = ready.pop(0)
            todo.remove(job)
            running[job] = _spawn(job, args, code, out)
            print(f"start: {job}", flush=True)
        time.sleep(2)
    if failed:
        raise SystemExit(f"{len(failed)} run(s) failed; see their log.txt")


def cmd_one(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    commit, _ = git_commit(REPO)
    run_job(
        Job(args.setting, args.arm, args.seed, args.draw),
        Path(args.out).resolve(),
        _budget(args),
        args.data_root,
        commit,
        Path(args.record).resolve(),
    )


def cmd_report(args: argparse.Namespace) -> None:
    from meta_report import write_report

    write_report(Path(args.record).resolve(), RESULTS, DOC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "one", "report"):
        p = sub.add_parser(name)
        p.add_argument("--out", default=str(REPO / "runs" / "meta_experiments"))
        p.add_argument("--record", default=str(RECORD), help="where finished runs are recorded")
        if name == "report":
            continue
        p.add_argument("--data-root", default=os.environ.get("SRMETA_DATA", "../shared/data"))
        p.add_argument("--smoke", action="store_true", help="tiny model, a few steps")
        p.add_argument("--warm-steps", type=int, default=None)
        p.add_argument("--steps", type=int, default=None)
        p.add_argument("--pool", default=None, help="training datasets or folders, comma-separated")
        p.add_argument(
            "--extra-arms",
            default=None,
            help="JSON file {name: arm spec} of more arms (variants under study)",
        )
    run = sub.choices["run"]
    run.add_argument("--settings", default=",".join(SETTINGS))
    run.add_argument("--arms", default=",".join(ARMS))
    run.add_argument("--seeds", default="0,1,2")
    run.add_argument("--draws", default="0", help="meta draws (0: the original grid's)")
    run.add_argument("--jobs", type=int, default=2, help="parallel runs; 0 = in this process")
    run.add_argument("--code", default=str(REPO), help="the (pinned) source tree to run")
    run.add_argument("--allow-dirty", action="store_true")
    one = sub.choices["one"]
    one.add_argument("--setting", required=True, choices=sorted(SETTINGS))
    one.add_argument("--arm", required=True)
    one.add_argument("--seed", type=int, required=True)
    one.add_argument("--draw", type=int, default=0)
    args = parser.parse_args(argv)
    if getattr(args, "extra_arms", None):
        ARMS.update(json.loads(Path(args.extra_arms).read_text(encoding="utf-8")))
    {"run": cmd_run, "one": cmd_one, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    main()
