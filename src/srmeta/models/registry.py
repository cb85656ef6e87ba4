"""Registry of SR architectures: a descriptor per name, listed explicitly (no folder scans).

A descriptor tells callers what a model accepts without instantiating it: its scales, the
channels it reads and writes (``None`` means any), the multiple its input size must be, and
whether it runs under bf16. ``load_model`` is the one entry point evaluation and upscaling
use to turn a ``--model`` argument into a module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from srmeta.errors import ModelError
from srmeta.models import bicubic


@dataclass(frozen=True)
class ModelDescriptor:
    """What an architecture is and accepts."""

    name: str
    build: Callable[..., nn.Module]
    scales: tuple[int, ...]
    in_channels: int | None
    out_channels: int | None
    size_multiple: int
    supports_bf16: bool
    summary: str


_REGISTRY: dict[str, ModelDescriptor] = {
    d.name: d
    for d in (
        ModelDescriptor(
            name="bicubic",
            build=bicubic.build,
            scales=(2, 3, 4),
            in_channels=None,
            out_channels=None,
            size_multiple=1,
            supports_bf16=False,
            summary="MATLAB imresize bicubic (uint8 in: MATLAB uint8 path, the tables' baseline)",
        ),
    )
}


def registered_names() -> list[str]:
    """Names of all registered architectures."""
    return sorted(_REGISTRY)


def get_descriptor(name: str) -> ModelDescriptor:
    """The descriptor of a registered architecture (case-insensitive)."""
    descriptor = _REGISTRY.get(name.lower())
    if descriptor is None:
        known = ", ".join(registered_names())
        raise ModelError(f"unknown model '{name}'; registered models: {known}")
    return descriptor


def load_model(name: str, scale: int, **options: object) -> nn.Module:
    """Build a model by registered name for ``scale``, in eval mode."""
    descriptor = get_descriptor(name)
    if scale not in descriptor.scales:
        raise ModelError(
            f"model '{descriptor.name}' supports scales {descriptor.scales}, not {scale}"
        )
    return descriptor.build(scale, **options).eval()
