"""Per-pixel loss weighting strategies, selected by name from the training config."""

from __future__ import annotations

from typing import Any

from srmeta.errors import SrmetaError
from srmeta.options import UniformOptions
from srmeta.weighting.base import (
    Inspection,
    StepContext,
    StepInputs,
    Weighted,
    WeightingStrategy,
    normalise_per_image,
    weigh,
)
from srmeta.weighting.classic import GradientWeighted, LossPower
from srmeta.weighting.frequency import FocalFrequency
from srmeta.weighting.meta import L2RW, MetaWeightNet
from srmeta.weighting.udl import UDL
from srmeta.weighting.weightnet import WeightNet


class Uniform(WeightingStrategy):
    """Every pixel counts the same: the plain L1 / Charbonnier loss."""

    name = "uniform"
    Options = UniformOptions


_STRATEGIES: dict[str, type[WeightingStrategy]] = {
    cls.name: cls
    for cls in (
        Uniform,
        LossPower,
        GradientWeighted,
        UDL,
        FocalFrequency,
        L2RW,
        MetaWeightNet,
        WeightNet,
    )
}


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def build_strategy(
    name: str, options: dict[str, Any] | None = None, scale: int | None = None
) -> WeightingStrategy:
    """A weighting strategy by its config name, with its options; ``scale`` is the run's
    SR factor, handed to the strategies whose networks depend on it (Weight-Net)."""
    cls = _STRATEGIES.get(name)
    if cls is None:
        raise SrmetaError(
            f"unknown weighting '{name}'; choose one of {', '.join(strategy_names())}"
        )
    if cls.uses_scale and scale is None:
        raise SrmetaError(f"weighting '{name}' needs the run's scale")
    try:
        extra = {"scale": scale} if cls.uses_scale else {}
        return cls(**(options or {}), **extra)
    except (TypeError, ValueError) as err:
        raise SrmetaError(f"weighting '{name}': {err}") from None


__all__ = [
    "Inspection",
    "StepContext",
    "StepInputs",
    "Uniform",
    "Weighted",
    "WeightingStrategy",
    "build_strategy",
    "normalise_per_image",
    "strategy_names",
    "weigh",
]
