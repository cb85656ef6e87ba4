"""Real LR-HR pairs from a camera: finding them, checking them, and lining them up.

A user's pairs come in one of two layouts: one folder of ``<name>L.<ext>`` / ``<name>H.<ext>``
files (City100's layout), or an LR folder and an HR folder whose files share stems. Their LR
is either smaller than the HR by the scale, or the same size as the HR (a wide-angle shot
aligned to the telephoto one, as City100's): then it is cropped to a multiple of the scale
and shrunk by it with MATLAB bicubic (:func:`srmeta.resize.imresize` on uint8), so the model
gets an LR of the size it upscales from and the HR stays the untouched target.

Every pair is checked before any training or scoring (:func:`load_pair`): sizes must fit the
scale, and the LR must show the same view as the HR. The check estimates the global motion
from LR to HR (a shift and a small zoom, :mod:`srmeta.data.registration`); a pair whose images
do not correlate, or whose motion is beyond what resampling should fix, is an error naming
its file. A pair off by a measurable sub-pixel amount is registered: its LR is resampled onto
the HR's grid and both are cropped by the border the motion uncovered. The HR is never
resampled, because it is the target every score is taken against.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from srmeta.config import ExperimentConfig, PairsConfig
from srmeta.data.benchmarks import IMAGE_SUFFIXES, as_rgb, load_hr, mod_crop
from srmeta.data.registration import Motion, estimate_motion, warp_onto
from srmeta.errors import DatasetError
from srmeta.resize import imresize

_PAIR_FILE = re.compile(r"^(?P<name>.+?)(?P<side>[LH])$", re.IGNORECASE)

# Motion at or below this (LR pixels, anywhere in the image) is left alone: resampling would
# soften the LR more than such a shift misaligns it.
REGISTER_ABOVE = 0.5
MAX_SHIFT_FRACTION = 0.05  # of the LR's shorter side
MAX_ZOOM = 0.03
MIN_CORRELATION = 0.8


@dataclass(frozen=True)
class PairFiles:
    """One pair's files; ``name`` is how reports, splits and configs call it."""

    name: str
    lr: Path
    hr: Path

    @property
    def key(self) -> str:
        """``<HR folder>/<name>``: what model files record of a pair they learned from, so
        another camera's ``001`` is not taken for this one's."""
        return f"{self.hr.parent.name}/{self.name}"


@dataclass(frozen=True)
class Pair:
    """A checked pair: uint8 RGB ``lr`` (``3 x h x w``) and ``hr`` (``3 x sh x sw``)."""

    files: PairFiles
    lr: torch.Tensor
    hr: torch.Tensor
    motion: Motion
    registered: bool

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def key(self) -> str:
        return self.files.key


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _folder(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"{what}: {folder} is not a folder")
    return folder


def find_pairs(
    folder: str | os.PathLike | None = None,
    lr: str | os.PathLike | None = None,
    hr: str | os.PathLike | None = None,
) -> list[PairFiles]:
    """The pairs of ``folder`` (``NNNL.png`` + ``NNNH.png``) or of ``lr`` + ``hr`` folders
    (matched by stem), sorted by name. A file without its partner is an error naming it:
    a silently dropped pair would change which pairs an experiment used."""
    if (folder is None) == (lr is None and hr is None) or (lr is None) != (hr is None):
        raise DatasetError("pairs: give a pairs folder, or both an LR and an HR folder")
    if folder is not None:
        root = _folder(folder, "pairs")
        sides: dict[str, dict[str, Path]] = {}
        for path in _images(root):
            match = _PAIR_FILE.match(path.stem)
            if match is None:
                raise DatasetError(
                    f"pairs: {path} is not named <name>L or <name>H (e.g. 001L.png, 001H.png)"
                )
            side = sides.setdefault(match["name"], {})
            key = match["side"].upper()
            if key in side:
                raise DatasetError(f"pairs: {path} and {side[key]} are both {match['name']}{key}")
            side[key] = path
        lr_files = {name: s["L"] for name, s in sides.items() if "L" in s}
        hr_files = {name: s["H"] for name, s in sides.items() if "H" in s}
        where = str(root)
    else:
        assert lr is not None and hr is not None
        lr_files = {p.stem: p for p in _images(_folder(lr, "pairs --lr"))}
        hr_files = {p.stem: p for p in _images(_folder(hr, "pairs --hr"))}
        where = f"{lr} and {hr}"
    unpaired = sorted(set(lr_files) ^ set(hr_files))
    if unpaired:
        name = unpaired[0]
        have, missing = (lr_files[name], "HR") if name in lr_files else (hr_files[name], "LR")
        raise DatasetError(f"pairs: {have} has no {missing} partner")
    if not lr_files:
        raise DatasetError(f"pairs: no image pairs in {where}")
    return [PairFiles(name, lr_files[name], hr_files[name]) for name in sorted(lr_files)]


def select_pairs(pairs: Sequence[PairFiles], names: Sequence[str] | None) -> list[PairFiles]:
    """The pairs called ``names`` (in the pairs' order); all of them when None."""
    if names is None:
        return list(pairs)
    by_name = {p.name: p for p in pairs}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise DatasetError(f"pairs: no pair named {', '.join(unknown)}")
    if len(set(names)) != len(names):
        raise DatasetError("pairs: a pair is named twice")
    wanted = set(names)
    return [p for p in pairs if p.name in wanted]


def selected_files(pairs: PairsConfig) -> list[PairFiles]:
    """The files of the pairs a config section (``data.*.pairs``) names, not yet read."""
    return select_pairs(find_pairs(pairs.folder, pairs.lr, pairs.hr), pairs.names)


def _lr_at_scale(files: PairFiles, lr: torch.Tensor, hr: torch.Tensor, scale: int):
    """LR and HR cut to matching sizes at ``scale``: an HR-sized LR is shrunk by the scale."""
    (lh, lw), (hh, hw) = lr.shape[-2:], hr.shape[-2:]
    if (lh, lw) == (hh, hw):
        hr = mod_crop(hr, scale)
        return imresize(mod_crop(lr, scale), 1 / scale), hr
    if hh // scale == lh and hw // scale == lw:
        return lr, mod_crop(hr, scale)
    raise DatasetError(
        f"pairs: {files.lr.name} is {lw}x{lh} and {files.hr.name} is {hw}x{hh}: the LR must"
        f" be the HR's size or 1/{scale} of it"
    )


def load_pair(files: PairFiles, scale: int, register: bool = True) -> Pair:
    """Read, size and check one pair (module docstring); errors name the pair's files.

    Loaded pairs are kept (128 at most) while their files are unchanged: validation scores
    the same held-out pairs many times in a run, and checking a pair costs about a second."""
    stats = (files.lr.stat(), files.hr.stat())
    stamps = tuple((st.st_mtime_ns, st.st_size) for st in stats)
    return _load_pair(files, scale, register, stamps)


@functools.lru_cache(maxsize=128)
def _load_pair(files: PairFiles, scale: int, register: bool, _stamps: tuple) -> Pair:
    lr = as_rgb(load_hr(files.lr))
    hr = as_rgb(load_hr(files.hr))
    lr, hr = _lr_at_scale(files, lr, hr, scale)
    if min(lr.shape[-2:]) < 16:
        raise DatasetError(f"pairs: {files.lr.name} is too small to check (under 16 LR pixels)")
    motion = estimate_motion(lr, imresize(hr, 1 / scale))
    if motion.correlation < MIN_CORRELATION:
        raise DatasetError(
            f"pairs: {files.lr.name} and {files.hr.name} do not show the same view"
            f" (correlation {motion.correlation:.2f} after alignment, need {MIN_CORRELATION})"
        )
    side = min(lr.shape[-2:])
    if max(abs(motion.dx), abs(motion.dy)) > MAX_SHIFT_FRACTION * side or (
        abs(motion.zoom - 1) > MAX_ZOOM
    ):
        raise DatasetError(
            f"pairs: {files.lr.name} is not aligned with {files.hr.name} ({motion.describe()});"
            f" srmeta registers shifts up to {MAX_SHIFT_FRACTION:.0%} of the image and zooms"
            f" within {MAX_ZOOM:.0%}: register the pair first"
        )
    extent = motion.extent(lr.shape[-2:])
    if not register or extent <= REGISTER_ABOVE:
        return Pair(files, lr, hr, motion, registered=False)
    margin = int(extent) + 2  # LR pixels the resampled border may have made up
    warped = warp_onto(lr, motion)
    lr = warped[:, margin:-margin, margin:-margin].contiguous()
    hr = hr[:, margin * scale : -margin * scale, margin * scale : -margin * scale].contiguous()
    return Pair(files, lr, hr, motion, registered=True)


def load_pairs(
    pairs: Sequence[PairFiles], scale: int, register: bool = True, min_lr_side: int = 1
) -> list[Pair]:
    """Every pair checked and loaded, in order; the first bad one is the error."""
    loaded = []
    for files in pairs:
        pair = load_pair(files, scale, register)
        if min(pair.lr.shape[-2:]) < min_lr_side:
            h, w = pair.lr.shape[-2:]
            raise DatasetError(
                f"pairs: {files.lr.name} gives a {w}x{h} LR, smaller than the"
                f" {min_lr_side}-pixel LR patch"
            )
        loaded.append(pair)
    return loaded


def configured_pairs(pairs: PairsConfig, scale: int, min_lr_side: int = 1) -> list[Pair]:
    """The checked pairs a config section (``data.*.pairs``) names."""
    return load_pairs(selected_files(pairs), scale, pairs.align, min_lr_side)


def checked_run_pairs(cfg: ExperimentConfig) -> list[str]:
    """The keys of the pairs a run trains on (``data.train.pairs``) or validates with
    (``data.val.pairs``), each pair read and checked now, so that a bad pair fails before
    the run writes anything (loaded pairs are kept, so the run does not read them twice)."""
    keys = []
    for section, min_lr_side, used in (
        (cfg.data.train.pairs, cfg.data.train.patch_size // cfg.scale, True),
        (cfg.data.val.pairs, 1, bool(cfg.data.val.every)),
    ):
        if section is None:
            continue
        files = selected_files(section)
        if used:
            load_pairs(files, cfg.scale, section.align, min_lr_side)
        keys += [p.key for p in files]
    return keys


@dataclass(frozen=True)
class PairDataset:
    """Pairs to score as one set (``srmeta eval --pairs``): each image's LR is its own."""

    name: str
    pairs: tuple[PairFiles, ...]
    align: bool = True

    @classmethod
    def from_config(cls, pairs: PairsConfig, name: str | None = None) -> PairDataset:
        where = Path(pairs.folder or pairs.hr or "pairs").expanduser().resolve()
        return cls(name or where.name, tuple(selected_files(pairs)), pairs.align)

    def __len__(self) -> int:
        return len(self.pairs)

    def without(self, keys: set[str], suffix: str) -> PairDataset:
        """The pairs whose key is not in ``keys``, under ``name + suffix``."""
        kept = tuple(p for p in self.pairs if p.key not in keys)
        return PairDataset(self.name + suffix, kept, self.align)
