"""The default models shipped inside the package, one per scale.

They are trained by srmeta itself from ``configs/bundled_x{2,3,4}.yaml`` on T91 (see
``docs/bundled.md``), small enough to ship (a few MB of safetensors) and fast on a CPU, so
``srmeta upscale img.png`` works offline with no download. Names: ``default`` (the bundled
model for the requested scale) and ``srmeta-x2``, ``srmeta-x3``, ``srmeta-x4``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from srmeta.errors import ModelError

DEFAULT_SCALE = 4
SCALES = (2, 3, 4)
DEFAULT_NAME = "default"


def bundled_names() -> list[str]:
    return [DEFAULT_NAME, *(f"srmeta-x{s}" for s in SCALES)]


def bundled_path(scale: int) -> Path:
    """The shipped weights file for ``scale``; a clear error when this build lacks it."""
    if scale not in SCALES:
        raise ModelError(f"no bundled model for x{scale}; bundled scales are {SCALES}")
    path = Path(str(resources.files("srmeta.bundled") / f"srmeta_x{scale}.safetensors"))
    if not path.is_file():
        raise ModelError(
            f"the bundled x{scale} model is not part of this installation ({path.name});"
            " pass --model with a weights file or run folder"
        )
    return path


def is_bundled_name(model: object) -> bool:
    return isinstance(model, str) and model.lower() in bundled_names()


def resolve_model_name(model: str | os.PathLike | None, scale: int | None) -> str | os.PathLike:
    """What :func:`srmeta.models.registry.load_model` should load for ``model``.

    None and ``default`` mean the bundled model for ``scale`` (x4 when not given);
    ``srmeta-xN`` the bundled x N model (its scale must agree with ``scale``).
    """
    if model is None or (isinstance(model, str) and model.lower() == DEFAULT_NAME):
        return bundled_path(scale if scale is not None else DEFAULT_SCALE)
    if is_bundled_name(model):
        own = int(str(model)[-1])
        if scale is not None and scale != own:
            raise ModelError(f"model {model} is x{own}, but --scale {scale} was asked for")
        return bundled_path(own)
    return model
