"""Atomic file writes: a hidden temp file beside the target, fsync, then rename.

A crash, a full disk or an encoder error must never leave a half-written image, table or
checkpoint where a good one (or none) was expected, and an existing file is only replaced
when the caller asked for it. Images, result tables and checkpoints all write through here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from srmeta.errors import SrmetaError


def check_writable(
    path: str | os.PathLike, force: bool, error: type[SrmetaError] = SrmetaError
) -> None:
    """Refuse directories, and existing files unless ``force``."""
    target = Path(path)
    if target.is_dir():
        raise error(f"{target}: is a directory; give a file name")
    if not force and os.path.lexists(target):
        raise error(f"{target}: already exists; use --force to overwrite")


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, force: bool = False, error: type[SrmetaError] = SrmetaError
) -> Iterator[BinaryIO]:
    """A binary file handle whose content becomes ``path`` only if the block completes.

    The temp file is created exclusively (the umask sets its permissions; an overwritten
    file's permissions are kept). ``force`` is checked before and again just before the
    rename, in case the target appeared meanwhile. ``error`` is the exception type for
    refusals, so callers keep their own error kind.
    """
    target = Path(path)
    check_writable(target, force, error)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if os.path.lexists(target):
            check_writable(target, force, error)
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(target.parent)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; POSIX only, and skipped where the OS refuses it."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str, force: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, force) as handle:
        handle.write(text.encode("utf-8"))
