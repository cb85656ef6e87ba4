"""The City100 benchmark's draws and statistics, against hand computations."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import city100


def test_draws_are_seeded_sorted_and_distinct_per_k_and_draw() -> None:
    names = [f"{i:03d}" for i in range(1, 101)]
    five = city100.draw_names(names, 5, 0)
    assert len(set(five)) == 5 and five == sorted(five)
    assert city100.draw_names(names, 5, 0) == five
    assert city100.draw_names(names, 5, 1) != five
    assert (
        city100.draw_names(names, 10, 0)[:5] != five or len(city100.draw_names(names, 10, 0)) == 10
    )


def test_cell_deltas_pair_per_image_and_the_interval_of_a_constant_is_it() -> None:
    arms = {
        (5, 0, 0, "finetune"): {"per_image": {"a": 30.0, "b": 31.0}},
        (5, 0, 0, "adapt"): {"per_image": {"a": 30.5, "b": 31.5}},
        (5, 1, 0, "finetune"): {"per_image": {"c": 29.0}},
        (5, 1, 0, "adapt"): {"per_image": {"c": 29.5}},
        (5, 2, 0, "adapt"): {"per_image": {"d": 1.0}},  # no finetune: not paired
    }
    cells = city100.cell_deltas(arms, {}, 5, "adapt", "finetune")
    assert [c.tolist() for c in cells] == [[0.5, 0.5], [0.5]]
    mean, (low, high) = city100.two_level_ci(cells)
    assert mean == pytest.approx(0.5) and low == pytest.approx(0.5) and high == pytest.approx(0.5)
    refs = {"start": {"per_image": {"a": 29.0, "b": 29.0, "c": 29.0, "d": 0.0}}}
    cells = city100.cell_deltas(arms, refs, 5, "adapt", "start")
    assert [c.tolist() for c in cells] == [[1.5, 2.5], [0.5], [1.0]]
    mean, (low, high) = city100.two_level_ci(cells)
    assert mean == pytest.approx(np.mean([2.0, 0.5, 1.0])) and low <= mean <= high
