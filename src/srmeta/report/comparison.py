"""What a ``srmeta compare`` report shows, as plain data: built by :mod:`compare`, drawn by
:mod:`compare_html`. Nothing here computes or draws anything."""

from __future__ import annotations

from dataclasses import dataclass, field

BICUBIC = "bicubic"
"""The baseline every model is compared with: its column comes first, its crop beside HR."""

SetKey = tuple[str, int]
"""(dataset, scale)."""
ImageKey = tuple[str, int, str]
"""(dataset, scale, image stem)."""


@dataclass(frozen=True)
class Score:
    psnr: float
    ssim: float


@dataclass
class ScoreColumn:
    """One model's or one eval folder's scores: a column of the report's tables.

    ``renders``: the model can be run again for crops (``model`` names it); an eval folder
    holds scores only.
    """

    label: str
    source: str
    sets: dict[SetKey, Score] = field(default_factory=dict)
    images: dict[ImageKey, Score] = field(default_factory=dict)
    model: str | None = None

    @property
    def renders(self) -> bool:
        return self.model is not None


@dataclass(frozen=True)
class CropPanel:
    """One method's crop: a PNG of the window, and the Y-PSNR inside it (None for HR)."""

    label: str
    png: bytes
    psnr: float | None


@dataclass(frozen=True)
class CropView:
    """One image's window, where the models differ most (or as asked), in every method.

    ``top``, ``left``, ``side``: the window in HR pixels; ``height``, ``width``: the HR's.
    ``panels``: HR first, then bicubic, then each model.
    """

    key: ImageKey
    top: int
    left: int
    side: int
    height: int
    width: int
    thumbnail: bytes
    panels: list[CropPanel]


@dataclass(frozen=True)
class Curve:
    label: str
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Chart:
    """A line chart of some value over training steps, one curve per run (and set)."""

    title: str
    y_label: str
    curves: list[Curve]
    log_y: bool = False


@dataclass(frozen=True)
class Figure:
    """A finished picture to show as it is (a ``srmeta weights`` figure)."""

    title: str
    png: bytes


@dataclass
class Comparison:
    """Everything one report shows. ``protocol``: the line saying how scores were made;
    ``spread``: the methods whose disagreement chose the images and windows; ``slider``: the
    model the crops' slider shows against bicubic first."""

    title: str
    protocol: str
    columns: list[ScoreColumn] = field(default_factory=list)
    crops: list[CropView] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    spread: list[str] = field(default_factory=list)
    slider: str | None = None
