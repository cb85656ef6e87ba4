"""Step-indexed training patches: batch ``step`` is a pure function of ``(seed, step)``.

A resumed run must see exactly the batches an uninterrupted run would have seen, whatever the
number of loader workers and however many times it was restarted. Keeping any random state
in the dataset or the workers makes that fragile (worker seeds, prefetch order, skipped
batches), so nothing is kept: ``dataset[step]`` draws every choice (which images, crop
offsets, flips / rotations) from ``np.random.default_rng(SeedSequence([seed, step, 0]))``,
and a loader for steps ``start..steps-1`` simply asks for those indices in order.

With ``world_size`` ranks, every rank draws the same plan for the whole global batch from
that generator (a few integers per sample, so cheap) and builds only its own slice:
rank ``r`` gets samples ``r * B/W .. (r + 1) * B/W - 1``. Ranks therefore see disjoint shards,
and the union over ranks is exactly the single-process batch, so a DDP run matches a
one-process run with the same global batch, and a run may resume on another number of GPUs.
(The trailing 0 is the stream a single process, rank 0 of 1, uses.)

Draw order per sample of the global batch (part of the format; changing it changes every
run): image index, crop row, crop column, dihedral transform (drawn even without
augmentation, so switching augmentation off keeps the same crops).

Real pairs (``data.train.pairs``, :mod:`srmeta.data.pairs`) join the pool after its images;
their crops are drawn on the LR grid (row and column in LR pixels, times the scale) and
their LR patch is cut from the pair's own LR, never made by the degradation.

The degradation of global sample ``j`` of ``step`` uses image index ``step * batch_size + j``:
a global sample counter, unique per (step, rank, b) and returned as ``index``. Random
degradations therefore follow the degradation's own ``seed:`` (vary it to change the draws),
not the experiment seed.

The pool is the configured datasets in order, less images smaller than the patch
(:attr:`TrainingPatches.skipped`) and less the meta-dataset's images
(:attr:`TrainingPatches.held_out`): a meta image that is also trained on would leak the meta
objective into the training loss. With ``data.train.corrupt``, a seeded fixed subset of the
pool has its HR *target* corrupted once at load time (:mod:`srmeta.data.corrupt`); the LR
input is still made from the clean HR crop and the target is the same crop of the corrupted
image, so only the label is wrong. Corruption adds no draws to the batch generator, so the
plan (and the LR) of every step is the same with and without it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from srmeta.config import ConfigError, CorruptConfig, ExperimentConfig
from srmeta.data.benchmarks import as_rgb, find_dataset, load_hr
from srmeta.data.corrupt import CORRUPT_STREAM, corrupt_image, corrupted_indices
from srmeta.data.meta import resolve_meta_files
from srmeta.data.pairs import Pair, configured_pairs
from srmeta.degradations import AnyDegradation
from srmeta.errors import DatasetError

STEPS_LIMIT = 2**31 - 1
"""``len(TrainingPatches)``: the step index space; loaders pick a range out of it."""


__all__ = [
    "STEPS_LIMIT",
    "StepSampler",
    "TrainingPatches",
    "as_rgb",
    "dihedral",
    "make_loader",
    "qualified_name",
]


def qualified_name(path: Path) -> str:
    """``<dataset folder>/<stem>`` (``T91/t1`` for ``T91/HR/t1.png``): stems alone may clash."""
    folder = path.parent.parent if path.parent.name == "HR" else path.parent
    return f"{folder.name}/{path.stem}"


def dihedral(image: torch.Tensor, transform: int) -> torch.Tensor:
    """One of the 8 symmetries of the square: bit 0 flips columns, bit 1 rows, bit 2 transposes.

    All 8 combinations are distinct and equally likely when ``transform`` is uniform in 0..7,
    which is the same distribution as independent h-flip, v-flip and rot90 coin tosses.
    """
    if transform & 1:
        image = image.flip(-1)
    if transform & 2:
        image = image.flip(-2)
    if transform & 4:
        image = image.transpose(-1, -2)
    return image


def _check_geometry(scale: int, patch_size: int, batch_size: int, world_size: int) -> None:
    if patch_size < 1 or patch_size % scale:
        raise ConfigError(f"patch size {patch_size} must be a positive multiple of scale {scale}")
    if world_size < 1 or batch_size < world_size or batch_size % world_size:
        raise ConfigError(
            f"batch size {batch_size} must be a positive multiple of world size {world_size}"
        )


def _named_files(files: Sequence[Path], stems: Sequence[str]) -> list[Path]:
    """The pool files whose stem is in ``stems``; a stem the pool lacks is an error (a typo
    would otherwise train on the image it meant to hold out)."""
    wanted = set(stems)
    found = [f for f in files if Path(f).stem in wanted]
    missing = sorted(wanted - {Path(f).stem for f in found})
    if missing:
        raise DatasetError(f"data.train.exclude: not an image of the pool: {', '.join(missing)}")
    return found


class TrainingPatches(Dataset):
    """Random HR/LR patch batches; ``dataset[step]`` is the whole per-rank batch of ``step``.

    All HR images are decoded once into a list of uint8 tensors (T91 is 16 MB; DIV2K's 800
    images would be about 2.8 GB, so use a subset or crops there). Images smaller than the
    patch in either dimension are skipped (listed in :attr:`skipped`); none left is an error.
    Gray images are replicated to 3 channels. With ``world_size`` ranks, each rank gets its
    own ``batch_size // world_size`` samples of the step's global batch (module docstring).

    Files in ``exclude`` (compared as resolved paths) are left out and listed in
    :attr:`held_out`. With ``corrupt``, :attr:`corrupted` flags the pool images whose target
    is corrupted, :attr:`corruption_params` holds what was drawn for each (None if clean),
    and :meth:`corruption_record` is the JSON-safe record of both.
    """

    def __init__(
        self,
        files: Sequence[Path],
        scale: int,
        patch_size: int,
        batch_size: int,
        degradation: AnyDegradation,
        augment: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        corrupt: CorruptConfig | None = None,
        exclude: Collection[Path] = (),
        pairs: Sequence[Pair] = (),
    ) -> None:
        _check_geometry(scale, patch_size, batch_size, world_size)
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} outside 0..{world_size - 1}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.scale = scale
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.per_rank = batch_size // world_size
        self.degradation = degradation
        self.augment = augment
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.corrupt = corrupt
        self.files: list[Path] = []
        self.skipped: list[Path] = []
        self.held_out: list[Path] = []
        self.images: list[torch.Tensor] = []
        excluded = {Path(p).resolve() for p in exclude}
        for path in files:
            if Path(path).resolve() in excluded:
                self.held_out.append(Path(path))
                continue
            image = load_hr(Path(path))
            if min(image.shape[-2:]) < patch_size:
                self.skipped.append(Path(path))
                continue
            self.files.append(Path(path))
            self.images.append(as_rgb(image))
        if not self.images:
            raise DatasetError(
                f"no training image is at least {patch_size}x{patch_size} pixels"
                f" ({len(self.skipped)} given); lower data.train.patch_size"
            )
        self.dropped: list[Path] = []
        if corrupt is not None and corrupt.drop:
            chosen = set(corrupted_indices(len(self.images), corrupt))
            self.dropped = [f for i, f in enumerate(self.files) if i in chosen]
            self.files = [f for i, f in enumerate(self.files) if i not in chosen]
            self.images = [im for i, im in enumerate(self.images) if i not in chosen]
            if not self.images:
                raise DatasetError("data.train.corrupt.drop left no training image")
        # Targets alias the clean images except where corrupted (a copy only for those).
        self.targets: list[torch.Tensor] = list(self.images)
        self.corrupted: list[bool] = [False] * len(self.images)
        self.corruption_params: list[dict[str, Any] | None] = [None] * len(self.images)
        if corrupt is not None and not corrupt.drop:
            for i in corrupted_indices(len(self.images), corrupt):
                self.targets[i], self.corruption_params[i] = corrupt_image(
                    self.images[i], corrupt, i
                )
                self.corrupted[i] = True
        # Real pairs follow the pool: their crops sit on the LR grid, their LR is their own.
        self.fixed_lr: list[torch.Tensor | None] = [None] * len(self.images)
        self.pair_names = [p.name for p in pairs]
        for pair in pairs:
            if min(pair.hr.shape[-2:]) < patch_size:
                raise DatasetError(
                    f"pairs: {pair.name} is smaller than the {patch_size}-pixel patch"
                )
            self.images.append(pair.hr)
            self.targets.append(pair.hr)
            self.fixed_lr.append(pair.lr)
            self.corrupted.append(False)
            self.corruption_params.append(None)

    @classmethod
    def from_config(
        cls, cfg: ExperimentConfig, rank: int = 0, world_size: int = 1
    ) -> TrainingPatches:
        """The training patches of ``cfg.data.train`` (datasets concatenated in order), less
        the images of ``cfg.data.meta`` (held out) and with ``data.train.corrupt`` applied."""
        train = cfg.data.train
        files = [f for name in train.datasets for f in find_dataset(name, cfg.data_root).files]
        pairs = []
        if train.pairs is not None:
            pairs = configured_pairs(train.pairs, cfg.scale, train.patch_size // cfg.scale)
        meta = cfg.data.meta
        exclude = resolve_meta_files(meta, cfg.data_root) if meta is not None else []
        if train.exclude is not None:
            exclude += _named_files(files, train.exclude)
        return cls(
            files,
            scale=cfg.scale,
            patch_size=train.patch_size,
            batch_size=train.batch_size,
            degradation=cfg.train_degradation(),
            augment=train.augment,
            seed=cfg.seed,
            rank=rank,
            world_size=world_size,
            corrupt=train.corrupt,
            exclude=exclude,
            pairs=pairs,
        )

    def corruption_record(self) -> dict[str, Any]:
        """What the pool is and which targets are corrupted, JSON-safe, to save with a run.

        Which images are corrupted follows from the config and the pool alone, but the pool
        depends on the files found under the data root, so a run records the outcome.
        """
        chosen = [i for i, flag in enumerate(self.corrupted) if flag]
        return {
            "pool_size": len(self.files),
            "pairs": list(self.pair_names),
            "corrupt": None if self.corrupt is None else self.corrupt.model_dump(mode="json"),
            "stream": CORRUPT_STREAM,
            "corrupted": [self.files[i].stem for i in chosen],
            "corrupted_names": [qualified_name(self.files[i]) for i in chosen],
            "params": [
                {"name": qualified_name(self.files[i]), **(self.corruption_params[i] or {})}
                for i in chosen
            ],
            "held_out": [qualified_name(p) for p in self.held_out],
            "skipped": [qualified_name(p) for p in self.skipped],
            "dropped": [qualified_name(p) for p in self.dropped],
        }

    def __len__(self) -> int:
        return STEPS_LIMIT

    def rng(self, step: int) -> np.random.Generator:
        """The generator the whole global batch of ``step`` is drawn from (same on every rank)."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, step, 0]))

    def first_index(self, step: int) -> int:
        """Global position (and degradation index) of this rank's first sample of ``step``."""
        return step * self.batch_size + self.rank * self.per_rank

    def plan(self, step: int) -> list[tuple[int, int, int, int]]:
        """``(image, top, left, transform)`` for each sample of the *global* batch of ``step``."""
        rng = self.rng(step)
        p = self.patch_size
        out = []
        s = self.scale
        for _ in range(self.batch_size):
            i = int(rng.integers(len(self.images)))
            height, width = self.images[i].shape[-2:]
            if self.fixed_lr[i] is None:
                top = int(rng.integers(height - p + 1))
                left = int(rng.integers(width - p + 1))
            else:  # a real pair: the crop must fall on its LR's grid
                top = s * int(rng.integers((height - p) // s + 1))
                left = s * int(rng.integers((width - p) // s + 1))
            out.append((i, top, left, int(rng.integers(8))))
        return out

    def rank_plan(self, step: int) -> list[tuple[int, int, int, int]]:
        """This rank's slice of :meth:`plan`."""
        first = self.rank * self.per_rank
        return self.plan(step)[first : first + self.per_rank]

    def _cut(
        self, images: list[torch.Tensor], plan: list[tuple[int, int, int, int]]
    ) -> torch.Tensor:
        p = self.patch_size
        patches = []
        for i, top, left, transform in plan:
            patch = images[i][:, top : top + p, left : left + p]
            patches.append(dihedral(patch, transform) if self.augment else patch)
        return torch.stack(patches)

    def hr_patches(self, step: int) -> torch.Tensor:
        """This rank's clean uint8 ``B/W x 3 x p x p`` HR patches of ``step`` (augmented)."""
        return self._cut(self.images, self.rank_plan(step))

    def target_patches(self, step: int) -> torch.Tensor:
        """The same crops of the targets: :meth:`hr_patches` except on corrupted images."""
        return self._cut(self.targets, self.rank_plan(step))

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        """``lr`` float32 ``B x 3 x p/s x p/s`` (from the clean HR), ``hr`` float32
        ``B x 3 x p x p`` (the target, corrupted where flagged; both [0, 1]), ``index`` int64
        ``B`` (the degradation index of each sample), ``corrupt`` bool ``B`` (whether the
        sample's target is corrupted; all False without ``data.train.corrupt``)."""
        step = int(step)
        if not 0 <= step < STEPS_LIMIT:
            raise IndexError(f"step {step} outside 0..{STEPS_LIMIT - 1}")
        plan = self.rank_plan(step)
        hr = self._cut(self.images, plan)
        flags = [self.corrupted[i] for i, *_ in plan]
        target = self._cut(self.targets, plan) if any(flags) else hr
        first = self.first_index(step)
        lr = self.degradation.apply(hr, self.scale, index=first, quantize=True)
        for j, (i, top, left, transform) in enumerate(plan):
            own = self.fixed_lr[i]
            if own is not None:
                s, lp = self.scale, self.patch_size // self.scale
                patch = own[:, top // s : top // s + lp, left // s : left // s + lp]
                lr[j] = dihedral(patch, transform) if self.augment else patch
        return {
            "lr": lr.to(torch.float32) / 255.0,
            "hr": target.to(torch.float32) / 255.0,
            "index": torch.arange(first, first + self.per_rank, dtype=torch.int64),
            "corrupt": torch.tensor(flags, dtype=torch.bool),
        }


class StepSampler(Sampler[int]):
    """Steps ``start..stop-1`` in order: the loader's whole notion of progress."""

    def __init__(self, start: int, stop: int) -> None:
        self.start = start
        self.stop = stop

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def make_loader(dataset: TrainingPatches, start_step: int, steps: int, workers: int) -> DataLoader:
    """A loader yielding the batches of steps ``start_step..steps-1`` in order.

    Worker seeding does not matter (every draw follows from the step), and workers return
    batches in sampler order, so any ``workers`` gives the same sequence.
    """
    if not 0 <= start_step <= steps:
        raise ValueError(f"need 0 <= start_step <= steps, got {start_step} and {steps}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=StepSampler(start_step, steps),
        num_workers=workers,
        persistent_workers=workers > 0,
    )
