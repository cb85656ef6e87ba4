"""Small helpers shared by the data tests: exact batch equality and writing test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def same_batch(a: dict, b: dict) -> bool:
    """Bit-for-bit equality of two batches (same keys, equal tensors): determinism's oracle."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def write_png(path: Path, array: np.ndarray) -> Path:
    """Save an array as a PNG, making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path
