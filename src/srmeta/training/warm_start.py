"""``train.init_from``: start a run from another run's weights, and only its weights.

What BasicSR calls ``pretrain_network_g``: the optimizer, schedule and EMA start fresh. A
file of another architecture, scale or options is refused with what differs, since a silent
partial load would train something else than the config says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from srmeta.config import ConfigError
from srmeta.errors import ModelError, first_line
from srmeta.models.bundled import is_bundled_name, resolve_model_name
from srmeta.models.files import meta_images_of, read_model_file, resolve_run_file
from srmeta.models.registry import get_descriptor

LAST_MODEL = "model_last.safetensors"  # where a run folder keeps the weights it ended with


def warm_start_path(source: str, scale: int) -> Path:
    """The file or folder ``train.init_from`` names; a bundled name (``srmeta-x4``) is the
    shipped file of that model, which must be of the run's scale."""
    if not is_bundled_name(source):
        return Path(source).expanduser()
    own = source.lower().rsplit("-x", 1)[-1]
    if own.isdigit() and int(own) != scale:
        raise ConfigError(f"train.init_from: {source} is an x{own} model; this run is x{scale}")
    try:
        return Path(resolve_model_name(source, scale))
    except ModelError as err:
        raise ConfigError(f"train.init_from: {err}") from None


def init_file(source: Path) -> Path:
    """The weights file ``train.init_from`` names: the file itself, or in a run folder
    ``model_last`` (where the run ended; ``model_best`` only when there is no last)."""
    if source.is_dir() and (source / LAST_MODEL).is_file():
        return source / LAST_MODEL
    return resolve_run_file(source) if source.is_dir() else source


def load_warm_start(
    model: nn.Module, arch: str, scale: int, options: Mapping[str, Any], source: Path
) -> dict[str, Any]:
    """Load the weights ``source`` names into ``model`` (built from ``arch``, ``scale`` and
    ``options``); returns the file and the meta images its run learned from, which stay out
    of this run's evaluation too."""
    try:
        file = init_file(source)
        state, spec = read_model_file(file)
    except ModelError as err:
        raise ConfigError(f"train.init_from: {err}") from None
    descriptor = get_descriptor(arch)
    differs = []
    if spec.arch != descriptor.name:
        differs.append(f"architecture {spec.arch}, not {descriptor.name}")
    if spec.scale is not None and spec.scale != scale:
        differs.append(f"scale x{spec.scale}, not x{scale}")
    if spec.arch == descriptor.name:
        want = descriptor.options_with_defaults(options)
        for key in sorted(set(want) | set(spec.options)):
            if spec.options.get(key) != want.get(key):
                differs.append(f"{key}={spec.options.get(key)!r}, not {want.get(key)!r}")
    if differs:
        raise ConfigError(
            f"train.init_from: {file} holds another model than this run's ({'; '.join(differs)})"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        why = first_line(err)
        raise ConfigError(f"train.init_from: {file}: weights do not fit ({why})") from None
    digest = hashlib.sha256(file.read_bytes()).hexdigest()  # resume knows the start by it
    return {"file": str(file.resolve()), "meta_images": meta_images_of(file), "sha256": digest}
