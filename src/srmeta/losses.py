"""Per-pixel loss maps: the quantity every weighting strategy re-weights.

The trainer never reduces a loss directly: it builds the map ``l[b, i] = mean_c rho(e)``
(``e = SR - HR``) and lets a weighting strategy decide how much each pixel counts. Uniform
weights give back the plain L1 / Charbonnier loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOSS_KINDS = ("l1", "charbonnier", "l2")


def pixel_loss_map(sr: torch.Tensor, hr: torch.Tensor, kind: str = "l1", eps: float = 1e-3):
    """``B x H x W`` loss map: the channel mean of ``|e|`` (L1), ``sqrt(e^2 + eps^2)``
    (Charbonnier) or ``e^2`` (L2: the squared error PSNR is computed from).

    Computed in at least float32 (a bf16 SR output is promoted; float64 stays float64).
    """
    dtype = torch.promote_types(torch.promote_types(sr.dtype, hr.dtype), torch.float32)
    error = sr.to(dtype) - hr.to(dtype)
    if kind == "l1":
        rho = error.abs()
    elif kind == "charbonnier":
        rho = torch.sqrt(error * error + eps * eps)
    elif kind == "l2":
        rho = error * error
    else:
        raise ValueError(f"unknown loss kind {kind!r}; choose one of {LOSS_KINDS}")
    return rho.mean(dim=1)


@dataclass(frozen=True)
class PixelLoss:
    """The pixel loss of a run, as one value: the trainer's forward, the meta gradient and
    the rewards must all differentiate the same ``kind`` with the same Charbonnier ``eps``."""

    kind: str = "l1"
    eps: float = 1e-3

    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return pixel_loss_map(sr, hr, self.kind, self.eps)


L1 = PixelLoss()  # the default pixel loss: plain L1
