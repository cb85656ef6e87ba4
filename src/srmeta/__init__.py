"""srmeta: single-image super-resolution with meta-learned, content-aware pixel loss weighting.

Public API (grows with each capability): :func:`evaluate` scores any registered model on the
benchmark sets under the published protocol; :func:`load_model` builds a registered model.
"""

from srmeta.errors import SrmetaError

__version__ = "0.1.0"

__all__ = ["SrmetaError", "__version__", "evaluate", "load_model"]


def __getattr__(name: str):
    # Lazy: `import srmeta` stays cheap for the CLI's --help and for tools that only need errors.
    if name == "evaluate":
        from srmeta.evaluate import evaluate

        return evaluate
    if name == "load_model":
        from srmeta.models.registry import load_model

        return load_model
    raise AttributeError(f"module 'srmeta' has no attribute {name!r}")
