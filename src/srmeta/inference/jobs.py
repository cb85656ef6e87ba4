"""Which files to upscale and where each result goes.

Inputs are files, folders (their image files, sorted, not recursive) and glob patterns.
Outputs never replace an input, and never replace an existing file unless forced; every
problem is attached to its own input so the rest of a batch still runs.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from srmeta.errors import ImageError
from srmeta.imageio import image_format_for_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_GLOB_CHARS = set("*?[")


@dataclass
class Job:
    """One input and its output path, or the reason it cannot run."""

    source: Path
    target: Path | None = None
    problem: str | None = None


def expand_inputs(inputs: Sequence[str]) -> list[Job]:
    """Files, folders and globs to one job per file (missing inputs become failed jobs)."""
    jobs: list[Job] = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)  # fmt: skip
            if not files:
                jobs.append(Job(path, problem="folder holds no image files"))
            jobs.extend(Job(p) for p in files)
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
    return jobs


def _factor_text(factor: float) -> str:
    return f"{factor:g}".replace(".", "p")


def is_file_output(out: str | None, jobs: Sequence[Job]) -> bool:
    """``-o`` names a single file when it has an image suffix and there is one input file."""
    if out is None or Path(out).is_dir() or Path(out).suffix.lower() not in IMAGE_SUFFIXES:
        return False
    return len(jobs) == 1


def assign_targets(jobs: list[Job], out: str | None, factor: float, force: bool) -> None:
    """Set each job's target, or its problem (input reused, existing file, name clash).

    No ``out``: ``<input stem>_x<factor><suffix>`` beside the input. ``out`` with an image
    suffix and one input: that file. Otherwise ``out`` is a folder and results keep their
    input's file name.
    """
    file_output = is_file_output(out, jobs)
    sources = {job.source.resolve() for job in jobs if job.problem is None}
    taken: set[Path] = set()
    for job in jobs:
        if job.problem is not None:
            continue
        if file_output:
            target = Path(out)  # type: ignore[arg-type]
        elif out is None:
            name = f"{job.source.stem}_x{_factor_text(factor)}{job.source.suffix}"
            target = job.source.with_name(name)
        else:
            target = Path(out) / job.source.name
        try:
            image_format_for_path(target)
        except ImageError as err:  # an unknown extension is the job's problem, not fatal
            job.problem = str(err).split(": ", 1)[-1]
            continue
        resolved = target.resolve()
        if resolved in sources:
            job.problem = f"the output {target} would overwrite an input; choose another -o"
        elif resolved in taken:
            job.problem = f"another input already writes {target}"
        elif target.exists() and not force:
            job.problem = f"{target} exists; pass --force to replace it"
        else:
            job.target = target
            taken.add(resolved)
