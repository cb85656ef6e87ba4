"""The training loop: config in, run folder out.

Every step: a batch that is a pure function of (seed, step) -> SR forward (carrying the
rewards as a forward-mode tangent when a meta strategy asks for them) -> per-pixel loss
map -> the weighting strategy's ``update`` and ``weights`` -> weighted mean -> optimizer
step -> schedule -> EMA. Validation uses the published protocol (:mod:`srmeta.evaluation`),
checkpoints hold the complete state, and ``resume="auto"`` continues a killed run to the
same weights an uninterrupted one reaches (bitwise on CPU with deterministic settings).

Options that change what a step trains on or with, all decided here rather than in each
strategy: ``train.init_from`` warm-starts the weights (only) from a model file or run;
``train.weighting.start_step`` runs plain uniform steps, with no strategy work at all, until
that step; ``data.meta.mix`` turns the meta images into training data (``add`` appends each
step's meta batch, ``only`` trains on it alone), the baselines a meta weighting must beat.
Where the data marks corrupted HR targets (``batch["corrupt"]``), the log reports how much
of the loss weight went to them (:func:`corrupt_weight_sums`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from srmeta import checkpoints as ckpt
from srmeta.atomic import atomic_write_text
from srmeta.config import (
    ExperimentConfig,
    config_to_dict,
    config_to_yaml,
    resolved_device,
    resolved_output_dir,
)
from srmeta.data.meta import MetaSet
from srmeta.data.pairs import checked_run_pairs
from srmeta.data.training import TrainingPatches, make_loader
from srmeta.errors import SrmetaError
from srmeta.evaluation import check_image_sizes
from srmeta.losses import PixelLoss
from srmeta.models.descriptor import model_info
from srmeta.models.files import (
    provenance,
    save_model_file,
)
from srmeta.models.loading import load_model
from srmeta.run_hash import config_hash, recipe_hash
from srmeta.training.batches import step_batch
from srmeta.training.corruption_log import corrupt_shares, corrupt_weight_sums
from srmeta.training.distributed import (
    World,
    barrier,
    global_mean,
    init_world,
    rank_device,
    shutdown,
)
from srmeta.training.resume import check_config, load_resume_state
from srmeta.training.runlog import RunLog, truncate_after
from srmeta.training.schedule import build_optimizer, build_scheduler
from srmeta.training.validate import validate, validation_sets
from srmeta.training.warm_start import LAST_MODEL, load_warm_start, warm_start_path
from srmeta.weighting import StepContext, StepInputs, Uniform, build_strategy, weigh
from srmeta.weighting.base import Logs
from srmeta.weighting.reward import difference_rewards, forward_with_rewards

BEST_MODEL = "model_best.safetensors"
CORRUPTION_FILE = "corruption.json"


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

    def __init__(self, cfg: ExperimentConfig, resume: str | None = None, progress: bool = False):
        self.cfg = cfg
        self.progress = progress
        device = resolved_device(cfg)
        self.world: World = init_world(device)
        self.device = rank_device(device, self.world)
        self.run_dir = resolved_output_dir(cfg)
        self.hash = config_hash(cfg)
        self.recipe = recipe_hash(cfg)
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        random.seed(cfg.seed)

        self.model: nn.Module = load_model(cfg.model.arch, cfg.scale, **cfg.model.options)
        info = model_info(self.model)
        if info is not None and not info.needs_weights:
            raise SrmetaError(f"model.arch: {info.arch} has no weights to train")
        if cfg.train.bf16 and info is not None and not info.supports_bf16:
            raise SrmetaError(f"train.bf16: {info.arch} does not run under bf16")
        resume_path = self._resume_path(resume)
        # A resumed run's checkpoint holds the weights (and the record of init_from).
        self.init_from: dict[str, Any] | None = None
        if resume_path is None and cfg.train.init_from is not None:
            self.init_from = self._warm_start(cfg.train.init_from)
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
        # Pairs it trains on or selects its weights with: checked now, and not test images.
        self._selection_pairs = checked_run_pairs(cfg)
        if cfg.data.val.every:  # a too-small validation image must not end the run mid-way
            check_image_sizes(validation_sets(cfg, ()), [cfg.scale], cfg.data.val.crop)
        if self.strategy.needs_meta and self.meta is None:
            raise SrmetaError(f"weighting '{weighting.name}' needs data.meta (a meta-dataset)")
        self._mix = cfg.data.meta.mix if cfg.data.meta is not None else "none"
        self._uniform = Uniform()  # the weighting before train.weighting.start_step
        # Per logging window, summed over steps: see corrupt_weight_sums.
        self._corrupt_window = torch.zeros(4, dtype=torch.float64, device=self.device)
        # The dual forward bypasses DDP's hooks and would carry bf16 tangents: plain jvp there.
        self._fused_rewards = not self.world.distributed and not cfg.train.bf16
        self.step = 0
        self.best: dict[str, Any] = {"psnr": None, "step": None}
        self.log = RunLog(self.run_dir, enabled=self.world.is_main)
        self._start(resume_path, auto=resume == "auto")

    # -- state -------------------------------------------------------------------------
    def _resume_path(self, resume: str | None) -> Path | None:
        """The checkpoint to continue from; refuses to start afresh over an existing run."""
        path = ckpt.find_resume_state(self.run_dir, resume)
        if path is None:
            existing = ckpt.list_states(self.run_dir)
            if existing:
                raise SrmetaError(
                    f"{self.run_dir} already holds a run (checkpoint at step {existing[-1][0]});"
                    " continue it with --resume auto or set another output_dir"
                )
        return path

    def _warm_start(self, source: str) -> dict[str, Any]:
        """Load ``train.init_from``'s weights (a file, run folder or bundled model name) into
        the fresh model (see :mod:`warm_start`)."""
        cfg = self.cfg
        path = warm_start_path(source, cfg.scale)
        return load_warm_start(self.model, cfg.model.arch, cfg.scale, cfg.model.options, path)

    def excluded_images(self) -> list[str]:
        """Image stems evaluation must not score: this run's meta images, the pairs it
        trains on or validates with, and those the ``init_from`` weights were trained with."""
        names = list(self.meta.names) if self.meta is not None else []
        inherited = self.init_from["meta_images"] if self.init_from is not None else []
        return list(dict.fromkeys([*names, *self._selection_pairs, *inherited]))

    def _start(self, path: Path | None, auto: bool) -> None:
        if path is not None:
            self._restore(load_resume_state(self.run_dir, path, auto, self.device))
            if self.world.is_main:
                truncate_after(self.log.path, self.step)
        if self.world.is_main:
            atomic_write_text(self.run_dir / "config.yaml", config_to_yaml(self.cfg), force=True)

    def _restore(self, state: dict[str, Any]) -> None:
        check_config(state, self.run_dir, config_to_dict(self.cfg), self.hash)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.strategy.load_state_dict(state["weighting"])
        ckpt.restore_rng(state["rng"])
        self.step = int(state["step"])
        self.best = dict(state["best"])
        self.init_from = state.get("init_from")

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "config_hash": self.hash,
            "config": config_to_dict(self.cfg),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "weighting": self.strategy.state_dict(),
            "rng": ckpt.rng_state(),
            "best": self.best,
            "init_from": self.init_from,
        }

    def inference_model(self) -> nn.Module:
        """The weights to evaluate and ship: the EMA average when enabled."""
        return self.ema.module if self.ema is not None else self.model

    def _save_model(self, name: str, extra: dict[str, str]) -> None:
        init_from = self.init_from["file"] if self.init_from is not None else None
        meta = provenance(self.hash, self.recipe, self.step, self.excluded_images(), init_from)
        meta.update(extra)
        save_model_file(
            self.run_dir / name,
            self.inference_model(),
            arch=self.cfg.model.arch,
            scale=self.cfg.scale,
            options=dict(self.cfg.model.options),
            metadata=meta,
            force=True,
        )

    def _checkpointed_step(self) -> int:
        states = ckpt.list_states(self.run_dir)
        return states[-1][0] if states else 0

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

    def train_step(self, step: int, batch: dict[str, torch.Tensor]) -> Logs:
        """One SR update on ``batch``; returns what the strategy wants logged."""
        extra = None  # under data.meta.mix: add, the meta batch joins the SR batch
        if self._mix == "add" and self.meta is not None:
            extra = self.meta.batch(step, self.world.rank)
        lr, hr, corrupt = step_batch(batch, self.device, extra)
        pixel_loss = PixelLoss(self.cfg.train.loss.kind, self.cfg.train.loss.eps)
        inputs = StepInputs(
            step,
            lr,
            hr,
            self.model,
            self.optimizer,
            self._meta_batch(step),
            pixel_loss,
            corrupt,
        )
        # Before start_step the base weighting stands in: uniform, no rewards, no learning.
        started = step >= self.cfg.train.weighting.start_step
        strategy = self.strategy if started else self._uniform
        # One forward for both the SR step and the rewards, where the forward can be dual.
        direction = strategy.reward_direction(inputs) if self._fused_rewards else None
        reward = None
        if direction is not None and strategy.reward_method == "jvp":
            sr, loss_map, reward = forward_with_rewards(self.model, lr, hr, direction, pixel_loss)
        else:
            with torch.autocast(
                self.device.type, dtype=torch.bfloat16, enabled=self.cfg.train.bf16
            ):
                sr = self.net(lr)
            loss_map = pixel_loss(sr, hr)
            if direction is not None:  # fd: the difference from the output just computed
                batch = {"lr": lr, "hr": hr}
                reward = difference_rewards(self.model, batch, direction, pixel_loss, sr)
        result = weigh(strategy, StepContext.after_forward(inputs, sr, loss_map, reward))
        logs, weights = result.logs, result.weights
        loss = (weights * loss_map).mean()
        self._corrupt_window += corrupt_weight_sums(weights.expand_as(loss_map), corrupt)
        if result.extra_loss is not None:
            logs["extra_loss"] = result.extra_loss.detach()
            loss = loss + result.extra_loss
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

    def run(self) -> TrainResult:
        cfg, total = self.cfg, self.cfg.train.steps
        if self.step >= total:
            return self._result({})
        loader = self._batches()
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
                    values = {k: global_mean(v, self.world, self.device) for k, v in logs.items()}
                    values.update(self._corrupt_log())
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
        except KeyboardInterrupt:  # keep the steps done (one process: no peers to wait for)
            if not self.world.distributed and self.step > self._checkpointed_step():
                self._checkpoint()
            raise
        finally:
            bar.close()
            self.log.close()
        return self._result(last_val)

    def _batches(self) -> Iterable[dict[str, torch.Tensor]]:
        """The batches of steps ``self.step..steps-1``: training patches, or under
        ``data.meta.mix: only`` the meta batches alone (the pool is then not even loaded)."""
        total, rank = self.cfg.train.steps, self.world.rank
        if self._mix == "only" and self.meta is not None:
            meta = self.meta
            return (meta.batch(step, rank) for step in range(self.step, total))
        dataset = TrainingPatches.from_config(self.cfg, rank, self.world.world_size)
        if self.world.is_main:
            text = json.dumps(dataset.corruption_record(), indent=2, sort_keys=True) + "\n"
            atomic_write_text(self.run_dir / CORRUPTION_FILE, text, force=True)
        return make_loader(dataset, self.step, total, self.cfg.data.train.workers)

    def _corrupt_log(self) -> dict[str, float]:
        """The window's corrupt shares (summed over ranks), then a fresh window.

        Every rank reduces every time, so the collective never depends on local data. A
        window cut by a resume covers only its steps after the resume.
        """
        window = self._corrupt_window.clone()
        if self.world.distributed:
            torch.distributed.all_reduce(window)
        self._corrupt_window.zero_()
        return corrupt_shares(window)

    def _validate(self) -> dict[str, float]:
        scores: dict[str, float] = {}
        if self.world.is_main:
            names = self.excluded_images()
            scores = validate(
                self.inference_model(),
                self.cfg,
                self.device,
                exclude=names,
                log=self.log,
                step=self.step,
            )
            self.model.train()
            psnr = scores.get("psnr")
            if psnr is not None and (self.best["psnr"] is None or psnr > self.best["psnr"]):
                self.best = {"psnr": psnr, "step": self.step}
                self._save_model(BEST_MODEL, {"srmeta.val_psnr": f"{psnr:.4f}"})
        barrier(self.world)
        return scores

    def _result(self, last_val: dict[str, float]) -> TrainResult:
        return TrainResult(self.run_dir, self.step, self.best["psnr"], self.best["step"], last_val)


def train(cfg: ExperimentConfig, resume: str | None = None, progress: bool = False) -> TrainResult:
    """Train (or continue, with ``resume="auto"``) the run the config describes.

    ``train.deterministic`` holds for this run only: the caller's setting comes back after."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        trainer = Trainer(cfg, resume=resume, progress=progress)
        try:
            return trainer.run()
        finally:
            world = trainer.world
            del trainer  # its DDP wrapper must be gone before the group is (see shutdown)
            shutdown(world)
    finally:
        torch.use_deterministic_algorithms(deterministic)
