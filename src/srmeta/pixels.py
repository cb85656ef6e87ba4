"""Rounding and quantisation rules, in one place.

MATLAB converts double to uint8 by saturating and rounding halves *away from zero*;
``torch.round`` rounds halves to even. The difference flips pixels of MATLAB-made LR files,
so every uint8 conversion in srmeta goes through these functions.
"""

import torch


def to_uint8(x255: torch.Tensor) -> torch.Tensor:
    """Saturate to [0, 255] and round halves up, as MATLAB's ``uint8(x)`` on a double array."""
    return torch.floor(x255.clamp(0, 255) + 0.5).to(torch.uint8)


def quantize(x01: torch.Tensor) -> torch.Tensor:
    """An SR output as if saved to an 8-bit PNG: clamp to [0, 1], scale, round -> uint8."""
    return to_uint8(x01.detach().to(torch.float64) * 255.0)
