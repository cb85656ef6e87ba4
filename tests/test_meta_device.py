"""The lent-GPU path of the meta grid (benchmarks/meta_device.py), run on the CPU in smoke
size: arms, selection trials and k-fold folds trained by ``all``, scored by ``score``, and the
choices made afterwards here (``meta_experiments.py``, ``meta_kfold``) from those records
without training them again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import meta_experiments  # noqa: E402
from meta_kfold import kfold_cell  # noqa: E402
from meta_select import CANDIDATES, fold_arm, trial_arm  # noqa: E402


def _device(mode: str, *args: str) -> None:
    env = {**os.environ, "GRID_CODE": str(REPO), "GRID_DEVICE": "cpu"}
    cmd = [sys.executable, str(REPO / "benchmarks" / "meta_device.py"), mode, "--smoke", *args]
    subprocess.run(cmd, check=True, env=env, cwd=REPO, capture_output=True)


def test_device_trials_feed_the_selection_made_here(tmp_path, data_root):
    out, record = tmp_path / "grid", tmp_path / "record"
    trials = [trial_arm(a, 1) for a in CANDIDATES]
    folds = [fold_arm(i) for i in range(2)]  # the smoke budget has 2 meta images
    arms = ",".join(["uniform", *CANDIDATES, *trials, *folds])
    common = ["--seed", "0", "--draw", "1", "--settings", "A1", "--out", str(out)]
    common += ["--data-root", str(data_root)]
    _device("all", *common, "--arms", arms, "--jobs", "2")
    _device("score", *common, "--arms", arms, "--record", str(record))
    cell = record / "A1" / "draw1" / "seed0"
    for arm in trials + folds:
        result = json.loads((cell / f"{arm}.json").read_text())
        assert result["trained_on"] == "cpu"
        assert sorted(result["held_out"]) == result["config"]["data"]["train"]["exclude"]
    held = [json.loads((cell / f"{f}.json").read_text())["held_out"] for f in folds]
    assert len({name for h in held for name in h}) == 2  # each meta image held out once
    stamps = {p: p.stat().st_mtime_ns for p in cell.glob("*.json")}
    here = ["run", "--jobs", "0", "--smoke", "--settings", "A1", "--seeds", "0", "--draws", "1"]
    here += ["--arms", "select", "--out", str(out), "--record", str(record)]
    meta_experiments.main([*here, "--data-root", str(data_root)])
    chosen = json.loads((cell / "select.json").read_text())
    assert chosen["choice"] in ("uniform", *CANDIDATES)
    kfold = kfold_cell("A1:1:0", out, record, record, str(data_root))
    assert kfold["choice"] in ("finetune_meta", "weightnet_best")
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing trained again
