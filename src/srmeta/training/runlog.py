"""What a run tells the world: a JSONL metrics log (always), TensorBoard (when installed).

The JSONL file is the record of truth: one object per line with ``step`` and named values,
readable without any extra package. On resume, lines past the resumed step (written by the
interrupted process after its last checkpoint) are dropped so the log reads like one run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from srmeta.atomic import atomic_write_text
from srmeta.errors import SrmetaError

METRICS_FILE = "metrics.jsonl"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics log with an integer ``step``.

    A torn last line (the run was killed while appending it) is left out; any other line
    that is not JSON means the file is not a log this code wrote, and is an error."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SrmetaError(f"{path}: unreadable ({err})") from None
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise SrmetaError(f"{path}:{number}: not a JSON line") from None
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


def truncate_after(path: Path, step: int) -> None:
    """Keep only the log records of steps up to ``step`` (inclusive), and no torn line."""
    if not path.is_file():
        return
    kept = [record for record in read_records(path) if record["step"] <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept), force=True)


class RunLog:
    """Appends metrics to ``metrics.jsonl`` and mirrors scalars/images to TensorBoard."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = run_dir / METRICS_FILE
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the tensorboard extra is optional
                SummaryWriter = None  # noqa: N806
            if SummaryWriter is not None:
                self._tb = SummaryWriter(log_dir=str(run_dir / "tb"))

    def scalars(self, step: int, values: dict[str, Any], kind: str = "train") -> None:
        if not self.enabled:
            return
        record = {"step": step, "kind": kind, "time": round(time.time(), 3), **values}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)

    @property
    def wants_images(self) -> bool:
        """True when images would be recorded (TensorBoard is installed and this is rank 0)."""
        return self.enabled and self._tb is not None

    def images(self, step: int, images: dict[str, torch.Tensor]) -> None:
        """Validation images (``C x H x W`` in [0, 1]) to TensorBoard, when available."""
        if self.enabled and self._tb is not None:
            for tag, image in images.items():
                self._tb.add_image(f"val/{tag}", image.clamp(0, 1), step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
