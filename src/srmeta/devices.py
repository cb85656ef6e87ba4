"""The one place a device name becomes a ``torch.device``: unknown names and devices this
machine lacks are refused with a one-line error before any work starts."""

from __future__ import annotations

import torch

from srmeta.errors import SrmetaError


def torch_device(name: str | torch.device) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, ``mps`` (or ``auto``: CUDA when available) as a device."""
    if isinstance(name, torch.device):
        device = name
    elif name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except (RuntimeError, ValueError):
            raise SrmetaError(f"unknown device '{name}'; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SrmetaError(f"device {name}: no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise SrmetaError(f"device {name}: this machine has {count} CUDA device(s)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise SrmetaError(f"device {name}: no MPS device is available")
    elif device.type != "cpu":
        raise SrmetaError(f"device {name}: srmeta runs on cpu, cuda or mps")
    return device
