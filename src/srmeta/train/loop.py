"""The training loop: config in, run folder out.

Every step: a batch that is a pure function of (seed, step) -> SR forward (carrying the
rewards as a forward-mode tangent when a meta strategy asks for them) -> per-pixel loss
map -> the weighting strategy's ``update`` and ``weights`` -> weighted mean -> optimizer
step -> schedule -> EMA. Validation uses the published protocol (:mod:`srmeta.evaluate`),
checkpoints hold the complete state, and ``resume="auto"`` continues a killed run to the
same weights an uninterrupted one reaches (bitwise on CPU with deterministic settings).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from srmeta.atomic import atomic_write_text
from srmeta.config import (
    ExperimentConfig,
    config_hash,
    config_to_yaml,
    resolved_device,
    resolved_output_dir,
)
from srmeta.data.meta import MetaSet
from srmeta.data.training import TrainingPatches, make_loader
from srmeta.errors import SrmetaError
from srmeta.losses import pixel_loss_map
from srmeta.models.files import META_IMAGES_KEY, save_model_file
from srmeta.models.registry import load_model
from srmeta.train import checkpoint as ckpt
from srmeta.train.distributed import World, barrier, init_world, rank_device, shutdown
from srmeta.train.runlog import RunLog, truncate_after
from srmeta.train.schedule import build_optimizer, build_scheduler
from srmeta.train.validate import validate
from srmeta.weighting import StepContext, build_strategy
from srmeta.weighting.reward import forward_with_rewards

LAST_MODEL = "model_last.safetensors"
BEST_MODEL = "model_best.safetensors"


@dataclass
class TrainResult:
    """Where a run went and how it ended."""

    run_dir: Path
    step: int
    best_psnr: float | None = None
    best_step: int | None = None
    last_validation: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Holds a run's objects; :meth:`run` trains from the current step to the end."""

    def __init__(self, cfg: ExperimentConfig, resume: str | None = None, progress: bool = True):
        self.cfg = cfg
        self.progress = progress
        device = resolved_device(cfg)
        self.world: World = init_world(device)
        self.device = rank_device(device, self.world)
        self.run_dir = resolved_output_dir(cfg)
        self.hash = config_hash(cfg)
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        random.seed(cfg.seed)

        self.model: nn.Module = load_model(cfg.model.arch, cfg.scale, **cfg.model.options)
        self.model.to(self.device).train()
        self.net: nn.Module = self.model
        if self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = build_optimizer(cfg.train.optimizer, self.model.parameters())
        self.scheduler = build_scheduler(self.optimizer, cfg.train.steps, cfg.train.scheduler)
        self.ema: AveragedModel | None = None
        if cfg.train.ema:
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema))
        weighting = cfg.train.weighting
        self.strategy = build_strategy(weighting.name, weighting.options, cfg.scale).to(self.device)
        self.meta: MetaSet | None = MetaSet.from_config(cfg)
        if self.strategy.needs_meta and self.meta is None:
            raise SrmetaError(f"weighting '{weighting.name}' needs data.meta (a meta-dataset)")
        # The dual forward bypasses DDP's hooks and would carry bf16 tangents: plain jvp there.
        self._fused_rewards = not self.world.distributed and not cfg.train.bf16
        self.step = 0
        self.best: dict[str, Any] = {"psnr": None, "step": None}
        self.log = RunLog(self.run_dir, enabled=self.world.is_main)
        self._start(resume)

    # -- state -------------------------------------------------------------------------
    def _start(self, resume: str | None) -> None:
        path = ckpt.find_resume_state(self.run_dir, resume)
        if path is None:
            existing = ckpt.list_states(self.run_dir)
            if existing:
                raise SrmetaError(
                    f"{self.run_dir} already holds a run (checkpoint at step {existing[-1][0]});"
                    " continue it with --resume auto or set another output_dir"
                )
        else:
            self._restore(ckpt.load_state(path, self.device))
            if self.world.is_main:
                truncate_after(self.log.path, self.step)
        if self.world.is_main:
            atomic_write_text(self.run_dir / "config.yaml", config_to_yaml(self.cfg), force=True)

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("config_hash") != self.hash:
            raise SrmetaError(
                "the config differs from the checkpoint's (hash "
                f"{state.get('config_hash')} vs {self.hash}); start a new run instead"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.strategy.load_state_dict(state["weighting"])
        ckpt.restore_rng(state["rng"])
        self.step = int(state["step"])
        self.best = dict(state["best"])

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "config_hash": self.hash,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "weighting": self.strategy.state_dict(),
            "rng": ckpt.rng_state(),
            "best": self.best,
        }

    def inference_model(self) -> nn.Module:
        """The weights to evaluate and ship: the EMA average when enabled."""
        return self.ema.module if self.ema is not None else self.model

    def _save_model(self, name: str, extra: dict[str, str]) -> None:
        meta = {"srmeta.config_hash": self.hash, "srmeta.step": str(self.step), **extra}
        if self.meta is not None:  # so evaluation can refuse to score on them
            meta[META_IMAGES_KEY] = json.dumps(self.meta.names)
        save_model_file(
            self.run_dir / name,
            self.inference_model(),
            arch=self.cfg.model.arch,
            scale=self.cfg.scale,
            options=dict(self.cfg.model.options),
            metadata=meta,
            force=True,
        )

    def _checkpoint(self) -> None:
        if self.world.is_main:
            self._save_model(LAST_MODEL, {})
            ckpt.save_state(self.run_dir, self.step, self._state(), self.cfg.train.keep_checkpoints)
        barrier(self.world)

    # -- loop --------------------------------------------------------------------------
    def _meta_batch(self, step: int):
        if self.meta is None:
            return None
        meta, device, rank = self.meta, self.device, self.world.rank
        return lambda: {k: v.to(device) for k, v in meta.batch(step, rank).items()}

    def train_step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One SR update on ``batch``; returns what the strategy wants logged."""
        lr = batch["lr"].to(self.device, non_blocking=True)
        hr = batch["hr"].to(self.device, non_blocking=True)
        loss_cfg = self.cfg.train.loss
        ctx = StepContext(step, lr, hr, None, None, self.model, self.optimizer,  # type: ignore[arg-type]
                          self._meta_batch(step), loss_cfg.kind, loss_cfg.eps)  # fmt: skip
        # One forward for both the SR step and the rewards, where the forward can be dual.
        direction = self.strategy.reward_direction(ctx) if self._fused_rewards else None
        if direction is not None:
            ctx.sr, ctx.loss_map, ctx.reward = forward_with_rewards(
                self.model, lr, hr, direction, loss_cfg.kind, loss_cfg.eps
            )
        else:
            with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                enabled=self.cfg.train.bf16):  # fmt: skip
                ctx.sr = self.net(lr)
            ctx.loss_map = pixel_loss_map(ctx.sr, hr, loss_cfg.kind, loss_cfg.eps)
        loss_map = ctx.loss_map
        logs = self.strategy.update(ctx)
        loss = (self.strategy.weights(ctx) * loss_map).mean()
        extra = self.strategy.extra_loss(ctx)
        if extra is not None:
            logs["extra_loss"] = extra.detach()
            loss = loss + extra
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.train.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
            logs["grad_norm"] = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        logs["loss"] = loss.detach()
        logs["l1"] = loss_map.detach().mean()
        return logs

    def _global_mean(self, value: torch.Tensor | float) -> float:
        tensor = torch.as_tensor(value, dtype=torch.float64, device=self.device).detach().clone()
        if self.world.distributed:
            torch.distributed.all_reduce(tensor)
            tensor /= self.world.world_size
        return float(tensor)

    def run(self) -> TrainResult:
        cfg, total = self.cfg, self.cfg.train.steps
        if self.step >= total:
            return self._result({})
        dataset = TrainingPatches.from_config(cfg, self.world.rank, self.world.world_size)
        loader = make_loader(dataset, self.step, total, cfg.data.train.workers)
        show = self.progress and self.world.is_main
        bar = tqdm(total=total, initial=self.step, disable=not show, desc=cfg.name)
        last_val: dict[str, float] = {}
        tick = time.perf_counter()
        try:
            for step, batch in zip(range(self.step, total), loader, strict=False):
                logs = self.train_step(step, batch)
                self.step = step + 1
                bar.update(1)
                if self.step % cfg.train.log_every == 0 or self.step == total:
                    values = {k: self._global_mean(v) for k, v in logs.items()}
                    now = time.perf_counter()
                    values["lr"] = self.optimizer.param_groups[0]["lr"]
                    values["sec_per_step"] = (now - tick) / cfg.train.log_every
                    tick = now
                    self.log.scalars(self.step, values)
                    bar.set_postfix(loss=f"{values['loss']:.4f}", lr=f"{values['lr']:.2e}")
                every = cfg.data.val.every
                if every and (self.step % every == 0 or self.step == total):
                    last_val = self._validate()
                if self.step % cfg.train.checkpoint_every == 0 or self.step == total:
                    self._checkpoint()
        finally:
            bar.close()
            self.log.close()
        return self._result(last_val)

    def _validate(self) -> dict[str, float]:
        scores: dict[str, float] = {}
        if self.world.is_main:
            names = self.meta.names if self.meta is not None else []
            scores = validate(self.inference_model(), self.cfg, self.device, exclude=names,
                              log=self.log, step=self.step)  # fmt: skip
            self.model.train()
            psnr = scores.get("psnr")
            if psnr is not None and (self.best["psnr"] is None or psnr > self.best["psnr"]):
                self.best = {"psnr": psnr, "step": self.step}
                self._save_model(BEST_MODEL, {"srmeta.val_psnr": f"{psnr:.4f}"})
        barrier(self.world)
        return scores

    def _result(self, last_val: dict[str, float]) -> TrainResult:
        return TrainResult(self.run_dir, self.step, self.best["psnr"], self.best["step"], last_val)


def train(cfg: ExperimentConfig, resume: str | None = None, progress: bool = True) -> TrainResult:
    """Train (or continue, with ``resume="auto"``) the run the config describes."""
    trainer = Trainer(cfg, resume=resume, progress=progress)
    try:
        return trainer.run()
    finally:
        shutdown(trainer.world)
