"""A training run's newest state rebuilt for analysis: its config, network and Adam moments."""

from __future__ import annotations

from pathlib import Path

import torch

from srmeta.checkpoints import list_states, load_state
from srmeta.config import ExperimentConfig, load_config
from srmeta.models import load_model
from srmeta.training.schedule import build_optimizer
from srmeta.weighting.reward import adam_preconditioner


def newest_state(
    run: Path, data_root: str | None
) -> tuple[ExperimentConfig, int, torch.nn.Module, dict[str, torch.Tensor] | None]:
    """``(config, step, model in train mode, Adam's 1/(sqrt(v_hat)+eps) or None)``."""
    cfg = load_config(run / "config.yaml", [f"data_root={data_root}"] if data_root else [])
    states = list_states(run)
    if not states:
        raise SystemExit(f"{run}: no checkpoint")
    step, path = states[-1]
    state = load_state(path)
    model = load_model(cfg.model.arch, cfg.scale, **cfg.model.options)
    model.load_state_dict(state["model"])
    model.train()
    optimizer = build_optimizer(cfg.train.optimizer, model.parameters())
    optimizer.load_state_dict(state["optimizer"])
    return cfg, step, model, adam_preconditioner(optimizer, model)
