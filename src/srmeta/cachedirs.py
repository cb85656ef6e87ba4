"""Where srmeta keeps what it can rebuild: one root, one folder per kind.

The cache root is ``$SRMETA_CACHE``, else ``<user cache>/srmeta`` (``$XDG_CACHE_HOME`` or
``~/.cache``); LR images go to ``<root>/lr``, exported and converted models to
``<root>/onnx``. The default data root, ``<user cache>/srmeta/data``, holds what cannot be
rebuilt, so moving the cache with ``$SRMETA_CACHE`` does not move it.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_dir() -> Path:
    """``$XDG_CACHE_HOME/srmeta`` or ``~/.cache/srmeta``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "srmeta"


def cache_dir(kind: str) -> Path:
    """``<cache root>/<kind>`` for rebuildable files: ``lr`` or ``onnx``."""
    env = os.environ.get("SRMETA_CACHE")
    return (Path(env).expanduser() if env else user_dir()) / kind
