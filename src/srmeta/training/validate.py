"""Validation during training: the published protocol on (parts of) benchmark sets.

Validation reuses :func:`srmeta.evaluation.evaluate`, so the numbers a run logs are computed
exactly like the tables it will later be judged by; ``data.val.crop`` and ``max_images``
trade coverage for speed. Images of the run's meta-dataset are left out.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from srmeta.config import ExperimentConfig
from srmeta.data.benchmarks import HRDataset, find_dataset, load_hr, mod_crop
from srmeta.evaluation import evaluate, run_model
from srmeta.resize import imresize
from srmeta.training.runlog import RunLog


def validation_sets(cfg: ExperimentConfig, exclude: Collection[str] = ()) -> list[HRDataset]:
    """The configured validation sets without meta-dataset images, capped at max_images."""
    sets = []
    for name in cfg.data.val.datasets:
        dataset = find_dataset(name, cfg.data_root)
        files = tuple(f for f in dataset.files if f.stem not in set(exclude))
        sets.append(HRDataset(dataset.name, dataset.folder, files[: cfg.data.val.max_images]))
    return sets


def validate(
    model: nn.Module,
    cfg: ExperimentConfig,
    device: torch.device,
    exclude: Collection[str] = (),
    log: RunLog | None = None,
    step: int = 0,
) -> dict[str, float]:
    """Mean Y-PSNR/SSIM per validation set, plus ``psnr`` (mean over sets) for best-tracking."""
    sets = validation_sets(cfg, exclude)
    report = evaluate(model, sets, [cfg.scale], device=str(device), hr_crop=cfg.data.val.crop,
                      progress=False)  # fmt: skip
    scores: dict[str, float] = {}
    for row in report.summary():
        scores[f"{row.dataset}/psnr"] = row.psnr
        scores[f"{row.dataset}/ssim"] = row.ssim
    per_set = [v for k, v in scores.items() if k.endswith("/psnr")]
    scores["psnr"] = sum(per_set) / len(per_set)
    if log is not None:
        log.scalars(step, scores, kind="val")
        if log.wants_images:
            first = sets[0].files[0]
            lr = imresize(mod_crop(load_hr(first), cfg.scale), 1 / cfg.scale)
            sr = run_model(model, lr, device)
            log.images(step, {first.stem: sr.float() if sr.is_floating_point() else sr / 255})
    return scores
