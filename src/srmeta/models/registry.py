"""Registry of SR architectures: a descriptor per name, listed explicitly (no folder scans).

A descriptor tells callers what a model accepts without instantiating it: its scales, the
channels it reads and writes (``None`` means any), the multiple its input size must be,
whether it runs under bf16, its options with their defaults, and its parameter count.
``load_model`` is the one entry point evaluation and upscaling use to turn a ``--model``
argument (a registered name, a weights file or a training run's folder) into a module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType

import torch
from torch import nn

from srmeta.errors import ModelError
from srmeta.models import bicubic, edsr, espcn, fsrcnn, imdn, rcan, repsr
from srmeta.models.common import Detected, StateDict

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")


def normalize_options(options: Mapping[str, object]) -> dict[str, object]:
    """Options with lists turned into tuples, so values read back from JSON compare equal
    to the defaults (``features=(64, 32)``) and the result is a plain ``dict``."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


@dataclass(frozen=True)
class ModelDescriptor:
    """What an architecture is and accepts.

    ``default_options`` lists every option ``build`` takes (anything else is refused);
    ``detect`` reads a bare state dict's keys and shapes and returns ``(scale, options)``
    when they are this architecture's (scale ``None`` when the weights do not tell).
    """

    name: str
    build: Callable[..., nn.Module]
    scales: tuple[int, ...]
    in_channels: int | None
    out_channels: int | None
    size_multiple: int
    supports_bf16: bool
    summary: str
    default_options: Mapping[str, object] = field(default_factory=dict)
    detect: Callable[[StateDict], Detected | None] | None = None
    colour_option: str | None = None  # the option naming the colour space, if it has one
    needs_weights: bool = True  # False for fixed methods (bicubic): usable by name alone

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_options", MappingProxyType(dict(self.default_options)))

    def options_with_defaults(self, options: Mapping[str, object]) -> dict[str, object]:
        """The full option dict: defaults updated by ``options``; unknown names refused."""
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            known = ", ".join(self.default_options) or "none"
            raise ModelError(
                f"model '{self.name}' has no option {', '.join(unknown)}; its options: {known}"
            )
        return normalize_options({**self.default_options, **options})

    def instantiate(self, scale: int, **options: object) -> nn.Module:
        """A fresh model (random weights, train mode) after checking scale and options."""
        if scale not in self.scales:
            raise ModelError(f"model '{self.name}' supports scales {self.scales}, not {scale}")
        return self.build(scale, **self.options_with_defaults(options))

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


def _network(
    module: ModuleType, name: str, summary: str, colour_option: str | None = None
) -> ModelDescriptor:
    """A descriptor for a trained RGB-in, RGB-out network whose file defines build, detect
    and DEFAULT_OPTIONS (``colour_option``: the option saying whether it restores Y or RGB)."""
    return ModelDescriptor(
        name=name,
        build=module.build,
        summary=summary,
        default_options=module.DEFAULT_OPTIONS,
        detect=module.detect,
        scales=(2, 3, 4),
        in_channels=3,
        out_channels=3,
        size_multiple=1,
        supports_bf16=True,
        colour_option=colour_option,
    )


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
            needs_weights=False,
            summary="MATLAB imresize bicubic (uint8 in: MATLAB uint8 path, the tables' baseline)",
        ),
        _network(
            espcn, "espcn", "ESPCN (Shi 2016): 3 convs at LR + pixel shuffle, plus a bicubic skip"
        ),
        _network(
            fsrcnn, "fsrcnn", "FSRCNN (Dong 2016): hourglass convs at LR + 9x9 deconvolution, RGB"
        ),
        _network(edsr, "edsr", "EDSR (Lim 2017), baseline 16 blocks x 64 features by default"),
        _network(rcan, "rcan", "RCAN (Zhang 2018): 10 groups x 20 channel-attention blocks x 64"),
        _network(
            imdn, "imdn", "IMDN (Hui 2019): 6 multi-distillation blocks, loads the official weights"
        ),
        _network(
            repsr,
            "repsr",
            "RepSR: SESR/ECBSR-style branches collapsed into a plain conv stack, Y or RGB",
            colour_option="colour",
        ),
    )
}


def registered_names() -> list[str]:
    """Names of all registered architectures."""
    return sorted(_REGISTRY)


def descriptors() -> list[ModelDescriptor]:
    """All descriptors, in registration order (the order detection tries them)."""
    return list(_REGISTRY.values())


def get_descriptor(name: str) -> ModelDescriptor:
    """The descriptor of a registered architecture (case-insensitive)."""
    descriptor = _REGISTRY.get(name.lower())
    if descriptor is None:
        known = ", ".join(registered_names())
        raise ModelError(f"unknown model '{name}'; registered models: {known}")
    return descriptor


def parameter_count(name: str, scale: int, **options: object) -> int:
    """Trainable parameters of a registered architecture at ``scale`` with ``options``."""
    return get_descriptor(name).parameter_count(scale, **options)


def inference_form(model: nn.Module) -> nn.Module:
    """The equivalent of ``model`` that is cheapest to run: re-parameterisable networks
    collapsed into their plain convolutions, anything else as it is."""
    return model.collapse().eval() if isinstance(model, repsr.RepSR) else model


def _looks_like_path(model: str | os.PathLike) -> bool:
    text = os.fspath(model)
    return (
        not isinstance(model, str)
        or "/" in text
        or os.sep in text
        or text.lower().endswith(WEIGHT_SUFFIXES)
    )


def load_model(
    model: str | os.PathLike, scale: int | None = None, *, trained: bool = False, **options: object
) -> nn.Module:
    """A model in eval mode, from a registered or bundled name, a weights file or a run folder.

    A registered name (``edsr``) builds a fresh model and needs ``scale``. Anything that
    looks like a path (has a separator or a weights suffix) or is an existing file or
    folder loads weights (see :func:`srmeta.models.files.load_model_file`): ``scale``, if
    given, must agree with the file's, and ``options`` override the file's (only useful for
    options the weights cannot show, such as EDSR's ``res_scale``). A name wins over a
    same-named file in the working directory; write ``./edsr`` for the file.

    ``trained=True`` is for using a model rather than training it: an architecture name
    whose network needs weights is refused (its fresh weights are random), so nothing ever
    upscales or scores with an untrained network by accident.
    """
    from srmeta.models.bundled import is_bundled_name, resolve_model_name

    if is_bundled_name(model):  # default, srmeta-x4, srmeta-fast-x4...: shipped weights
        model = resolve_model_name(model, scale)
    if isinstance(model, str) and model.lower() in _REGISTRY and not _looks_like_path(model):
        if trained and get_descriptor(model).needs_weights:
            raise ModelError(
                f"'{model}' is an architecture without trained weights; pass a weights file"
                " (.safetensors/.pth), a training run folder or a bundled model name"
            )
        if scale is None:
            scales = ", ".join(map(str, get_descriptor(model).scales))
            raise ModelError(f"model '{model}' needs a scale ({scales})")
        return get_descriptor(model).instantiate(scale, **options).eval()
    if _looks_like_path(model) or Path(model).exists():
        from srmeta.models.files import load_model_file  # files imports this module

        return load_model_file(model, scale, **options)
    known = ", ".join(registered_names())
    raise ModelError(
        f"unknown model '{model}': not a registered model ({known}) nor a weights file"
    )
