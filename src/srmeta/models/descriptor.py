"""The model contract: what an architecture is (:class:`ModelDescriptor`) and what one
built model is (:class:`ModelInfo`, attached to every model srmeta builds or loads).

Callers read a loaded model's facts (scale, colour space, channels, whether it takes uint8,
its receptive field) from :func:`model_info`, never from attributes of the module, so an
architecture declares them once, in its descriptor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from pydantic import ValidationError
from torch import nn

from srmeta.errors import ModelError
from srmeta.models.detection import Detected, StateDict
from srmeta.options import NoOptions
from srmeta.schema import Section, one_line

_INFO_ATTR = "_srmeta_info"


@dataclass(frozen=True)
class ModelInfo:
    """One built model: its architecture's descriptor resolved at a scale and options.

    The defaults describe a plain RGB network, which is also what a module srmeta did not
    build is taken to be; attach an info to such a module to say otherwise.
    """

    arch: str
    scale: int
    options: dict[str, object] = field(default_factory=dict)
    colour_space: str = "rgb"  # or "y": what the network restores (input and output are RGB)
    in_channels: int | None = 3  # None: any (bicubic)
    out_channels: int | None = 3
    size_multiple: int = 1
    supports_bf16: bool = False
    accepts_uint8: bool = False
    needs_weights: bool = True
    receptive_radius: int | None = None  # None: not declared (measured when needed)


def attach_info(model: nn.Module, info: ModelInfo) -> nn.Module:
    """``model`` with ``info`` attached (returned for chaining)."""
    object.__setattr__(model, _INFO_ATTR, info)
    return model


def model_info(model: nn.Module) -> ModelInfo | None:
    """What srmeta knows of ``model``; None for a module it did not build (a user's own)."""
    info = getattr(model, _INFO_ATTR, None)
    return info if isinstance(info, ModelInfo) else None


def normalize_options(options: Mapping[str, object]) -> dict[str, object]:
    """Options with lists turned into tuples, so values read back from JSON compare equal
    to the defaults (``features=(64, 32)``) and the result is a plain ``dict``."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


@dataclass(frozen=True)
class ModelDescriptor:
    """What an architecture is and accepts.

    ``options`` is the option model (:mod:`srmeta.options`): every option ``build`` takes,
    with its type, range and default. It is checked here, once, for models built by name, by
    config and from files alike, so the constructors need not check again. ``detect`` reads
    a bare state dict's keys and shapes and returns ``(scale, options)`` when they are this
    architecture's (scale ``None`` when the weights do not tell).
    """

    name: str
    build: Callable[..., nn.Module]
    scales: tuple[int, ...]
    in_channels: int | None
    out_channels: int | None
    size_multiple: int
    supports_bf16: bool
    summary: str
    options: type[Section] = NoOptions
    detect: Callable[[StateDict], Detected | None] | None = None
    colour_option: str | None = None  # the option naming the colour space, if it has one
    needs_weights: bool = True  # False for fixed methods (bicubic): usable by name alone
    # The third-party checkpoints ``detect`` recognises, as users know them (``srmeta models``).
    checkpoints: str | None = None
    accepts_uint8: bool = False  # True: uint8 LR goes in as is (bicubic's MATLAB uint8 path)
    # LR pixels on each side one output pixel depends on, from (scale, options), when the
    # architecture knows it; else tiling measures it on the network.
    receptive_radius: Callable[[int, Mapping[str, object]], int | None] | None = None

    @property
    def default_options(self) -> Mapping[str, object]:
        return MappingProxyType(normalize_options(self.options().model_dump()))

    def options_with_defaults(self, options: Mapping[str, object]) -> dict[str, object]:
        """The full option dict: defaults updated by ``options``, each checked against the
        option model; unknown names refused."""
        unknown = sorted(set(options) - set(self.options.model_fields))
        if unknown:
            known = ", ".join(self.options.model_fields) or "none"
            raise ModelError(
                f"model '{self.name}' has no option {', '.join(unknown)}; its options: {known}"
            )
        try:
            checked = self.options.model_validate(dict(options))
        except ValidationError as err:
            raise ModelError(one_line(err, f"model '{self.name}' option ")) from None
        return normalize_options(checked.model_dump())

    def instantiate(self, scale: int, **options: object) -> nn.Module:
        """A fresh model (random weights, train mode) after checking scale and options,
        with its :class:`ModelInfo` attached."""
        if scale not in self.scales:
            raise ModelError(f"model '{self.name}' supports scales {self.scales}, not {scale}")
        full = self.options_with_defaults(options)
        return attach_info(self.build(scale, **full), self.info(scale, full))

    def info(self, scale: int, options: Mapping[str, object]) -> ModelInfo:
        """What a model of this architecture at ``scale`` with ``options`` is."""
        full = self.options_with_defaults(options)
        radius = self.receptive_radius(scale, full) if self.receptive_radius else None
        return ModelInfo(
            arch=self.name,
            scale=scale,
            options=full,
            colour_space=self.colour_space(full),
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            size_multiple=self.size_multiple,
            supports_bf16=self.supports_bf16,
            accepts_uint8=self.accepts_uint8,
            needs_weights=self.needs_weights,
            receptive_radius=radius,
        )

    def colour_space(self, options: Mapping[str, object]) -> str:
        """``rgb`` or ``y``: the channels the network itself restores. Input and output are
        RGB either way; a ``y`` model takes its chroma from MATLAB bicubic."""
        if self.colour_option is None:
            return "rgb"
        return str(self.options_with_defaults(options)[self.colour_option])

    def parameter_count(self, scale: int, **options: object) -> int:
        """Trainable parameters at ``scale`` with ``options``, built on the meta device
        (shapes only, no memory or init time, so even RCAN's 15 M cost nothing)."""
        with torch.device("meta"):
            model = self.instantiate(scale, **options)
        return sum(p.numel() for p in model.parameters())
