"""srmeta: single-image super-resolution with meta-learned, content-aware pixel loss weighting.

Public API: :func:`evaluate` scores a model on the benchmark sets under the published
protocol; :func:`load_model` builds a registered architecture or loads a weights file / run
folder (or a bundled model: ``srmeta-x4``); :func:`load_config` and :func:`train` run an
experiment; :func:`upscale` upscales a PIL image, array or file.

The names are loaded on first use (PEP 562), so ``import srmeta.errors`` or ``srmeta
--version`` does not pay for torch. No subpackage or module shares a name with them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "SrmetaError": "srmeta.errors",
    "evaluate": "srmeta.evaluation",
    "load_config": "srmeta.config",
    "load_model": "srmeta.models.loading",
    "train": "srmeta.training.loop",
    "upscale": "srmeta.inference.api",
}

__all__ = [
    "SrmetaError",
    "__version__",
    "evaluate",
    "load_config",
    "load_model",
    "train",
    "upscale",
]

if TYPE_CHECKING:
    from srmeta.config import load_config
    from srmeta.errors import SrmetaError
    from srmeta.evaluation import evaluate
    from srmeta.inference.api import upscale
    from srmeta.models.loading import load_model
    from srmeta.training.loop import train


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'srmeta' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
