"""Continuing a run: which config changes a checkpoint accepts, and which checkpoint to
trust when the newest one is torn.

A resumed run must be the run it continues, so any change to what is trained (data,
model, loss, optimizer, seed...) is refused, naming the keys. Changes that only say how
long or how often are accepted: more ``train.steps`` extends a finished run (a schedule
over the old length is recomputed for the new one), and the data root, device or run
folder may move (a checkpoint belongs to the folder it is found in, whatever the config
calls that folder).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from srmeta import checkpoints as ckpt
from srmeta.errors import SrmetaError

EXTENDABLE = (
    "train.steps",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "data_root",
    "device",
    "output_dir",
)
SHOWN = 5  # differing keys named in an error


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every dotted key whose value differs (missing = None)."""
    a, b = _flatten(old), _flatten(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def saved_config(run_dir: Path) -> dict[str, Any] | None:
    """The config the run wrote when it started (``config.yaml``), if readable."""
    try:
        loaded = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


def same_start(old: Any, new: Any, recorded: dict[str, Any] | None) -> bool:
    """Whether a changed ``train.init_from`` still names the run's start weights: the start
    of a run moved with its checkout (another git worktree, a renamed folder) is the same
    start. Checked against the digest the run recorded, or else against the old file."""
    try:
        data = Path(new).read_bytes()
        if recorded and recorded.get("sha256"):
            return hashlib.sha256(data).hexdigest() == recorded["sha256"]
        return Path(old).read_bytes() == data
    except (OSError, TypeError):
        return False


def check_config(state: dict[str, Any], run_dir: Path, new: dict[str, Any], digest: str) -> None:
    """Refuse a config that trains something else than the checkpoint's run, naming keys."""
    old = state.get("config") or saved_config(run_dir)
    if old is None:  # nothing to compare keys with: fall back to the hash
        if state.get("config_hash") != digest:
            raise SrmetaError("the config differs from the checkpoint's; start a new run")
        return
    blocking = [
        d
        for d in differences(old, new)
        if d[0] not in EXTENDABLE
        and not (d[0] == "train.init_from" and same_start(d[1], d[2], state.get("init_from")))
    ]
    if blocking:
        shown = ", ".join(f"{k} ({a!r} -> {b!r})" for k, a, b in blocking[:SHOWN])
        more = f" and {len(blocking) - SHOWN} more" if len(blocking) > SHOWN else ""
        raise SrmetaError(
            f"the config differs from the run's in {shown}{more}; only {', '.join(EXTENDABLE)}"
            " may change on resume: start a new run (another output_dir) for the rest"
        )


def load_resume_state(
    run_dir: Path, path: Path, auto: bool, device: torch.device
) -> dict[str, Any]:
    """The state at ``path``; with ``auto``, an unreadable newest state falls back to the
    newest readable one before it (said on stderr), since a torn file must not end a run."""
    try:
        return ckpt.load_state(path, device)
    except SrmetaError as first:
        if not auto:
            raise
        older = [p for step, p in reversed(ckpt.list_states(run_dir)) if p != path]
        for candidate in older:
            try:
                state = ckpt.load_state(candidate, device)
            except SrmetaError:
                continue
            print(
                f"srmeta: warning: {path.name} is not readable; resuming from the previous"
                f" checkpoint {candidate.name}",
                file=sys.stderr,
            )
            return state
        raise first from None
