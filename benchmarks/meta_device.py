"""One seed of the meta grid trained on a lent GPU, then scored on the CPU machine.

The GPU machine has no git checkout of the grid's worktree and a 64 MiB transfer limit, so the
pinned code travels as an archive and the pool as pixel-identical files (lossless WebP, the
BSDS400 JPEGs as they are):

    git -C ../wt-grid archive <commit> src/srmeta benchmarks/meta_grid.py \
        benchmarks/meta_job.py benchmarks/meta_select.py | tar -x -C gpu/code
    # then drop src/srmeta/bundled
    # on the GPU machine, 14 runs at a time, one thread each:
    python benchmarks/meta_device.py all --seed 2 --out /tmp/grid --data-root gpu/data \
        --jobs 14 --deadline 555 --tar $OUT                  # one tar per setting
    # here, with the pinned code: per-image PSNR on the test sets, the committed records
    python benchmarks/meta_device.py score --seed 2 --out runs/grid_gpu \
        --data-root ../shared/data --commit <commit>

``--draw D`` trains another meta draw (other meta images and corruption split, see
``meta_grid._base``) under ``<setting>/draw<D>/``; ``--arms`` limits the arms, e.g. to
``uniform,finetune_meta,weightnet_best,weightnet_mixed,oracle`` for the default search.
Trial runs of the selection arm (``finetune_meta@1``..., :mod:`meta_select`) and fold runs
of the k-fold arm (``finetune_meta#0``..., :mod:`meta_kfold`) train here too and are scored
on their held-out meta images; the choices then run on the CPU: ``meta_experiments.py run
... --arms ...,select`` with the same ``--out`` and ``--record`` finds the device's runs
recorded (and trains any confirmation trial it asks for), ``meta_kfold.py choose`` reads
the folds.

The pinned code runs unchanged; only the config's device and ``train.deterministic`` (off on
CUDA, where some kernels have no deterministic form) are overridden, so every arm of the seed,
warm start included, runs on the same machine (``GRID_DEVICE=cpu`` trains one here instead;
the record says where each run trained). GPU step times come from 14 runs sharing one GPU,
so they are kept as ``gpu_sec_per_step`` and left out of the step-time ratios, which come
from the CPU seeds.
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

CODE = Path(os.environ.get("GRID_CODE", "gpu/code")).resolve()
sys.path[:0] = [str(CODE / "src"), str(CODE / "benchmarks")]

from meta_grid import ARMS  # noqa: E402
from meta_job import WARM, Job  # noqa: E402  (the pinned copy)
from meta_select import base_arm, run_config  # noqa: E402

SETTING_ORDER = ["A1", "B", "A2", "A3", "A4"]
# the meta arms first: they are the slow ones, and the GPU's time is short
ARM_ORDER = sorted(ARMS, key=lambda arm: ARMS[arm]["weighting"]["name"] == "uniform")


def one(args):
    import meta_grid
    import torch

    device = os.environ.get("GRID_DEVICE", "cuda")
    orig = meta_grid._base

    def base(*a, **k):
        cfg = orig(*a, **k)
        cfg["device"] = device
        cfg["train"]["deterministic"] = device == "cpu"
        return cfg

    meta_grid._base = base
    from srmeta.config import validate_config
    from srmeta.training.loop import train

    torch.set_num_threads(1)
    budget = meta_grid.Budget.smoke() if args.smoke else meta_grid.Budget()
    setting = meta_grid.SETTINGS[args.setting]
    out = Path(args.out).resolve()
    job = Job(args.setting, args.arm, args.seed, args.draw)
    folder = job.folder(out)
    data_root = str(Path(args.data_root).resolve())
    if args.arm == WARM:
        cfg = meta_grid.warm_config(setting, budget, args.seed, str(folder), args.draw)
    else:
        init = job.warm().folder(out) / "model_last.safetensors"
        cfg, _ = run_config(
            setting, args.arm, budget, args.seed, str(folder), str(init), args.draw, data_root
        )
    cfg["data_root"] = data_root
    start = time.perf_counter()
    train(validate_config(cfg), resume="auto", progress=False)
    info = {
        "wall_s": time.perf_counter() - start,
        "torch": torch.__version__,
        "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "config": cfg,
    }
    (folder / "device_done.json").write_text(json.dumps(info, indent=1))


def score(args):
    """Score every trained run of the seed that has no record yet (pinned code, CPU)."""
    import dataclasses

    import meta_job as mx
    import torch
    from meta_grid import SETTINGS, Budget

    import srmeta

    torch.set_num_threads(1)
    budget = Budget.smoke() if args.smoke else Budget()
    out, record = Path(args.out).resolve(), Path(args.record).resolve()
    for setting in [s for s in SETTING_ORDER if s in args.settings.split(",")]:
        for arm in _arms(args):
            job = Job(setting, arm, args.seed, args.draw)
            folder, target = job.folder(out), job.record(record)
            info_path = folder / "device_done.json"
            if target.is_file() or not info_path.is_file():
                print(f"skip {setting} {arm}: {'recorded' if target.is_file() else 'not trained'}")
                continue
            start = time.perf_counter()
            info = json.loads(info_path.read_text(encoding="utf-8"))
            step_time = mx.median_step_time(folder / "metrics.jsonl")
            on_gpu = info["device"] == "cuda"
            result = {
                "setting": setting,
                "arm": arm,
                "seed": args.seed,
                "draw": args.draw,
                "commit": args.commit,
                "srmeta": str(Path(srmeta.__file__).resolve().parent),
                "budget": dataclasses.asdict(budget),
                "config": info["config"],
                "trained_on": info["gpu"] or "cpu",
                "torch_train": info["torch"],
                "train_wall_s": info["wall_s"],
                "sec_per_step": None if on_gpu else step_time,
                "gpu_sec_per_step": step_time if on_gpu else None,
                "corrupt_weight_share": mx.logged_mean(
                    folder / "metrics.jsonl", "corrupt_weight_share"
                ),
            }
            held = info["config"]["data"]["train"]["exclude"] if base_arm(arm) != arm else None
            model = folder / "model_last.safetensors"
            setting_ = SETTINGS[setting]
            cache = Path(args.lr_cache)
            result.update(mx.scores_of(model, setting_, budget, args.data_root, cache, held))
            result["wall_s"] = time.perf_counter() - start
            mx.write_json(folder / "result.json", result)
            target.parent.mkdir(parents=True, exist_ok=True)
            mx.write_json(target, result)
            print(f"scored {setting} {arm}", flush=True)


def _arms(args) -> list[str]:
    """``--arms`` in the grid's order (the meta arms first), every arm by default."""
    wanted = args.arms.split(",") if args.arms else ARM_ORDER
    unknown = sorted(a for a in wanted if base_arm(a) not in ARMS)
    if unknown:
        raise SystemExit(f"unknown arm(s) {', '.join(unknown)}")
    # trials and folds after the arms: they are scored against uniform's run
    trials = [a for a in wanted if base_arm(a) != a]
    return [a for a in ARM_ORDER if a in wanted] + trials


def all_(args):
    t0 = time.time()
    out = Path(args.out).resolve()
    order = [s for s in SETTING_ORDER if s in args.settings.split(",")]
    jobs = [Job(s, WARM, args.seed, args.draw) for s in order]
    jobs += [Job(s, a, args.seed, args.draw) for s in order for a in _arms(args)]

    def done_flag(job: Job) -> bool:
        return (job.folder(out) / "device_done.json").is_file()

    todo = [j for j in jobs if not done_flag(j)]
    running, failed = {}, []

    def log(message: str) -> None:
        print(f"[{time.time() - t0:6.1f}s] {message}", flush=True)

    while todo or running:
        for job, proc in list(running.items()):
            if proc.poll() is not None:
                del running[job]
                ok = proc.returncode == 0 and done_flag(job)
                log(f"{'done' if ok else f'FAILED rc={proc.returncode}'}: {job}")
                if not ok:
                    failed.append(job)
        if time.time() - t0 > args.deadline:
            for job, proc in running.items():
                proc.kill()
                log(f"killed at deadline: {job}")
            break
        todo = [j for j in todo if not (j.arm != WARM and j.warm() in failed)]
        if time.time() - t0 < args.stop_starting:
            ready = [j for j in todo if j.arm == WARM or done_flag(j.warm())]
            while ready and len(running) < args.jobs:
                job = ready.pop(0)
                todo.remove(job)
                folder = job.folder(out)
                folder.mkdir(parents=True, exist_ok=True)
                cmd = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "one",
                    "--setting",
                    job.setting,
                    "--arm",
                    job.arm,
                    "--seed",
                    str(args.seed),
                    "--draw",
                    str(args.draw),
                    "--out",
                    str(out),
                    "--data-root",
                    args.data_root,
                ] + (["--smoke"] if args.smoke else [])
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                running[job] = subprocess.Popen(
                    cmd, env=env, stdout=(folder / "log.txt").open("a"), stderr=subprocess.STDOUT
                )
                log(f"start: {job}")
        elif not running:
            break
        time.sleep(1)
    log(f"finished {sum(map(done_flag, jobs))} of {len(jobs)}; failed {failed}")
    for job in failed[:3]:
        print(f"--- log of {job}:", (job.folder(out) / "log.txt").read_text()[-3000:])
    if args.tar:  # one tar per setting: the device tool returns files of at most 16 MiB
        Path(args.tar).mkdir(parents=True, exist_ok=True)
        for setting in order:
            path = Path(args.tar) / f"grid_{setting}.tar"
            with tarfile.open(path, "w") as tar:
                for folder in (j.folder(out) for j in jobs if j.setting == setting):
                    for f in folder.rglob("*") if folder.is_dir() else []:
                        skipped = {"tb", "checkpoints"} & set(f.relative_to(folder).parts)
                        if f.is_file() and not skipped:
                            tar.add(f, arcname=str(f.relative_to(out)))
            log(f"tar written: {path} {path.stat().st_size / 2**20:.1f} MiB")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["one", "all", "score"])
    p.add_argument("--setting")
    p.add_argument("--arm")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--draw", type=int, default=0, help="meta draw (0: the original grid's)")
    p.add_argument("--arms", default=None, help="comma-separated arms (default: all)")
    p.add_argument("--record", default="benchmarks/results/meta_runs")
    p.add_argument("--lr-cache", default="runs/grid/lr_cache")
    p.add_argument("--commit", default=None, help="the commit gpu/code was archived from")
    p.add_argument("--out", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--jobs", type=int, default=16)
    p.add_argument("--stop-starting", type=float, default=1e9)
    p.add_argument("--deadline", type=float, default=1e9)
    p.add_argument("--tar", default=None, help="folder for one tar per setting")
    p.add_argument("--settings", default=",".join(SETTING_ORDER))
    args = p.parse_args()
    {"one": one, "all": all_, "score": score}[args.mode](args)


if __name__ == "__main__":
    main()
