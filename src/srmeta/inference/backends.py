"""Where tiles are computed: a torch module, or an ONNX graph through onnxruntime.

A backend is a callable from a float32 ``B x 3 x h x w`` batch in [0, 1] to the
``B x 3 x sh x sw`` output; the tiling and image handling around it are shared, so both
backends give the same images (checked in the tests to 1e-4).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from srmeta.errors import SrmetaError, first_line

BACKENDS = ("torch", "onnx")


class TorchBackend:
    """Runs an ``nn.Module`` under ``torch.inference_mode`` on ``device``."""

    name = "torch"

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise SrmetaError("--device cuda: no CUDA device is available")
        self.model = model.to(self.device).eval()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(batch.to(self.device)).float().cpu()


class OnnxBackend:
    """Runs an exported ONNX graph (see :mod:`srmeta.export`) with onnxruntime on the CPU."""

    name = "onnx"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise SrmetaError(
                "the onnx backend needs onnxruntime: pip install 'srmeta[onnx]'"
            ) from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            reason = first_line(err)
            raise SrmetaError(f"{Path(path)}: not a usable ONNX model ({reason})") from None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        (out,) = self.session.run(None, {self.input_name: batch.float().contiguous().numpy()})
        return torch.from_numpy(out)
