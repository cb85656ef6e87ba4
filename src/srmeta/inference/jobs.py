"""Which files to upscale and where each result goes.

Inputs are files, folders (their image files, sorted, not recursive) and glob patterns; a
video is upscaled when named as a file (or matched by a glob), and written as .mp4 unless
it is .mkv or ``--ext`` says otherwise.
Outputs never replace an input, and never replace an existing file unless forced; every
problem is attached to its own input so the rest of a batch still runs.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from srmeta.errors import ImageError, SrmetaError
from srmeta.imageio import image_format_for_path
from srmeta.inference.video import CONTAINERS, is_video

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_GLOB_CHARS = set("*?[")


@dataclass
class Job:
    """One input and its output path, or the reason it cannot run."""

    source: Path
    target: Path | None = None
    problem: str | None = None
    folder: Path | None = None  # the input folder it was found in (keeps sub-folders)

    def output(self) -> Path:
        """The target of a job without a problem (:func:`assign_targets` sets one of the two)."""
        if self.target is None:
            raise RuntimeError(f"{self.source}: no output path assigned ({self.problem})")
        return self.target


def expand_inputs(inputs: Sequence[str], recursive: bool = False) -> list[Job]:
    """Files, folders and globs to one job per file (missing inputs become failed jobs).

    ``recursive`` walks folders into their sub-folders; the results keep the layout in an
    output folder."""
    jobs: list[Job] = []
    for text in inputs:
        path = Path(text).expanduser()
        if not text.strip():  # Path("") is the current folder: never what was meant
            jobs.append(Job(path, problem="an empty input name"))
        elif path.is_dir():
            found = path.rglob("*") if recursive else path.iterdir()
            files = sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                jobs.append(Job(path, problem="folder holds no image files"))
            jobs.extend(Job(p, folder=path) for p in files)
        elif path.exists():
            jobs.append(Job(path))
        elif _GLOB_CHARS & set(text):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(text)))
            files = [m for m in matches if m.is_file()]
            if not files:
                jobs.append(Job(path, problem="no file matches this pattern"))
            jobs.extend(Job(p) for p in files)
        else:
            jobs.append(Job(path, problem="no such file or folder"))
    return _unique(jobs)


def _unique(jobs: list[Job]) -> list[Job]:
    """The same file named twice (directly, by a folder or a glob) is upscaled once."""
    seen: set[Path] = set()
    kept = []
    for job in jobs:
        key = job.source.resolve() if job.problem is None else None
        if key is None or key not in seen:
            kept.append(job)
            if key is not None:
                seen.add(key)
    return kept


def _factor_text(factor: float) -> str:
    return f"{factor:g}".replace(".", "p")


def is_file_output(out: str | None) -> TypeGuard[str]:
    """Whether ``-o`` names a file: it has a suffix, is not an existing folder and does not
    end with a slash (``results.v2/`` is a folder)."""
    if out is None or out.endswith(("/", os.sep)) or Path(out).is_dir():
        return False
    return bool(Path(out).suffix)


def check_file_output(jobs: list[Job], out: str | None) -> None:
    """Refuse ``-o`` naming one file for several inputs: a problem of the command, not of
    each input, so it is one error (raised before any work), not one line per input."""
    if is_file_output(out) and len(jobs) > 1:
        raise SrmetaError(
            f"-o {out} names one file, but {len(jobs)} inputs were given;"
            " give a folder (end it with /)"
        )


def assign_targets(
    jobs: list[Job],
    out: str | None,
    factor: float,
    force: bool,
    suffix: str | None = None,
    ext: str | None = None,
) -> None:
    """Set each job's target, or its problem (input reused, existing file, name clash);
    ``out`` naming a file for several jobs is an error (:func:`check_file_output`).

    No ``out``: ``<input stem>_x<factor><suffix>`` beside the input. ``out`` naming a file
    (see :func:`is_file_output`): that file, for one input only; its suffix must be an image
    format. Otherwise ``out`` is a folder and results keep their input's file name.
    ``suffix`` names results ``<stem>_<suffix>`` (beside the input or in the folder) and
    ``ext`` replaces every result's extension.
    """
    check_file_output(jobs, out)
    file_output = is_file_output(out)
    sources = {job.source.resolve() for job in jobs if job.problem is None}
    taken: set[Path] = set()
    for job in jobs:
        if job.problem is not None:
            continue
        video = is_video(job.source)
        extension = f".{ext}" if ext else job.source.suffix
        if video and not ext and extension.lower() not in CONTAINERS:
            extension = ".mp4"  # .mov, .avi, .webm: re-encoded as x264 anyway
        if file_output:
            target = Path(out)
        elif out is None:
            name = f"{job.source.stem}_{suffix or 'x' + _factor_text(factor)}{extension}"
            target = job.source.with_name(name)
        else:
            stem = f"{job.source.stem}_{suffix}" if suffix else job.source.stem
            within = job.source.parent.relative_to(job.folder) if job.folder else Path()
            target = Path(out) / within / f"{stem}{extension}"
        if video and target.suffix.lower() not in CONTAINERS:
            job.problem = f"a video is written as .mp4 or .mkv, not {target.suffix or 'no suffix'}"
            continue
        try:
            if not video:
                image_format_for_path(target)
        except ImageError as err:  # an unknown extension is the job's problem, not fatal
            job.problem = str(err).split(": ", 1)[-1]
            continue
        try:
            resolved = target.resolve()
        except (RuntimeError, OSError):  # Python reports a symlink loop as RuntimeError
            job.problem = f"the output {target} is a symbolic link loop"
            continue
        if resolved in sources:
            job.problem = f"the output {target} would overwrite an input; choose another -o"
        elif resolved in taken:
            job.problem = f"another input already writes {target}"
        elif os.path.lexists(target) and not force:  # a dangling or looping link too
            job.problem = f"{target} exists; pass --force to replace it"
        else:
            job.target = target
            taken.add(resolved)
