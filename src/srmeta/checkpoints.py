"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A run folder holds the inference weights (``model_last.safetensors``, ``model_best.
safetensors``, loadable alone by ``srmeta eval``) and, under ``checkpoints/``, the full
training state: raw and EMA weights, optimizer, scheduler, weighting strategy, step, best
score, RNG states and the config hash. State files are read back with
``torch.load(weights_only=True)``, so a checkpoint cannot execute code.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

import torch

from srmeta.atomic import atomic_open
from srmeta.errors import SrmetaError
from srmeta.safeload import torch_load_reason

STATE_DIR = "checkpoints"
_STATE_RE = re.compile(r"state_(\d{8})\.pt$")


def state_path(run_dir: Path, step: int) -> Path:
    return run_dir / STATE_DIR / f"state_{step:08d}.pt"


def list_states(run_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every state file in the run, oldest first."""
    folder = run_dir / STATE_DIR
    if not folder.is_dir():
        return []
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := _STATE_RE.search(p.name))]
    return sorted(found)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Generators take their states as CPU byte tensors; a checkpoint loaded onto the GPU
    (``load_state(path, "cuda")``) holds them there, so they come back to the CPU first."""
    torch.set_rng_state(state["torch"].cpu())
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_state(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` for ``step`` atomically, then prune all but the ``keep`` newest."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = state_path(run_dir, step)
    with atomic_open(path, force=True) as handle:
        handle.write(buffer.getvalue())
    for _, old in list_states(run_dir)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def load_state(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a torn or foreign file: say which, without a traceback
        reason = torch_load_reason(err)
        raise SrmetaError(f"{path}: not a readable srmeta checkpoint ({reason})") from None


def find_resume_state(run_dir: Path, resume: str | None) -> Path | None:
    """The state to resume from: ``auto`` = newest in the run (or none), a path, or None."""
    if resume in (None, "", "none", "never"):
        return None
    if resume == "auto":
        states = list_states(run_dir)
        return states[-1][1] if states else None
    path = Path(resume)
    if path.is_dir():
        states = list_states(path)
        if not states:
            raise SrmetaError(f"{path}: no checkpoints to resume from")
        return states[-1][1]
    if not path.is_file():
        raise SrmetaError(f"{path}: no such checkpoint")
    return path
