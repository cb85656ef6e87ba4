"""srmeta: single-image super-resolution with meta-learned, content-aware pixel loss weighting.

Public API (grows with each capability): :func:`evaluate` scores a model on the benchmark
sets under the published protocol; :func:`load_model` builds a registered architecture or
loads a weights file / run folder (or a bundled model: ``srmeta-x4``); :func:`load_config`
and :func:`train` run an experiment; :func:`upscale` upscales a PIL image, array or file.

The names are bound here eagerly: ``evaluate`` and ``train`` are also submodules, and a lazy
lookup would be shadowed by the submodule as soon as anything imported it.
"""

from srmeta.config import load_config
from srmeta.errors import SrmetaError
from srmeta.evaluate import evaluate
from srmeta.inference.api import upscale
from srmeta.models.registry import load_model
from srmeta.train.loop import train

__version__ = "0.1.0"

__all__ = [
    "SrmetaError",
    "__version__",
    "evaluate",
    "load_config",
    "load_model",
    "train",
    "upscale",
]
