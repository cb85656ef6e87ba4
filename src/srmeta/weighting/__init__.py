"""Per-pixel loss weighting strategies, selected by name from the training config."""

from __future__ import annotations

from typing import Any

from srmeta.errors import SrmetaError
from srmeta.weighting.base import StepContext, WeightingStrategy, normalise_per_image


class Uniform(WeightingStrategy):
    """Every pixel counts the same: the plain L1 / Charbonnier loss."""

    name = "uniform"


_STRATEGIES: dict[str, type[WeightingStrategy]] = {"uniform": Uniform}


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def build_strategy(name: str, options: dict[str, Any] | None = None) -> WeightingStrategy:
    """A weighting strategy by its config name, with its options."""
    cls = _STRATEGIES.get(name)
    if cls is None:
        raise SrmetaError(
            f"unknown weighting '{name}'; choose one of {', '.join(strategy_names())}"
        )
    try:
        return cls(**(options or {}))
    except TypeError as err:
        raise SrmetaError(f"weighting '{name}': {err}") from None


__all__ = [
    "StepContext",
    "Uniform",
    "WeightingStrategy",
    "build_strategy",
    "normalise_per_image",
    "strategy_names",
]
