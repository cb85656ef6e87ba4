"""A disk cache of LR images, keyed by dataset folder, degradation (with its seed) and scale.

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

from srmeta.data.benchmarks import HRDataset, load_hr, user_cache_dir
from srmeta.degrade import Degradation
from srmeta.imageio import from_tensor, write_image


def default_cache_dir() -> Path:
    """``$SRMETA_CACHE`` or ``<user cache>/lr``."""
    env = os.environ.get("SRMETA_CACHE")
    return Path(env).expanduser() if env else user_cache_dir() / "lr"


class LRCache:
    """LR images stored as 8-bit PNG under ``root``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(
        self, dataset: HRDataset, image: Path, scale: int, degradation: Degradation
    ) -> Path:
        folder_key = hashlib.sha256(str(dataset.folder.resolve()).encode()).hexdigest()[:8]
        return (
            self.root
            / f"{dataset.name}-{folder_key}"
            / f"{degradation.name}-{degradation.key()}"
            / f"x{scale}"
            / f"{image.stem}.png"
        )

    def get(
        self,
        dataset: HRDataset,
        image: Path,
        scale: int,
        degradation: Degradation,
        make: Callable[[], torch.Tensor],
    ) -> torch.Tensor:
        """The cached uint8 LR, or ``make()``'s result, stored for next time."""
        path = self.path_for(dataset, image, scale, degradation)
        if path.is_file():
            return load_hr(path)
        lr = make()
        colour = lr.to(torch.float32) / 255.0
        write_image(path, from_tensor(colour, None), force=True)
        return lr
