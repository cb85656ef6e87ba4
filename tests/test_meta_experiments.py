"""The meta-weighting experiment harness: statistics against hand computations, and a smoke
run of every setting and arm (a few steps of a tiny model)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import meta_experiments  # noqa: E402
from meta_grid import ARMS, SETTINGS  # noqa: E402
from meta_report import write_report  # noqa: E402
from meta_stats import (  # noqa: E402
    bootstrap_ci,
    gap_closed,
    head_to_head,
    paired_deltas,
    summarise_setting,
)


def test_paired_deltas_use_the_images_and_seeds_both_arms_have():
    arm = {0: {"S/a": 30.0, "S/b": 28.0}, 1: {"S/a": 31.0, "S/b": 27.5}, 2: {"S/a": 1.0}}
    base = {0: {"S/a": 29.5, "S/b": 28.0, "S/c": 5.0}, 1: {"S/a": 30.0, "S/b": 28.0}}
    deltas = paired_deltas(arm, base)
    assert deltas.tolist() == [[0.5, 0.0], [1.0, -0.5]]


def test_bootstrap_interval_of_a_constant_difference_is_that_constant():
    lo, hi = bootstrap_ci(np.full((3, 20), 0.25))
    assert lo == pytest.approx(0.25) and hi == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    deltas = 0.3 + rng.normal(0, 0.2, size=(3, 100))
    lo, hi = bootstrap_ci(deltas)
    assert lo < deltas.mean() < hi and hi - lo < 0.3
    # the standard error of a mean of 300 values of sd 0.2 is 0.0115: the interval is wider
    # than +-1.96 * 0.0115 only through the seed level, so it must be at least that wide
    assert hi - lo > 2 * 1.96 * 0.2 / np.sqrt(300) * 0.8


def test_gap_closed_is_the_share_of_the_uniform_to_oracle_gap():
    assert gap_closed(29.5, 29.0, 30.0) == pytest.approx(0.5)
    assert gap_closed(28.8, 29.0, 30.0) == pytest.approx(-0.2)
    assert gap_closed(29.0, 29.0, 29.0) is None
    assert gap_closed(29.02, 29.0, 29.03) is None  # a 0.03 dB "gap" is no gap
    assert gap_closed(29.1, 29.0, 28.9) is None  # the oracle loses: nothing to close


def test_summary_block_of_a_setting():
    def result(scores, seconds, share):
        return {
            "scores": scores,
            "sec_per_step": seconds,
            "corrupt_weight_share": share,
            "commit": "abc",
        }

    results = {
        "uniform": {0: result({"Set5/a": 30.0, "Set14/b": 26.0}, 1.0, 0.5)},
        "oracle": {0: result({"Set5/a": 31.0, "Set14/b": 27.0}, 1.0, None)},
        "l2rw_image": {0: result({"Set5/a": 30.5, "Set14/b": 26.5}, 2.0, 0.3)},
    }
    block = summarise_setting(results, ["Set5", "Set14"])["arms"]["l2rw_image"]
    assert block["psnr"] == {"Set5": 30.5, "Set14": 26.5}
    assert block["delta_vs_uniform"]["mean"] == pytest.approx(0.5)
    assert block["gap_closed"] == pytest.approx(0.5)
    assert block["corrupt_weight_share"] == 0.3 and block["step_time_ratio"] == 2.0


def test_head_to_head_pairs_the_focus_arm_with_each_rival_per_seed_and_image():
    scores = {
        "weightnet_best": {0: {"S/a": 30.0, "S/b": 28.0}, 1: {"S/a": 31.0, "S/b": 27.0}},
        "l2rw_image": {0: {"S/a": 29.0, "S/b": 28.0}, 1: {"S/a": 31.0, "S/b": 28.0}},
        "mixed": {0: {"S/a": 30.0, "S/b": 28.0}, 1: {"S/a": 31.0, "S/b": 27.0}},
    }
    versus = head_to_head(scores, "weightnet_best")
    assert set(versus) == {"l2rw_image", "mixed"}
    # differences: seed 0 (+1, 0), seed 1 (0, -1): mean 0
    assert versus["l2rw_image"]["mean"] == pytest.approx(0.0)
    assert versus["mixed"] == {"mean": 0.0, "ci95": [0.0, 0.0]}


def test_summary_gives_each_seeds_mean_delta():
    results = {
        "uniform": {s: {"scores": {"S/a": 30.0, "S/b": 26.0}, "commit": "c"} for s in (0, 1)},
        "weightnet_best": {
            0: {"scores": {"S/a": 30.5, "S/b": 26.5}, "commit": "c"},
            1: {"scores": {"S/a": 30.0, "S/b": 25.0}, "commit": "c"},
        },
    }
    block = summarise_setting(results, ["S"])
    assert block["arms"]["weightnet_best"]["delta_per_seed"] == {0: 0.5, 1: -0.5}
    assert block["weightnet_best_vs"]["uniform"]["mean"] == pytest.approx(0.0)


def test_smoke_runs_every_setting_and_arm(tmp_path, data_root, smoke_pool):
    pool = smoke_pool
    out, record = tmp_path / "grid", tmp_path / "record"
    args = [
        "--smoke",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--record",
        str(record),
        "--data-root",
        str(data_root),
        "--pool",
        str(pool),
    ]
    meta_experiments.main(["run", "--jobs", "0", *args])
    results, doc = tmp_path / "results.json", tmp_path / "experiments.md"
    report = write_report(record, results, doc)
    assert set(report["settings"]) == set(SETTINGS)
    for name, block in report["settings"].items():
        assert set(block["arms"]) == set(ARMS), name
        uniform = block["arms"]["uniform"]
        assert uniform["delta_vs_uniform"]["mean"] == 0.0
        for arm, row in block["arms"].items():
            assert row["seeds"] == [0] and np.isfinite(row["psnr"]["Set5"]), (name, arm)
        share = block["arms"]["uniform"]["corrupt_weight_share"]
        assert (share is None) == (name == "B"), (name, share)
    saved = json.loads(results.read_text())
    assert saved["settings"]["A1"]["arms"]["weightnet_best"]["commits"]
    text = doc.read_text()
    assert "### A1" in text and "weightnet_best" in text
    # every run recorded the code it ran; a second `run` has nothing left to do, even with
    # the run folders gone (a later session): the record alone says what is done
    result = json.loads((record / "A2" / "seed0" / "oracle.json").read_text())
    assert len(result["commit"]) == 40 and result["config"]["train"]["deterministic"]
    shutil.rmtree(out)
    meta_experiments.main(["run", "--jobs", "0", *args])
    assert not out.exists()
    # a record made by other code is refused
    manifest = json.loads((record / "manifest.json").read_text())
    (record / "manifest.json").write_text(json.dumps({**manifest, "commit": "0" * 40}))
    with pytest.raises(SystemExit, match="run from a worktree at that commit"):
        meta_experiments.main(["run", "--jobs", "0", *args])


def test_draw_zero_is_the_recorded_grid_and_other_draws_change_only_the_draw(tmp_path):
    """The recorded grid's configs are rebuilt exactly for draw 0 (a later edit must not
    change what earlier runs trained), and a draw moves only the meta images and the
    corruption split, under its own folder."""
    from meta_grid import Budget, arm_config

    budget = Budget()
    for path in sorted((BENCH / "results" / "meta_runs").glob("*/seed0/*.json")):
        recorded = json.loads(path.read_text())
        if recorded["arm"] not in ARMS:
            continue
        cfg = recorded["config"]
        job = meta_experiments.Job(recorded["setting"], recorded["arm"], 0)
        rebuilt = arm_config(
            SETTINGS[job.setting], job.arm, budget, 0, cfg["output_dir"], cfg["train"]["init_from"]
        )
        rebuilt["data_root"] = cfg["data_root"]
        assert rebuilt == cfg, path
        other = arm_config(SETTINGS[job.setting], job.arm, budget, 0, "o", "i", draw=2)
        assert other["data"]["meta"]["seed"] == 2
        corrupt = other["data"]["train"].get("corrupt")
        assert corrupt is None or corrupt["seed"] == 2
        assert other["name"].startswith(f"{job.setting}_d2_s0_")
    job = meta_experiments.Job("A1", "uniform", 1, draw=2)
    assert job.folder(tmp_path) == tmp_path / "A1" / "draw2" / "seed1" / "uniform"
    assert meta_experiments.Job("A1", "uniform", 1).record(tmp_path).parent.name == "seed1"
