"""Where tiles are computed: a torch module, an ONNX graph through onnxruntime, or an
OpenVINO model.

A backend is a callable from a float32 ``B x 3 x h x w`` batch in [0, 1] to the
``B x 3 x sh x sw`` output; the tiling and image handling around it are shared, so all
backends give the same images (checked in the tests to 1e-4). ``auto`` takes the fastest
one installed: OpenVINO, then onnxruntime, then torch on the CPU (the order measured in
``benchmarks/upscale_speed.py``), torch on a GPU.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections import OrderedDict
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch import nn

from srmeta.devices import torch_device
from srmeta.errors import SrmetaError, first_line

if TYPE_CHECKING:  # an optional dependency, imported when the backend is made
    import openvino as ov

BACKENDS = ("auto", "torch", "onnx", "openvino")
_CPU_PREFERENCE = (("openvino", ("openvino",)), ("onnx", ("onnx", "onnxscript", "onnxruntime")))
OV_CACHE_SHAPES = 4  # compiled tile shapes kept: an image's tiles share one shape


def installed(*modules: str) -> bool:
    """Whether every module can be imported (without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in modules)


def candidate_backends(backend: str, device: str) -> list[str]:
    """The concrete backends to try for ``backend``, best first: the one named, or for
    ``auto`` every installed one in order of speed, ending with torch (which runs every
    model, where a converter may refuse one)."""
    if backend not in BACKENDS:
        raise SrmetaError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend != "auto":
        if backend != "torch" and device != "cpu":
            raise SrmetaError(f"the {backend} backend runs on the CPU; use --device cpu")
        return [backend]
    if device != "cpu":
        return ["torch"]
    return [name for name, modules in _CPU_PREFERENCE if installed(*modules)] + ["torch"]


def resolve_backend(backend: str, device: str) -> str:
    """The concrete backend ``backend`` starts with (``auto``: the fastest installed)."""
    return candidate_backends(backend, device)[0]


class TorchBackend:
    """Runs an ``nn.Module`` under ``torch.inference_mode`` on ``device``."""

    name = "torch"

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.device = torch_device(device)
        self.model = model.to(self.device).eval()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(batch.to(self.device)).float().cpu()


def _require(module: str, extra: str, who: str) -> ModuleType:
    """An optional dependency, or a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SrmetaError(f"{who} needs {module}: pip install 'srmeta[{extra}]'") from None


class OnnxBackend:
    """Runs an exported ONNX graph (see :mod:`srmeta.export`) with onnxruntime on the CPU."""

    name = "onnx"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        ort = _require("onnxruntime", "onnx", "the onnx backend")
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


class OpenVinoBackend:
    """Runs an OpenVINO model (see :func:`srmeta.export.cached_openvino`) on the CPU.

    Each tile shape is compiled once as a static model (OpenVINO plans static shapes best)
    and kept, a few shapes at most. Precision is pinned to f32: on CPUs with bf16 units
    OpenVINO would otherwise run in bf16 and differ from torch by far more than 1e-4.
    """

    name = "openvino"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        ov = _require("openvino", "openvino", "the openvino backend")
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as err:  # OpenVINO raises its own exception types
            reason = first_line(err)
            raise SrmetaError(f"{Path(path)}: not a usable OpenVINO model ({reason})") from None
        self.config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = threads
        self.compiled: OrderedDict[tuple[int, ...], ov.CompiledModel] = OrderedDict()

    def _compiled_for(self, shape: tuple[int, ...]) -> ov.CompiledModel:
        compiled = self.compiled.get(shape)
        if compiled is None:
            model = self.model.clone()
            model.reshape(list(shape))
            compiled = self.core.compile_model(model, "CPU", self.config)
            self.compiled[shape] = compiled
            if len(self.compiled) > OV_CACHE_SHAPES:
                self.compiled.popitem(last=False)
        self.compiled.move_to_end(shape)
        return compiled

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.float().contiguous().numpy()
        out = self._compiled_for(tuple(x.shape))(x)[0]
        return torch.from_numpy(out)
