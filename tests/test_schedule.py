"""Learning-rate schedules against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from srmeta.training.schedule import lr_factor


def test_cosine_runs_from_one_to_the_floor():
    assert lr_factor(0, 100, "cosine") == pytest.approx(1.0)
    assert lr_factor(50, 100, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, "cosine", base_lr=1e-3, min_lr=1e-5) == pytest.approx(0.01)
    t = 37
    expected = 0.5 * (1 + math.cos(math.pi * t / 100))
    assert lr_factor(t, 100, "cosine") == pytest.approx(expected)


def test_warmup_then_schedule():
    assert [lr_factor(s, 100, "constant", warmup_steps=4) for s in range(5)] == [
        0.25,
        0.5,
        0.75,
        1.0,
        1.0,
    ]
    assert lr_factor(4, 104, "cosine", warmup_steps=4) == pytest.approx(1.0)


def test_step_decay_at_milestones():
    factors = [lr_factor(s, 100, "step", milestones=(10, 20), gamma=0.5) for s in (9, 10, 19, 20)]
    assert factors == [1.0, 0.5, 0.5, 0.25]


def test_unknown_schedule():
    with pytest.raises(ValueError):
        lr_factor(0, 10, "linear")
    assert torch.optim.lr_scheduler.LambdaLR  # the scheduler class the trainer builds on
