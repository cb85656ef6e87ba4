"""The grid's selection arm (benchmarks/meta_select.py): adapt's choice from scripted
held-out scores, checked by hand, and a smoke run of the arm with its trials."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import meta_experiments  # noqa: E402
from meta_draws_report import write_report  # noqa: E402
from meta_select import CANDIDATES, select, splits  # noqa: E402

NAMES = ["im_1", "im_2", "im_3", "im_4", "im_5"]


def _scripted(split1: dict[str, float], split2: dict[str, float]):
    """Every held-out image scores the arm's number; the fallback scores 30 everywhere."""
    calls: list[tuple[str, int]] = []
    first, second = splits(NAMES, 0)

    def trial(arm: str, split: int) -> dict:
        calls.append((arm, split))
        held = (first if split == 1 else second)[1]
        return {"held_out": {n: (split1 if split == 1 else split2)[arm] for n in held}}

    return calls, trial, (lambda held: {n: 30.0 for n in held})


def test_splits_are_adapts_a_quarter_held_out_then_all_new_held_out_pairs():
    (train1, held1), (train2, held2) = splits(NAMES, 0)
    assert len(held1) == 2 and sorted(train1 + held1) == NAMES
    assert len(held2) == 2 and set(held2) <= set(train1) and sorted(train2 + held2) == NAMES


def test_a_later_strategy_not_confirmed_on_the_second_split_gives_way_to_fine_tuning():
    split1 = {"finetune_meta": 31.0, "weightnet_best": 30.5, "weightnet_mixed": 31.5}
    calls, trial, fallback = _scripted(split1, {"finetune_meta": 31.0, "weightnet_mixed": 30.8})
    chosen = select(NAMES, 0, fallback, trial)
    assert chosen["choice"] == "finetune_meta"
    assert [c for c in calls if c[1] == 2] == [("finetune_meta", 2), ("weightnet_mixed", 2)]
    (confirmation,) = chosen["confirmations"]
    assert confirmation["choice"] == "weightnet_mixed" and not confirmation["confirmed"]


def test_a_confirmed_later_strategy_is_kept():
    split1 = {"finetune_meta": 31.0, "weightnet_best": 30.5, "weightnet_mixed": 31.5}
    _, trial, fallback = _scripted(split1, {"finetune_meta": 31.0, "weightnet_mixed": 31.2})
    assert select(NAMES, 0, fallback, trial)["choice"] == "weightnet_mixed"


def test_nothing_above_the_fallback_keeps_uniform_and_trains_no_second_split():
    split1 = {"finetune_meta": 29.9, "weightnet_best": 29.0, "weightnet_mixed": 29.95}
    calls, trial, fallback = _scripted(split1, {})
    assert select(NAMES, 0, fallback, trial)["choice"] == "uniform"
    assert calls == [(arm, 1) for arm in CANDIDATES]


def test_smoke_select_arm_scores_as_its_choice(tmp_path, data_root, smoke_pool):
    pool = smoke_pool
    out, record = tmp_path / "grid", tmp_path / "record"
    args = ["--smoke", "--seeds", "0", "--out", str(out), "--record", str(record)]
    args += ["--data-root", str(data_root), "--pool", str(pool), "--draws", "1"]
    meta_experiments.main(["run", "--jobs", "0", "--settings", "A1", "--arms", "select", *args])
    cell = record / "A1" / "draw1" / "seed0"
    chosen = json.loads((cell / "select.json").read_text())
    assert chosen["scores"] == json.loads((cell / f"{chosen['choice']}.json").read_text())["scores"]
    (_, held), _ = chosen["splits"]
    for arm in CANDIDATES:
        trial = json.loads((cell / f"{arm}@1.json").read_text())
        assert sorted(trial["held_out"]) == sorted(held)
        # the held-out images are in neither the trial's meta set nor its pool
        assert trial["config"]["data"]["train"]["exclude"] == sorted(held)
        assert not set(held) & set(trial["config"]["data"]["meta"]["names"])
    report = write_report(record, tmp_path / "draws.json", tmp_path / "experiments.md")
    block = report["settings"]["A1"]
    assert block["selection"]["select"]["per_cell"] == {"d1s0": chosen["choice"]}
    assert block["arms"]["select"]["cells"] == [[1, 0]]
    assert "meta-draws" in (tmp_path / "experiments.md").read_text()
