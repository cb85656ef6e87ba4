"""The few-shot meta-dataset: a handful of fixed LR-HR pairs that Weight-Net is tuned on.

Meta images must never be scored in evaluation (that would leak the meta objective into the
result), so :attr:`MetaSet.names` exposes their stems for evaluation to refuse them.

Unlike training patches, the meta pairs are *fixed*: each HR image (mod-cropped to the
scale) is degraded once, whole, with degradation index = its position in the set, and
batches are aligned crops of those pairs. A random degradation thus gives each meta image one
fixed LR, as a real few-shot set of pairs would have, and no patch border effects.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from srmeta.config import ConfigError, ExperimentConfig, MetaConfig
from srmeta.data.benchmarks import IMAGE_SUFFIXES, as_rgb, find_dataset, load_hr, mod_crop
from srmeta.data.pairs import Pair, configured_pairs
from srmeta.degradations import AnyDegradation
from srmeta.errors import DatasetError

META_STREAM = 0x6D657461  # "meta": keeps meta draws apart from training draws of equal seeds


def _unique(paths: list[Path], what: str) -> list[Path]:
    seen: set[str] = set()
    for p in paths:
        if p.stem in seen:
            raise DatasetError(f"meta-dataset: {what} names image '{p.stem}' twice")
        seen.add(p.stem)
    return paths


def resolve_meta_files(meta_cfg: MetaConfig, data_root: str | os.PathLike | None) -> list[Path]:
    """The meta images chosen by ``data.meta``.

    ``images``: those files, in the given order. ``folder``: every image in it, sorted.
    ``dataset``: with ``names``, those stems (in dataset order); with ``count``, ``count``
    images drawn without replacement by ``default_rng(seed)`` from the sorted file list and
    returned sorted; with neither, the whole dataset.
    """
    if meta_cfg.pairs is not None:
        return []  # pairs are not pool images: nothing to hold out of the pool
    if meta_cfg.images is not None:
        files = [Path(p).expanduser() for p in meta_cfg.images]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise DatasetError(f"meta-dataset: image(s) not found: {', '.join(missing)}")
        return _unique(files, "data.meta.images")
    if meta_cfg.folder is not None:
        folder = Path(meta_cfg.folder).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"meta-dataset: folder {folder} not found")
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DatasetError(f"meta-dataset: no images in folder {folder}")
        return _unique(files, f"folder {folder}")
    if meta_cfg.dataset is None:
        raise ConfigError("config: data.meta: give exactly one of images, folder or dataset")
    dataset = find_dataset(meta_cfg.dataset, data_root)
    files = sorted(dataset.files)
    if meta_cfg.names is not None:
        by_stem = {p.stem: p for p in files}
        unknown = [n for n in meta_cfg.names if n not in by_stem]
        if unknown:
            raise DatasetError(
                f"meta-dataset: {', '.join(unknown)} not in {dataset.name}"
                f" (available: {', '.join(sorted(by_stem))})"
            )
        if len(set(meta_cfg.names)) != len(meta_cfg.names):
            raise DatasetError("meta-dataset: data.meta.names lists an image twice")
        wanted = set(meta_cfg.names)
        return [p for p in files if p.stem in wanted]
    if meta_cfg.count is not None:
        if meta_cfg.count > len(files):
            raise DatasetError(
                f"meta-dataset: count {meta_cfg.count} exceeds the {len(files)} images"
                f" of {dataset.name}"
            )
        chosen = np.random.default_rng(meta_cfg.seed).choice(
            len(files), meta_cfg.count, replace=False
        )
        return [files[i] for i in sorted(int(i) for i in chosen)]
    return files


class MetaSet:
    """Fixed LR-HR meta pairs (uint8, held in memory) and deterministic batches of crops.

    ``batch(step, rank)`` draws ``batch_size`` crops (image, then LR-grid row and column per
    sample) from ``SeedSequence([seed, step, rank, META_STREAM])``. ``batch_size`` is per
    call, i.e. per rank. Every image must be at least ``patch_size`` in both dimensions: the
    images were chosen by hand, so dropping one silently would change the experiment.
    """

    def __init__(
        self,
        names: list[str],
        lr_images: list[torch.Tensor],
        hr_images: list[torch.Tensor],
        scale: int,
        patch_size: int,
        batch_size: int,
        seed: int,
    ) -> None:
        if patch_size < 1 or patch_size % scale:
            raise ConfigError(
                f"meta patch size {patch_size} must be a positive multiple of scale {scale}"
            )
        if batch_size < 1:
            raise ConfigError(f"meta batch size must be >= 1, got {batch_size}")
        if not names:
            raise DatasetError("meta-dataset: no images")
        self.names = list(names)
        self.lr_images = list(lr_images)
        self.hr_images = list(hr_images)
        self.scale = scale
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.seed = seed
        for name, hr in zip(self.names, self.hr_images, strict=True):
            if min(hr.shape[-2:]) < patch_size:
                raise DatasetError(
                    f"meta-dataset: {name} ({hr.shape[-1]}x{hr.shape[-2]}) is smaller"
                    f" than the {patch_size}-pixel patch; lower data.meta.patch_size"
                )

    @classmethod
    def from_files(
        cls,
        files: list[Path],
        degradation: AnyDegradation,
        scale: int,
        patch_size: int,
        batch_size: int,
        seed: int,
    ) -> MetaSet:
        """HR images (mod-cropped), each degraded once, whole, with index = its position."""
        hr_images = [mod_crop(as_rgb(load_hr(Path(p))), scale).contiguous() for p in files]
        lr_images = [
            degradation.apply(hr, scale, index=i, quantize=True) for i, hr in enumerate(hr_images)
        ]
        names = [Path(p).stem for p in files]
        return cls(names, lr_images, hr_images, scale, patch_size, batch_size, seed)

    @classmethod
    def from_pairs(
        cls, pairs: list[Pair], scale: int, patch_size: int, batch_size: int, seed: int
    ) -> MetaSet:
        """Real pairs, as they are (checked and sized by :mod:`srmeta.data.pairs`)."""
        names = [p.key for p in pairs]
        lr_images, hr_images = [p.lr for p in pairs], [p.hr for p in pairs]
        return cls(names, lr_images, hr_images, scale, patch_size, batch_size, seed)

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> MetaSet | None:
        """The meta set of ``cfg.data.meta``, or None when the config has none."""
        meta = cfg.data.meta
        if meta is None:
            return None
        patch = cfg.meta_patch_size()
        if meta.pairs is not None:
            pairs = configured_pairs(meta.pairs, cfg.scale, min_lr_side=patch // cfg.scale)
            return cls.from_pairs(pairs, cfg.scale, patch, meta.batch_size, meta.seed)
        return cls.from_files(
            resolve_meta_files(meta, cfg.data_root),
            degradation=cfg.meta_degradation(),
            scale=cfg.scale,
            patch_size=patch,
            batch_size=meta.batch_size,
            seed=meta.seed,
        )

    def __len__(self) -> int:
        return len(self.names)

    def batch(self, step: int, rank: int = 0) -> dict[str, torch.Tensor]:
        """``lr`` float32 ``B x 3 x p/s x p/s`` and ``hr`` float32 ``B x 3 x p x p`` in [0, 1]."""
        if step < 0 or rank < 0:
            raise ValueError(f"step and rank must be >= 0, got {step} and {rank}")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, step, rank, META_STREAM]))
        s, lp = self.scale, self.patch_size // self.scale
        lrs, hrs = [], []
        for _ in range(self.batch_size):
            i = int(rng.integers(len(self.names)))
            lr = self.lr_images[i]
            top = int(rng.integers(lr.shape[-2] - lp + 1))
            left = int(rng.integers(lr.shape[-1] - lp + 1))
            lrs.append(lr[:, top : top + lp, left : left + lp])
            hrs.append(self.hr_images[i][:, top * s : (top + lp) * s, left * s : (left + lp) * s])
        return {
            "lr": torch.stack(lrs).to(torch.float32) / 255.0,
            "hr": torch.stack(hrs).to(torch.float32) / 255.0,
        }
