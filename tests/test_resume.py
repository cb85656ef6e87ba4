"""Resuming runs: what differs is named, a finished run can be extended, a torn newest
checkpoint falls back to the previous one, and Ctrl-C keeps the steps already done.

Oracle: the run's own files (step counters, checkpoint lists) and, for the fallback, the
run resumed from the older checkpoint by hand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from run_configs import write_run_config
from srmeta.checkpoints import list_states
from srmeta.cli import main


def _last_step(run) -> int:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return max(json.loads(line)["step"] for line in lines)


def test_a_changed_config_names_the_keys_that_differ(tmp_path, data_root, capsys):
    config = write_run_config(tmp_path, data_root, "run", train__steps=10)
    assert main(["train", str(config), "--quiet"]) == 0
    code = main(
        [
            "train",
            str(config),
            "--resume",
            "auto",
            "--quiet",
            "--set",
            "train.optimizer.lr=0.01",
            "--set",
            "seed=9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "train.optimizer.lr" in err and "seed" in err and "hash" not in err


def test_a_finished_run_is_extended_to_more_steps(tmp_path, data_root):
    config = write_run_config(tmp_path, data_root, "run", train__steps=10)
    assert main(["train", str(config), "--quiet"]) == 0
    extend = ["--resume", "auto", "--set", "train.steps=20", "--quiet"]
    assert main(["train", str(config), *extend]) == 0
    assert _last_step(tmp_path / "run") == 20
    assert [step for step, _ in list_states(tmp_path / "run")][-1] == 20


def test_the_run_folder_alone_resumes_with_its_own_config(tmp_path, data_root):
    config = write_run_config(tmp_path, data_root, "run", train__steps=10)
    assert main(["train", str(config), "--quiet"]) == 0
    config.unlink()  # only the run folder is left
    assert (
        main(
            [
                "train",
                str(tmp_path / "run"),
                "--resume",
                "auto",
                "--set",
                "train.steps=20",
                "--quiet",
            ]
        )
        == 0
    )
    assert _last_step(tmp_path / "run") == 20


def test_a_torn_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, data_root, capsys):
    config = write_run_config(tmp_path, data_root, "run", train__steps=20)
    assert main(["train", str(config), "--quiet"]) == 0
    states = list_states(tmp_path / "run")
    newest = states[-1][1]
    newest.write_bytes(newest.read_bytes()[:1000])  # torn: a crash mid-copy, say
    assert main(["train", str(config), "--resume", "auto", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert newest.name in err and "previous" in err
    assert _last_step(tmp_path / "run") == 20


def test_a_torn_last_log_line_does_not_stop_the_resume(tmp_path, data_root):
    """kill -9 while a metrics line is being appended leaves half a line at the end."""
    config = write_run_config(tmp_path, data_root, "run", train__steps=20)
    assert main(["train", str(config), "--quiet"]) == 0
    metrics = tmp_path / "run" / "metrics.jsonl"
    whole = metrics.read_text().splitlines()
    with metrics.open("a") as handle:
        handle.write('{"step": 21, "kind": "tr')  # no newline: the write was cut off
    assert (
        main(["train", str(config), "--resume", "auto", "--quiet", "--set", "train.steps=30"]) == 0
    )
    lines = metrics.read_text().splitlines()
    assert lines[: len(whole)] == whole  # what was logged before the kill is kept
    assert [json.loads(line)["step"] for line in lines[len(whole) :]] == [30]


def test_ctrl_c_writes_a_checkpoint_at_the_step_reached(tmp_path, data_root):
    config = write_run_config(
        tmp_path,
        data_root,
        "run",
        train__steps=100000,
        train__checkpoint_every=100000,
        train__log_every=1,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "srmeta", "train", str(config), "--quiet"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # A runner that started this suite in the background hands down an ignored SIGINT,
        # and Python then installs no KeyboardInterrupt handler: restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 300  # generous: a busy machine starts slowly
    while time.monotonic() < deadline and not (metrics.is_file() and _lines(metrics) >= 3):
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=300)
    assert child.returncode == 130, err[-2000:]
    saved = list_states(tmp_path / "run")
    assert saved and saved[-1][0] >= 3  # not step 0: the steps done were kept


def _lines(path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.parametrize("resume", ["auto"])
def test_resume_of_a_run_that_never_checkpointed_starts_it(tmp_path, data_root, resume):
    config = write_run_config(tmp_path, data_root, "fresh", train__steps=10)
    assert main(["train", str(config), "--resume", resume, "--quiet"]) == 0
    assert _last_step(tmp_path / "fresh") == 10


def _draws() -> tuple[list[float], float]:
    import random

    import torch

    return torch.rand(4).tolist(), random.random()


def test_restored_generators_repeat_the_draws_made_after_the_save(tmp_path):
    from srmeta.checkpoints import load_state, restore_rng, rng_state, save_state

    path = save_state(tmp_path, 3, {"rng": rng_state()}, keep=1)
    expected = _draws()
    _draws()  # move on, so only a real restore brings the same numbers back
    restore_rng(load_state(path)["rng"])
    assert _draws() == expected


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a GPU")
def test_a_checkpoint_loaded_onto_the_gpu_restores_its_generators(tmp_path):
    """Resuming a CUDA run loads the state with map_location=cuda; the generators' states
    must still reach torch as CPU tensors (a TypeError ended such resumes before)."""
    from srmeta.checkpoints import load_state, restore_rng, rng_state, save_state

    path = save_state(tmp_path, 3, {"rng": rng_state()}, keep=1)
    expected = _draws()
    restore_rng(load_state(path, "cuda")["rng"])
    assert _draws() == expected


def test_start_weights_moved_with_the_checkout_still_resume(tmp_path) -> None:
    """init_from may name another path on resume when the bytes there are the same start:
    the digest the run recorded decides, or the old file when there is none."""
    import hashlib

    from srmeta.errors import SrmetaError
    from srmeta.training.resume import check_config

    here, moved, other = (tmp_path / n for n in ("a.safetensors", "b.safetensors", "c.st"))
    here.write_bytes(b"weights")
    moved.write_bytes(b"weights")
    other.write_bytes(b"other weights")
    old = {"train": {"init_from": str(here), "steps": 10}}
    check_config({"config": old}, tmp_path, {"train": {"init_from": str(moved), "steps": 20}}, "")
    for changed in (str(other), str(tmp_path / "missing.safetensors"), None):
        with pytest.raises(SrmetaError, match=r"train\.init_from"):
            check_config({"config": old}, tmp_path, {"train": {"init_from": changed}}, "")
    # the old checkout is gone: the recorded digest still knows the start
    recorded = {"init_from": {"sha256": hashlib.sha256(b"weights").hexdigest()}}
    here.unlink()
    state = {"config": old, **recorded}
    check_config(state, tmp_path, {"train": {"init_from": str(moved), "steps": 10}}, "")
    with pytest.raises(SrmetaError, match=r"train\.init_from"):
        check_config(state, tmp_path, {"train": {"init_from": str(other), "steps": 10}}, "")
