"""The optimiser and its learning-rate schedule, built from the config in one place.

The trainer and the weight-map report both rebuild a run's optimiser (the report needs its
Adam moments for preconditioned rewards), so both call :func:`build_optimizer`. Schedules
are a factor of the base rate per step (``LambdaLR``): one formula per schedule, with
optional linear warm-up, keeps the rate a pure function of the step, which is what makes
a resumed run follow the uninterrupted one exactly.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

import torch


def lr_factor(
    step: int,
    total: int,
    name: str,
    warmup_steps: int = 0,
    base_lr: float = 1.0,
    min_lr: float = 0.0,
    milestones: tuple[int, ...] = (),
    gamma: float = 0.5,
) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total`` steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if name == "constant":
        return 1.0
    if name == "step":
        return gamma ** bisect_right(sorted(milestones), step)
    if name == "cosine":
        span = max(1, total - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        floor = min_lr / base_lr if base_lr > 0 else 0.0
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {name!r}")


def build_optimizer(cfg: Any, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam or AdamW for ``cfg`` (the config's ``train.optimizer``)."""
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return kinds[cfg.name](
        params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, total: int, cfg: Any
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following :func:`lr_factor` for ``cfg`` (the config's ``train.scheduler``)."""
    base_lr = optimizer.param_groups[0]["lr"]

    def factor(step: int) -> float:
        return lr_factor(
            step,
            total,
            cfg.name,
            warmup_steps=cfg.warmup_steps,
            base_lr=base_lr,
            min_lr=cfg.min_lr,
            milestones=tuple(cfg.milestones),
            gamma=cfg.gamma,
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
