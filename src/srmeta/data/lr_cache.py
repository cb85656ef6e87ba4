"""A disk cache of LR images, keyed by dataset folder, degradation (with its seed), scale and
channel count (a gray HR image is degraded as one plane for gray models and as three
replicated planes for RGB models; the two LRs are different files).

Random degradations are expensive to reproduce by hand and must be identical between the
runs being compared; caching the LR PNGs makes both cheap. Writes are atomic, so an
interrupted run never leaves a half-written LR behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import torch

from srmeta.cachedirs import cache_dir
from srmeta.data.benchmarks import HRDataset, load_hr
from srmeta.degradations import AnyDegradation
from srmeta.imageio import from_tensor, write_image


def default_cache_dir() -> Path:
    """``<cache root>/lr`` (:mod:`srmeta.cachedirs`)."""
    return cache_dir("lr")


class LRCache:
    """LR images stored as 8-bit PNG under ``root``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(
        self,
        dataset: HRDataset,
        image: Path,
        scale: int,
        degradation: AnyDegradation,
        channels: int = 3,
    ) -> Path:
        folder_key = hashlib.sha256(str(dataset.folder.resolve()).encode()).hexdigest()[:8]
        name = f"{image.stem}.png" if channels == 3 else f"{image.stem}.c{channels}.png"
        return (
            self.root
            / f"{dataset.name}-{folder_key}"
            / f"{degradation.name}-{degradation.key()}"
            / f"x{scale}"
            / name
        )

    def get(
        self,
        dataset: HRDataset,
        image: Path,
        scale: int,
        degradation: AnyDegradation,
        make: Callable[[], torch.Tensor],
        channels: int = 3,
    ) -> torch.Tensor:
        """The cached uint8 LR with ``channels`` planes, or ``make()``'s result, stored for
        next time. A cached file with another channel count (written by an older srmeta,
        whose key lacked it) is made again and replaced."""
        path = self.path_for(dataset, image, scale, degradation, channels)
        if path.is_file():
            cached = load_hr(path)
            if cached.shape[0] == channels:
                return cached
        lr = make()
        colour = lr.to(torch.float32) / 255.0
        write_image(path, from_tensor(colour, None), force=True)
        return lr
