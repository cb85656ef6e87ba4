"""The settings and arms of the meta-weighting experiments, as srmeta configs.

A *setting* is a training pool and a few-shot meta-set that knows something the pool does
not (A: half of the pool's targets are corrupted, the meta pairs are clean; B: the pool
mixes degradations, the meta pairs and the test sets share one target degradation). An
*arm* is one way to train on it. Every arm of a (setting, seed) starts from the same
warm-start checkpoint (uniform L1 on the setting's pool) and sees the same batches in the
same order, so per-image differences between arms are paired.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from srmeta.training.adapt_settings import WEIGHTNET_OPTIONS as ADAPT_WEIGHTNET_OPTIONS

POOL = ["T91", "General100", "BSDS400"]
TEST_SETS = ["Set5", "Set14", "BSD100"]
META_OPTIONS = {"every": 2, "ema": 0.9, "meta_loss": "l2"}

# Setting B: a generalist pool and one target degradation (see docs/experiments.md for how
# the target was chosen: the generalist -> specialist gap must be worth closing).
B_POOL_DEGRADATION = "blur:iso:0.2-4 noise:0-20 seed:7"
B_TARGET = "blur:aniso:3.5,0.8,30 noise:8 seed:11"


@dataclass(frozen=True)
class Setting:
    """A pool (with its corruption or degradation), a meta-set and the test degradation."""

    name: str
    summary: str
    corrupt: dict[str, Any] | None = None
    pool_degradation: str = "bicubic"
    target_degradation: str = "bicubic"
    oracle: dict[str, Any] = field(default_factory=dict)  # config changes of the oracle arm


def _corrupt(**kind: Any) -> dict[str, Any]:
    return {"fraction": 0.5, "seed": 0, **kind}


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("A1", "dirty pool: half the targets blurred (sigma 1.5)", _corrupt(blur=1.5)),
        Setting("A2", "dirty pool: half the targets shifted 2-4 px", _corrupt(shift=[2, 4])),
        Setting("A3", "dirty pool: half the targets JPEG q=20", _corrupt(jpeg=20)),
        Setting("A4", "dirty pool: half the targets noisy (sigma 15), control", _corrupt(noise=15)),
        Setting(
            "B",
            "mixed-degradation pool, one target degradation",
            pool_degradation=B_POOL_DEGRADATION,
            target_degradation=B_TARGET,
        ),
    )
}

WEIGHTNET_DEFAULT = {
    **META_OPTIONS,
    "beta": 0.2,
    "lr": 1e-3,
    "inputs": ["hr", "lr_up", "error"],
}
# Chosen on A1, seed 0, short runs (docs/experiments.md, "Developing the options"); the
# package's `srmeta adapt` uses the same set, so it is defined there once.
WEIGHTNET_BEST = dict(ADAPT_WEIGHTNET_OPTIONS)

# Meta-Weight-Net gets the same generic fixes as Weight-Net: its input (a loss value, ~0.03)
# scaled by its running RMS, and centred logits; otherwise it learns far too slowly.
MWNET = {**META_OPTIONS, "input_norm": True, "center": True}

ARMS: dict[str, dict[str, Any]] = {
    "uniform": {"weighting": {"name": "uniform"}},
    "mixed": {"weighting": {"name": "uniform"}, "mix": "add"},
    "oracle": {"weighting": {"name": "uniform"}, "oracle": True},
    "finetune_meta": {"weighting": {"name": "uniform"}, "mix": "only"},
    "l2rw_pixel": {"weighting": {"name": "l2rw", "options": dict(META_OPTIONS)}},
    "l2rw_image": {"weighting": {"name": "l2rw", "options": {**META_OPTIONS, "level": "image"}}},
    "mwnet_pixel": {"weighting": {"name": "mwnet", "options": MWNET}},
    "mwnet_image": {"weighting": {"name": "mwnet", "options": {**MWNET, "level": "image"}}},
    "weightnet_default": {"weighting": {"name": "weightnet", "options": WEIGHTNET_DEFAULT}},
    "weightnet_best": {"weighting": {"name": "weightnet", "options": WEIGHTNET_BEST}},
    # Candidate defaults: Weight-Net and the meta pairs as data (srmeta adapt's "combined").
    "weightnet_mixed": {
        "weighting": {"name": "weightnet", "options": WEIGHTNET_BEST},
        "mix": "add",
    },
}


@dataclass(frozen=True)
class Budget:
    """Model and schedule of one grid; ``smoke`` makes every run a few seconds."""

    warm_steps: int = 2000
    steps: int = 2000
    batch_size: int = 8
    patch_size: int = 64
    model: dict[str, Any] = field(
        default_factory=lambda: {"arch": "edsr", "options": {"n_resblocks": 8, "n_feats": 32}}
    )
    pool: tuple[str, ...] = tuple(POOL)
    meta_dataset: str = "General100"  # 5 clean pairs of it, held out of the pool
    meta_count: int = 5
    meta_batch_size: int = 2
    test_sets: tuple[str, ...] = tuple(TEST_SETS)
    hr_crop: int | None = None  # smoke only: score a centre crop (never for reported numbers)
    checkpoint_every: int = 500

    @classmethod
    def smoke(cls, pool: tuple[str, ...] = ("T91",)) -> Budget:
        """A few steps of a tiny model; the meta pairs come from (and leave) ``pool[0]``."""
        return cls(
            warm_steps=3,
            steps=3,
            batch_size=2,
            patch_size=32,
            model={"arch": "edsr", "options": {"n_resblocks": 1, "n_feats": 8}},
            pool=pool,
            meta_dataset=pool[0],
            meta_count=2,
            meta_batch_size=1,
            test_sets=("Set5",),
            hr_crop=48,
            checkpoint_every=2,
        )


def _base(setting: Setting, budget: Budget, seed: int, name: str, draw: int = 0) -> dict[str, Any]:
    """``draw`` picks the meta images (``data.meta.seed``) and, in a dirty pool, which
    targets are corrupted (``corrupt.seed``): draw 0 is the grid's original draw."""
    train_data: dict[str, Any] = {
        "datasets": list(budget.pool),
        "patch_size": budget.patch_size,
        "batch_size": budget.batch_size,
        "degradation": setting.pool_degradation,
    }
    if setting.corrupt is not None:
        train_data["corrupt"] = {**setting.corrupt, "seed": draw}
    meta = {
        "dataset": budget.meta_dataset,
        "count": budget.meta_count,
        "seed": draw,
        "batch_size": budget.meta_batch_size,
        "degradation": setting.target_degradation,
    }
    return {
        "name": name,
        "seed": seed,
        "scale": 4,
        "device": "cpu",
        "model": copy.deepcopy(budget.model),
        "data": {"train": train_data, "meta": meta, "val": {"every": 0}},
        "train": {
            "optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.9, 0.99]},
            "loss": {"kind": "l1"},
            "grad_clip": 1.0,
            "log_every": min(50, budget.steps),
            "checkpoint_every": budget.checkpoint_every,
            "keep_checkpoints": 1,
            "deterministic": True,  # a warm start recomputed later is bitwise the same
        },
    }


def _name(setting: Setting, seed: int, draw: int, what: str) -> str:
    prefix = setting.name if draw == 0 else f"{setting.name}_d{draw}"
    return f"{prefix}_s{seed}_{what}"


def warm_config(
    setting: Setting, budget: Budget, seed: int, output_dir: str, draw: int = 0
) -> dict[str, Any]:
    """Uniform L1 on the setting's pool: the shared starting point of every arm."""
    cfg = _base(setting, budget, seed, _name(setting, seed, draw, "warm"), draw)
    cfg["output_dir"] = output_dir
    cfg["train"].update(
        steps=budget.warm_steps,
        scheduler={"name": "cosine", "warmup_steps": min(200, budget.warm_steps // 4)},
        weighting={"name": "uniform"},
    )
    return cfg


def arm_config(
    setting: Setting,
    arm: str,
    budget: Budget,
    seed: int,
    output_dir: str,
    init_from: str,
    draw: int = 0,
) -> dict[str, Any]:
    """The config of one arm, continuing from the warm start ``init_from``."""
    spec = ARMS[arm]
    cfg = _base(setting, budget, seed, _name(setting, seed, draw, arm), draw)
    cfg["output_dir"] = output_dir
    cfg["train"].update(
        steps=budget.steps,
        scheduler={"name": "cosine", "warmup_steps": 0},
        weighting=copy.deepcopy(spec["weighting"]),
        init_from=init_from,
    )
    mix = spec.get("mix")
    if mix == "add":
        cfg["data"]["meta"]["mix"] = "add"
    elif mix == "only":
        cfg["data"]["meta"].update(mix="only", batch_size=budget.batch_size)
    if spec.get("oracle"):
        if setting.corrupt is not None:
            cfg["data"]["train"]["corrupt"]["drop"] = True  # the clean part of the pool only
        else:
            cfg["data"]["train"]["degradation"] = setting.target_degradation  # the specialist
    return cfg


def trial_config(arm_cfg: dict[str, Any], train_names: list[str], held_out: list[str]) -> dict:
    """An arm's config (:func:`arm_config`) trained on some of the meta images only, the
    rest ``held_out`` to score it: how the selection arm (:mod:`meta_select`) chooses, as
    ``srmeta adapt`` does with real pairs. The held-out images leave the pool too."""
    cfg = copy.deepcopy(arm_cfg)
    meta = cfg["data"]["meta"]
    del meta["count"]
    meta["names"] = sorted(train_names)
    cfg["data"]["train"]["exclude"] = sorted(held_out)
    return cfg
