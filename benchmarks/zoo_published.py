"""The published tables the official checkpoints are held to (:mod:`zoo_table`), each value
with its source. Only values read in a source are here; a missing cell stays empty.

Y-channel PSNR (dB) / SSIM, MATLAB-bicubic LR, border = scale, as the papers state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Cells = dict[int, dict[str, tuple[float, float]]]  # scale -> set -> (PSNR, SSIM)


@dataclass(frozen=True)
class Published:
    """One row of a paper's table (one model, its scales and sets)."""

    model: str
    parameters: str  # as the source writes it
    source: str
    cells: Cells = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """An architecture's published rows; ``truncated``: also score its files with the
    output truncated to uint8, as its official test script saves images (see NOTES)."""

    arch: str
    name: str
    rows: tuple[Published, ...]
    truncated: bool = False

    def sources(self) -> list[str]:
        return [f"- {row.model}: {row.source}." for row in self.rows]


FAMILIES: dict[str, Family] = {
    "imdn": Family("imdn", "IMDN", ()),
    "pan": Family("pan", "PAN", ()),
    "carn_m": Family("carn_m", "CARN-M", (), truncated=True),
    "rfdn": Family("rfdn", "RFDN", ()),
    "rlfn": Family("rlfn", "RLFN", ()),
}

NOTES: dict[str, str] = {}
