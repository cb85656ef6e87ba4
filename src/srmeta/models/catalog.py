"""What can be loaded, as data: the bundled models, the architectures, and the third-party
checkpoint families recognised from their state dicts. ``srmeta models`` prints it; tools
read the same entries (``srmeta models --json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from srmeta.models.bundled import (
    DEFAULT_NAME,
    DEFAULT_SCALE,
    display_name,
    shipped_file,
    shipped_models,
)
from srmeta.models.descriptor import ModelDescriptor
from srmeta.models.files import read_model_file
from srmeta.models.registry import descriptors, get_descriptor


@dataclass(frozen=True)
class BundledModel:
    """A model file the package ships, by the name ``--model`` takes."""

    name: str
    arch: str
    scale: int
    colour_space: str
    parameters: int
    file: str


def bundled_models() -> list[BundledModel]:
    """Every bundled model this installation ships (a build may leave some out)."""
    out = []
    for family, scale in shipped_models():
        path = shipped_file(family, scale)
        state, spec = read_model_file(path)
        descriptor = get_descriptor(spec.arch)
        out.append(
            BundledModel(
                name=f"{family}-x{scale}",
                arch=spec.arch,
                scale=scale,
                colour_space=descriptor.colour_space(spec.options),
                parameters=sum(t.numel() for t in state.values()),
                file=path.name,
            )
        )
    return out


def architecture_entry(descriptor: ModelDescriptor) -> dict[str, object]:
    """What ``srmeta models`` says of an architecture (its descriptor holds it all)."""
    fields = ("name", "scales", "summary", "needs_weights", "checkpoints")
    return {key: getattr(descriptor, key) for key in fields}


def catalog() -> dict[str, object]:
    """Everything above as plain data (the ``--json`` output)."""
    shipped = bundled_models()
    return {
        "default": {
            "name": DEFAULT_NAME,
            "means": {f"x{m.scale}": display_name(DEFAULT_NAME, m.scale) for m in shipped},
            "scale_when_not_given": DEFAULT_SCALE,
        },
        "bundled": [asdict(m) for m in shipped],
        "architectures": [architecture_entry(d) for d in descriptors()],
    }
