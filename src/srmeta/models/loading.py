"""``load_model``: one entry point from whatever names a model to a ready ``nn.Module``.

A registered architecture name builds a fresh network (:mod:`registry`), a bundled name
or a path loads weights (:mod:`bundled`, :mod:`files`). Kept apart from the registry so
the registry knows nothing of files, and files can use the registry.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from srmeta.errors import ModelError
from srmeta.models.bundled import is_bundled_name, resolve_model_name
from srmeta.models.files import load_model_file
from srmeta.models.registry import WEIGHT_SUFFIXES, get_descriptor, registered_names


def _looks_like_path(model: str | os.PathLike) -> bool:
    text = os.fspath(model)
    return (
        not isinstance(model, str)
        or "/" in text
        or os.sep in text
        or text.lower().endswith(WEIGHT_SUFFIXES)
    )


def _is_architecture_name(model: str) -> bool:
    return model.lower() in registered_names() and not _looks_like_path(model)


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
    if is_bundled_name(model):  # default, srmeta-x4, srmeta-fast-x4...: shipped weights
        model = resolve_model_name(model, scale)
    if isinstance(model, str) and _is_architecture_name(model):
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
        return load_model_file(model, scale, **options)
    known = ", ".join(registered_names())
    raise ModelError(
        f"unknown model '{model}': not a registered model ({known}) nor a weights file"
    )
