"""Running the CLI as a shell would, and reading its one-line errors (shared by the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from srmeta.cli import main


def png(path: Path, h: int = 9, w: int = 7, **save) -> Path:
    """A small random RGB image (PNG unless ``save`` names another format): content no model
    was trained on, so no output is special."""
    pixels = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return path


def exit_code(argv: list[str]) -> int:
    """What the shell would see: main's return value, or argparse's exit status."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def error_line(capsys) -> str:
    """The command's error messages (one line each; the progress bar shares stderr)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("srmeta: error")]
    assert errors
    return " | ".join(errors)


def tree(folder: Path) -> list[str]:
    """Every path under folder, relative and sorted: what a command left behind."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
