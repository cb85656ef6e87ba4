"""The k-fold selection arm (benchmarks/meta_kfold.py): its rule on numbers checked by
hand, its folds, and a smoke run from fold trials to the cell's record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import meta_experiments  # noqa: E402
from meta_draws_report import write_report  # noqa: E402
from meta_kfold import choose, kfold_cell, ready_cells  # noqa: E402
from meta_select import fold_arm, fold_split, parse_fold  # noqa: E402

NAMES = ["im_3", "im_1", "im_5", "im_2", "im_4"]


def test_fine_tuning_is_chosen_only_when_its_held_out_mean_is_above_uniforms():
    uniform = {"a": 30.0, "b": 31.0}
    choice, gain = choose({"a": 30.5, "b": 30.6}, uniform)  # +0.5, -0.4
    assert choice == "finetune_meta" and gain == pytest.approx(0.05)
    assert choose({"a": 30.5, "b": 30.4}, uniform) == ("weightnet_best", pytest.approx(-0.05))
    assert choose({"a": 30.0, "b": 31.0}, uniform)[0] == "weightnet_best"  # a tie is not a win


def test_each_meta_image_is_held_out_by_exactly_one_fold():
    folds = [fold_split(NAMES, i) for i in range(len(NAMES))]
    assert sorted(h for _, (h,) in folds) == sorted(NAMES)
    for train, held in folds:
        assert sorted(train + held) == sorted(NAMES) and not set(train) & set(held)
    assert parse_fold(fold_arm(3)) == ("finetune_meta", 3) and parse_fold("uniform") is None


def test_smoke_kfold_arm_scores_as_its_choice(tmp_path, data_root, smoke_pool):
    out, record = tmp_path / "grid", tmp_path / "record"
    args = ["--smoke", "--seeds", "0", "--out", str(out), "--record", str(record)]
    args += ["--data-root", str(data_root), "--pool", str(smoke_pool), "--draws", "1"]
    arms = "uniform,finetune_meta,weightnet_best," + ",".join(fold_arm(i) for i in range(2))
    meta_experiments.main(["run", "--jobs", "0", "--settings", "A1", "--arms", arms, *args])
    assert ready_cells(record) == ["A1:1:0"]
    result = kfold_cell("A1:1:0", out, record, record, str(data_root))
    assert ready_cells(record) == []  # chosen once
    cell = record / "A1" / "draw1" / "seed0"
    assert json.loads((cell / "kfold.json").read_text()) == json.loads(json.dumps(result))
    assert result["scores"] == json.loads((cell / f"{result['choice']}.json").read_text())["scores"]
    assert (result["choice"], pytest.approx(result["held_out_gain"])) == choose(
        result["fold_held_out"], result["uniform_held_out"]
    )
    for i, name in enumerate(sorted(result["meta_images"])):
        fold = json.loads((cell / f"{fold_arm(i)}.json").read_text())
        assert list(fold["held_out"]) == [name]
        # the held-out image is in neither the fold's meta set nor its pool
        assert fold["config"]["data"]["train"]["exclude"] == [name]
        assert name not in fold["config"]["data"]["meta"]["names"]
    # the report reads the k-fold arm as a candidate default beside the arms it chose among
    report = write_report(record, tmp_path / "draws.json", tmp_path / "experiments.md")
    block = report["settings"]["A1"]
    assert block["selection"]["kfold"]["per_cell"] == {"d1s0": result["choice"]}
    assert block["arms"]["kfold"]["vs_uniform"] == block["arms"][result["choice"]]["vs_uniform"]
