"""Benchmark datasets: where they live, which files they hold, and how HR is prepared.

Datasets are found under a *data root* (``--data-root``, else ``SRMETA_DATA``, else a user
cache folder) in either layout ``<root>/<Name>/HR/*.png`` or ``<root>/<Name>/*.png``; any
folder of images can be named by its path instead. Images are never downloaded at run time:
a missing dataset is an error that says where srmeta looked and where to get it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srmeta.cachedirs import user_dir
from srmeta.errors import DatasetError
from srmeta.imageio import read_image

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class DatasetInfo:
    """A known dataset: its canonical name, other names, and where users get it."""

    name: str
    aliases: tuple[str, ...]
    images: int
    role: str
    source: str


KNOWN_DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo("Set5", (), 5, "test", "SRCNN release / CSet5 (lossless PNG)"),
    DatasetInfo("Set14", (), 14, "test", "SRCNN release / CSet14 (lossless PNG)"),
    DatasetInfo("BSD100", ("B100",), 100, "test", "BSDS500 val split, decoded from JPEG"),
    DatasetInfo("Urban100", (), 100, "test", "SelfExSR release, full-resolution HR"),
    DatasetInfo("T91", (), 91, "train", "SRCNN training set (t*.png, tt*.png)"),
    DatasetInfo("General100", (), 100, "train", "FSRCNN's General-100 (im_*.png, from BMP)"),
    DatasetInfo(
        "BSDS400",
        (),
        399,
        "train",
        "BSDS500 train + test splits, original JPEGs (*.jpg); without 302003 (Set5 woman)",
    ),
)


def dataset_info(name: str) -> DatasetInfo | None:
    """The registry entry for a name or alias (case-insensitive), or None."""
    wanted = name.lower()
    for info in KNOWN_DATASETS:
        if wanted == info.name.lower() or wanted in (a.lower() for a in info.aliases):
            return info
    return None


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else ``$SRMETA_DATA``, else ``<user cache>/srmeta/data``."""
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get("SRMETA_DATA")
    return Path(env).expanduser() if env else user_dir() / "data"


@dataclass(frozen=True)
class HRDataset:
    """An ordered list of ground-truth images with a display name."""

    name: str
    folder: Path
    files: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, names: set[str], suffix: str) -> HRDataset:
        """The images whose stem is in ``names``, under ``name + suffix``."""
        files = tuple(f for f in self.files if f.stem in names)
        return HRDataset(self.name + suffix, self.folder, files)


def _image_files(folder: Path) -> tuple[Path, ...]:
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return tuple(sorted(files))


def find_dataset(name: str, data_root: str | os.PathLike | None = None) -> HRDataset:
    """Locate a registered dataset (or alias) under the data root, or a folder by path."""
    info = dataset_info(name)
    if info is None:
        folder = Path(name).expanduser()
        if not folder.is_dir():
            known = ", ".join(i.name for i in KNOWN_DATASETS)
            raise DatasetError(
                f"unknown dataset '{name}': not one of {known} and not a folder of images"
            )
        candidates = [folder / "HR", folder]
        display = folder.name
    else:
        root = resolve_data_root(data_root)
        names = (info.name, *info.aliases)
        candidates = [root / n / "HR" for n in names] + [root / n for n in names]
        display = info.name
    for candidate in candidates:
        if candidate.is_dir():
            files = _image_files(candidate)
            if files:
                return HRDataset(display, candidate, files)
    looked = ", ".join(str(c) for c in candidates)
    hint = (
        f" Get {info.name} ({info.source}) and put its HR images in"
        f" <data root>/{info.name}/HR/; set the data root with --data-root or SRMETA_DATA."
        if info
        else ""
    )
    raise DatasetError(f"dataset '{name}' not found: no images in {looked}.{hint}")


def mod_crop(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Cut right and bottom so height and width are multiples of ``scale`` (the protocol)."""
    h, w = image.shape[-2:]
    return image[..., : h - h % scale, : w - w % scale]


def as_rgb(image: torch.Tensor) -> torch.Tensor:
    """A uint8 ``C x H x W`` with C = 3: gray images are replicated, so batches stack.

    Lives here (not in ``training``) so that both training patches and the meta-set can use
    it without the one importing the other's module in a cycle.
    """
    if image.shape[0] == 3:
        return image
    if image.shape[0] == 1:
        return image.expand(3, -1, -1).contiguous()
    raise DatasetError(f"expected 1 or 3 channels, got {image.shape[0]}")


def load_hr(path: Path, max_pixels: int | None = None) -> torch.Tensor:
    """A ground-truth image as uint8 ``C x H x W`` (C = 1 for gray, 3 for colour).

    Alpha is dropped; 16-bit images are rounded to 8 bits, since the protocol and the
    published tables are defined on 8-bit images.
    """
    image = read_image(path) if max_pixels is None else read_image(path, max_pixels)
    colour = np.array(image.colour_uint8())  # a writable copy for torch
    return torch.from_numpy(colour).permute(2, 0, 1).contiguous()
