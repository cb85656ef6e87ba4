"""The identity of a run: hashes of its config that resume and shipped models check.

``config_hash`` covers every field, so a resumed run must have exactly the config it started
with; ``recipe_hash`` leaves out where a run lives, so a shipped model can be matched to the
recipe in ``configs/`` that trained it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from srmeta.config import ExperimentConfig, config_to_dict


def _digest(fields: dict[str, Any]) -> str:
    """16 hex chars of sha256 over canonical JSON: equal fields hash equal on any machine."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Fields added after runs and shipped models recorded their hashes: left out of the hash
# while unset, so that a config which does not use them keeps the hash it always had.
LATER_OPTIONAL_FIELDS = (
    ("data", "train", "pairs"),
    ("data", "train", "exclude"),
    ("data", "meta", "pairs"),
    ("data", "val", "pairs"),
)


def _hashed_fields(cfg: ExperimentConfig) -> dict[str, Any]:
    fields = config_to_dict(cfg)
    for *parents, key in LATER_OPTIONAL_FIELDS:
        node: Any = fields
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node and node[key] is None:
            del node[key]
    return fields


def config_hash(cfg: ExperimentConfig) -> str:
    """The hash of every field: a resumed run must have exactly the config it started with."""
    return _digest(_hashed_fields(cfg))


# Where a run lives and what it is called, not what it learns: two runs of one recipe under
# different names, folders or data roots train the same weights.
RUN_LOCATION_FIELDS = ("name", "output_dir", "data_root")


def recipe_hash(cfg: ExperimentConfig) -> str:
    """:func:`config_hash` without the run-location fields: what a shipped model records so
    a test can tell that ``configs/`` still holds the recipe it was trained from."""
    fields = _hashed_fields(cfg)
    return _digest({k: v for k, v in fields.items() if k not in RUN_LOCATION_FIELDS})
