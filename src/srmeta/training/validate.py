"""Validation during training: the published protocol on (parts of) benchmark sets.

Validation reuses :func:`srmeta.evaluation.evaluate` under :data:`VALIDATION_PROTOCOL`, so the
numbers a run logs are computed exactly like the tables it will later be judged by, LR
included: the protocol's degradation (MATLAB bicubic, the benchmark LR; the config has no
validation degradation, and ``data.train.degradation`` makes training patches only). The
images logged for viewing get their LR from the same protocol. ``data.val.crop`` and
``max_images`` trade coverage for speed. Images of the run's meta-dataset are left out.
Held-out real pairs (``data.val.pairs``) are scored as the set ``pairs``, on their own LR.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from srmeta.config import ExperimentConfig
from srmeta.data.benchmarks import HRDataset, find_dataset, load_hr, mod_crop
from srmeta.data.pairs import PairDataset
from srmeta.evaluation import evaluate, run_model, takes_rgb
from srmeta.protocol import RGB, EvalProtocol
from srmeta.training.runlog import RunLog

VALIDATION_PROTOCOL: EvalProtocol = RGB
"""How validation scores are computed: the default protocol of ``srmeta eval``."""


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
    protocol = VALIDATION_PROTOCOL
    sets: list[HRDataset | PairDataset] = list(validation_sets(cfg, exclude))
    if cfg.data.val.pairs is not None:
        sets.append(PairDataset.from_config(cfg.data.val.pairs, name="pairs"))
    report = evaluate(
        model,
        sets,
        [cfg.scale],
        protocol=protocol,
        device=str(device),
        hr_crop=cfg.data.val.crop,
        progress=False,
    )
    scores: dict[str, float] = {}
    for row in report.summary():
        scores[f"{row.dataset}/psnr"] = row.psnr
        scores[f"{row.dataset}/ssim"] = row.ssim
    per_set = [v for k, v in scores.items() if k.endswith("/psnr")]
    scores["psnr"] = sum(per_set) / len(per_set)
    if log is not None:
        log.scalars(step, scores, kind="val")
        if log.wants_images and isinstance(sets[0], HRDataset):
            first = sets[0].files[0]
            hr = protocol.ground_truth(mod_crop(load_hr(first), cfg.scale), takes_rgb(model))
            sr = run_model(model, protocol.make_lr(hr, cfg.scale, first.stem), device)
            log.images(step, {first.stem: sr.float() if sr.is_floating_point() else sr / 255})
    return scores
