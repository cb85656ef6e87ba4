"""Tiny training-run configs shared by the tests that train (seconds on a CPU)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

_BASE = {
    "seed": 3,
    "scale": 4,
    "device": "cpu",
    "model": {"arch": "espcn", "options": {"features": [16, 8]}},
    "data": {
        "train": {"datasets": ["T91"], "patch_size": 32, "batch_size": 4, "workers": 0},
        "val": {"datasets": ["Set5"], "every": 0, "crop": 96},
    },
    "train": {
        "steps": 40,
        "optimizer": {"name": "adam", "lr": 1e-3},
        "scheduler": {"name": "constant"},
        "log_every": 10,
        "checkpoint_every": 10,
        "deterministic": True,
    },
}


def write_run_config(folder: Path, data_root: Path, name: str, **changes: object) -> Path:
    """Write ``folder/name.yaml``: a tiny ESPCN x4 run on T91, output in ``folder/name``.

    ``changes`` are paths joined by double underscores (``train__steps=300``) set on the
    defaults above.
    """
    cfg = copy.deepcopy(_BASE)
    cfg.update(name=name, output_dir=str(folder / name), data_root=str(data_root))
    for key, value in changes.items():
        node = cfg
        *parents, leaf = key.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
