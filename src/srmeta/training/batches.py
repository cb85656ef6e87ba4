"""The tensors one SR step trains on, assembled from a data batch."""

from __future__ import annotations

import torch


def step_batch(
    batch: dict[str, torch.Tensor],
    device: torch.device,
    extra: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LR, HR and corrupt flags on ``device``: ``batch``, with ``extra`` (the step's meta
    batch under ``data.meta.mix: add``) appended, its samples not corrupt. A batch without
    ``corrupt`` flags marks nothing."""
    lr = batch["lr"].to(device, non_blocking=True)
    hr = batch["hr"].to(device, non_blocking=True)
    flags = batch.get("corrupt")
    if flags is None:
        corrupt = torch.zeros(len(lr), dtype=torch.bool, device=device)
    else:
        corrupt = flags.to(device=device, dtype=torch.bool).reshape(len(lr))
    if extra is not None:
        lr = torch.cat([lr, extra["lr"].to(device)])
        hr = torch.cat([hr, extra["hr"].to(device)])
        none = torch.zeros(len(extra["lr"]), dtype=torch.bool, device=device)
        corrupt = torch.cat([corrupt, none])
    return lr, hr, corrupt
