"""What ``srmeta adapt`` trains: its settings and the training config of each strategy.

- ``finetune``: the few-shot pairs as the only training data (uniform L1);
- ``weightnet``: the generic pool (the data root's training sets) weighted by Weight-Net,
  meta-learned on the few-shot pairs;
- ``combined``: Weight-Net as above, with each step's few-shot batch also trained on;
- ``mixed``: the pool and the pairs as data with uniform weights (a baseline).

The pool's LR is made by a random degradation (:data:`POOL_DEGRADATION`: lens blurs and mild
noise), so that some of its samples resemble a real camera's; Weight-Net's job is to find
them, guided by the pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srmeta.config import PairsConfig

# How the strategy is chosen: a held-out part of the pairs (adapt_choice) or every pair
# held out once (adapt_kfold).
HOLDOUT = "holdout"
KFOLD = "kfold"
CHOICES = (HOLDOUT, KFOLD)
STRATEGIES = ("finetune", "weightnet", "combined")
# ``mixed`` (the pool and the pairs as data, uniform weights) is a baseline, not a default.
ALL_STRATEGIES = (*STRATEGIES, "mixed")
# The pool's LR: a spread of lens blurs and mild sensor noise around the bicubic one, so the
# pool holds samples that resemble a real camera for Weight-Net to pick out; on a purely
# bicubic pool it could only reweight what is unlike every camera.
POOL_DEGRADATION = "blur:iso:0.2-3 noise:0-5 seed:7"
# ``pool_degradation="fit"``: the Gaussian blur the training pairs imply (camera_blur), with
# a spread around it, in place of the broad spread above.
FIT = "fit"
DEFAULT_POOL = ("T91", "General100", "BSDS400")

# Weight-Net's options for adaptation: the grid's best on a dirty pool (docs/experiments.md,
# setting A1), where the few-shot set must decide which pool images to trust.
WEIGHTNET_OPTIONS: dict[str, Any] = {
    "every": 2,
    "ema": 0.9,
    "meta_loss": "l2",
    "beta": 0.2,
    "image_beta": 0.05,
    "lr": 3e-3,
    "inputs": ["hr", "lr", "consistency"],
    "normalise": "batch",
    "image_head": True,
    "input_norm": True,
    "center": True,
}


@dataclass(frozen=True)
class AdaptSettings:
    """What an adaptation trains and how long; the defaults are ``srmeta adapt``'s."""

    scale: int
    start: str = "default"
    strategies: tuple[str, ...] = STRATEGIES
    steps: int = 400
    eval_every: int = 50
    holdout: int | None = None  # HOLDOUT: None is a quarter of the pairs, rounded up
    lr_patch: int = 24  # LR pixels per side of a training patch
    batch_size: int = 8
    meta_batch_size: int = 4
    lr: float = 1e-4
    pool: tuple[str, ...] = DEFAULT_POOL
    pool_degradation: str = POOL_DEGRADATION
    seed: int = 0
    device: str = "auto"
    refit: bool = True  # HOLDOUT: train the choice again on every pair (KFOLD always does)
    selection: str = "consistent"  # HOLDOUT, or "mean": see adapt_choice.choose()
    confirm: bool = True  # HOLDOUT: a strategy beyond the simplest must win a second hold-out
    refit_tie_db: float = 0.02  # held-out differences below this are ties (refit_length)
    choose: str = KFOLD  # or HOLDOUT: strategies compete on a held-out quarter (adapt_choice)
    folds: int | None = None  # with KFOLD: None is adapt_kfold.DEFAULT_FOLDS


def named_pairs(pairs: PairsConfig, names: list[str]) -> PairsConfig:
    """The same pairs source, narrowed to ``names``."""
    return pairs.model_copy(update={"names": names})


def strategy_config(
    strategy: str,
    settings: AdaptSettings,
    start_file: Path,
    arch: str,
    options: dict[str, Any],
    pairs: PairsConfig,
    train_names: list[str],
    holdout_names: list[str] | None,
    run_dir: Path,
    data_root: str | None,
) -> dict[str, Any]:
    """The training config of one strategy (a plain mapping, validated by the caller);
    without ``holdout_names`` it trains its steps with no held-out check."""
    s = settings
    patch = s.lr_patch * s.scale
    few_shot = named_pairs(pairs, train_names).model_dump()
    # The seed also draws the pair crops: from a trained model, fine-tuning has nothing else
    # random, so another seed must mean other crops.
    meta: dict[str, Any] = {"pairs": few_shot, "batch_size": s.meta_batch_size, "seed": s.seed}
    weighting: dict[str, Any] = {"name": "uniform"}
    if strategy == "finetune":
        meta.update(mix="only", batch_size=s.batch_size)
    elif strategy == "mixed":
        meta["mix"] = "add"
    else:
        weighting = {"name": "weightnet", "options": dict(WEIGHTNET_OPTIONS)}
        if strategy == "combined":
            meta["mix"] = "add"
    val: dict[str, Any] = {"every": 0}
    if holdout_names is not None:
        val = {
            "datasets": [],
            "every": s.eval_every,
            "pairs": named_pairs(pairs, holdout_names).model_dump(),
        }
    return {
        "name": f"adapt_{strategy}",
        "seed": s.seed,
        "scale": s.scale,
        "device": s.device,
        "output_dir": str(run_dir),
        "data_root": data_root,
        "model": {"arch": arch, "options": options},
        "data": {
            "train": {
                "datasets": list(s.pool),
                "patch_size": patch,
                "batch_size": s.batch_size,
                "degradation": s.pool_degradation,
            },
            "meta": meta,
            "val": val,
        },
        "train": {
            "steps": s.steps,
            "init_from": str(start_file),
            "optimizer": {"name": "adam", "lr": s.lr, "betas": [0.9, 0.99]},
            "scheduler": {"name": "cosine", "warmup_steps": 0},
            "weighting": weighting,
            "grad_clip": 1.0,
            "log_every": min(50, s.steps),
            "checkpoint_every": s.eval_every,
            "keep_checkpoints": 1,
        },
    }
