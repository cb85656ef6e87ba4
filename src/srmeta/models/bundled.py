"""The models shipped inside the package, four families with (up to) one model per scale.

- ``srmeta-fast-x2/x3/x4``: RepSR (11 plain 3x3 layers of 16 channels on the luma, collapsed
  from its training form), for real-time CPU upscaling; ``configs/fast_x{2,3,4}.yaml``.
- ``srmeta-x2/x3/x4``: EDSR 8 blocks x 32 features, slower, for comparison and as teacher;
  ``configs/bundled_x{2,3,4}.yaml``.
- ``srmeta-real-xN`` / ``srmeta-real-fast-xN``: the same two networks fine-tuned for real
  photos (blur, noise, JPEG, repeated resizing: the ``realistic`` degradation), which the
  two above, trained on clean bicubic LR, sharpen instead of removing;
  ``configs/real_x{N}.yaml`` / ``configs/real_fast_x{N}.yaml``.

All are trained by srmeta itself (recipes and scores in ``docs/bundled.md``), small enough
to ship, so ``srmeta upscale img.png`` works offline with no download. ``default`` is the
fast model for the requested scale (x4 when none is given) where this build ships it, else
the EDSR one.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from srmeta.errors import ModelError

DEFAULT_SCALE = 4
SCALES = (2, 3, 4)
DEFAULT_NAME = "default"
FAMILIES = {
    "srmeta-fast": "srmeta_fast_x{}.safetensors",
    "srmeta": "srmeta_x{}.safetensors",
    "srmeta-real-fast": "srmeta_real_fast_x{}.safetensors",
    "srmeta-real": "srmeta_real_x{}.safetensors",
}


def bundled_names() -> list[str]:
    return [DEFAULT_NAME, *(f"{family}-x{s}" for family in FAMILIES for s in SCALES)]


def shipped_file(family: str, scale: int) -> Path:
    """Where the package keeps ``family``'s x ``scale`` weights (the file may be absent)."""
    return Path(str(resources.files("srmeta.bundled") / FAMILIES[family].format(scale)))


def shipped_models() -> list[tuple[str, int]]:
    """``(family, scale)`` of every bundled file this installation holds, in
    :data:`FAMILIES` then scale order (a build may leave some out)."""
    return [(f, s) for f in FAMILIES for s in SCALES if shipped_file(f, s).is_file()]


def bundled_path(scale: int, family: str = "srmeta") -> Path:
    """The shipped weights file of ``family`` for ``scale``; a clear error when missing."""
    if scale not in SCALES:
        raise ModelError(f"no bundled model for x{scale}; bundled scales are {SCALES}")
    path = shipped_file(family, scale)
    if not path.is_file():
        raise ModelError(
            f"the bundled model {family}-x{scale} is not part of this installation"
            f" ({path.name}); pass --model with a weights file or run folder"
        )
    return path


def default_path(scale: int) -> Path:
    """What ``default`` means at ``scale``: the first family in :data:`FAMILIES` shipped."""
    for family in FAMILIES:
        if scale in SCALES and shipped_file(family, scale).is_file():
            return shipped_file(family, scale)
    return bundled_path(scale)  # raises the clear error


def display_name(model: str | os.PathLike | None, scale: int | None = None) -> str:
    """The name a user knows ``model`` by: ``default`` and bundled files by their bundled
    name (``srmeta-fast-x4``), anything else as given."""
    if model is not None and not is_bundled_name(model):
        return str(model)
    path = Path(resolve_model_name(model, scale))
    for family in FAMILIES:
        for s in SCALES:
            if shipped_file(family, s) == path:
                return f"{family}-x{s}"
    return str(model)


def is_bundled_name(model: object) -> bool:
    return isinstance(model, str) and model.lower() in bundled_names()


def resolve_model_name(model: str | os.PathLike | None, scale: int | None) -> str | os.PathLike:
    """What :func:`srmeta.models.loading.load_model` should load for ``model``.

    None and ``default`` mean the default model for ``scale`` (x4 when not given);
    ``srmeta-xN`` / ``srmeta-fast-xN`` the bundled x N model (``scale`` must agree).
    """
    if model is None or (isinstance(model, str) and model.lower() == DEFAULT_NAME):
        return default_path(scale if scale is not None else DEFAULT_SCALE)
    if is_bundled_name(model):
        name = str(model).lower()
        family, own = name.rsplit("-x", 1)
        if scale is not None and scale != int(own):
            raise ModelError(f"model {model} is x{own}, but --scale {scale} was asked for")
        return bundled_path(int(own), family)
    return model
