"""ONNX export: any srmeta model as a graph with dynamic batch, height and width.

Uses torch's own exporter (``torch.onnx.export(dynamo=True)``, which needs ``onnxscript``),
writes the file atomically, records the scale and architecture in the model's metadata,
and checks the written file with onnxruntime against torch on a probe input before
reporting success, so a file that exists is a file that works.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import logging
import os
import re
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from srmeta.atomic import atomic_open
from srmeta.cachedirs import cache_dir
from srmeta.errors import SrmetaError, first_line

OPSET = 18
TOLERANCE = 1e-4  # max abs difference in [0, 1] between onnxruntime and torch
PROBE_SHAPE = (2, 3, 37, 29)  # odd sizes and a batch: catches static-shape exports
# Part of every cached graph's name: bump it when a model's exported form changes (as
# bicubic's and the polyphase padding's did in 2), so graphs made by older code are remade.
EXPORT_REVISION = 2
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the exporter colours its messages for a terminal


def probe_batch() -> torch.Tensor:
    """Two crops of the bundled sample picture, :data:`PROBE_SHAPE`: image content, not
    noise. Some released networks (PAN) overflow to 1e20 on uniform noise, a regime no
    image reaches, which would fail any check however exact the export."""
    path = resources.files("srmeta.bundled") / "sample.png"
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    n, _, h, w = PROBE_SHAPE
    crops = [pixels[40 * i : 40 * i + h, 50 * i : 50 * i + w] for i in range(1, n + 1)]
    return torch.stack(crops).permute(0, 3, 1, 2).contiguous()


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise SrmetaError(f"ONNX export needs {module}: pip install 'srmeta[onnx]'") from None


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Silence what torch's exporters say that is not the user's business: their narration
    on stdout, the partial graph torch.export prints to stderr when it fails, their logged
    warnings (that torchvision's ops are skipped, which srmeta uses none of) and the
    Future/DeprecationWarnings of their own internals. Errors still raise, with their cause
    (:func:`export_reason`), and whether the graph computes the model is checked against
    torch afterwards."""
    logger = logging.getLogger("torch")  # torch's loggers take their level from this one
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def export_reason(err: BaseException) -> str:
    """Why an export failed, on one plain line. torch.onnx wraps the cause in a colour-coded
    account of its steps ("Failed to export the model with torch.export. This is step 1/3
    ..."), whose first line names no cause: the innermost exception does."""
    while err.__cause__ is not None:
        err = err.__cause__
    return _ANSI.sub("", first_line(err))


def onnx_bytes(model: nn.Module, scale: int, arch: str | None = None) -> bytes:
    """The serialised ONNX model of ``model`` (float32, input ``lr``, output ``sr``)."""
    for module in ("onnx", "onnxscript"):
        _require(module)
    model = model.float().cpu().eval()
    example = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    dims = {
        0: torch.export.Dim("batch", max=1024),
        2: torch.export.Dim("height", min=2),
        3: torch.export.Dim("width", min=2),
    }
    name = next(p for p in inspect.signature(model.forward).parameters if p != "self")
    try:
        with quiet_exporter():
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=["lr"],
                output_names=["sr"],
                dynamic_shapes={name: dims},
                verbose=False,
            )
    except Exception as err:  # the exporter raises many kinds; all mean "cannot export"
        raise SrmetaError(
            f"cannot export {type(model).__name__} to ONNX: {export_reason(err)}"
        ) from None
    if program is None:  # only the legacy (dynamo=False) exporter returns nothing
        raise SrmetaError(f"cannot export {type(model).__name__} to ONNX: no program returned")
    proto = program.model_proto
    for key, value in (("srmeta.scale", str(scale)), ("srmeta.arch", arch or "")):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def check_onnx(model: nn.Module, path: str | os.PathLike) -> float:
    """Max abs difference between onnxruntime on ``path`` and torch on a probe batch."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = probe_batch()
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    if not isinstance(got, np.ndarray):  # sparse, sequence or map outputs: not an image
        raise SrmetaError(f"{path}: ONNX output is a {type(got).__name__}, not an array")
    with torch.inference_mode():
        want = model.float().cpu().eval()(x).numpy()
    if got.shape != want.shape:
        raise SrmetaError(f"{path}: ONNX output {got.shape} differs from torch's {want.shape}")
    return float(abs(got - want).max())


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    scale: int,
    arch: str | None = None,
    force: bool = False,
) -> float:
    """Write ``model`` to ``path`` as ONNX and verify it; returns the max abs difference.

    The file appears only once complete, and is removed again if onnxruntime's output
    differs from torch's by more than :data:`TOLERANCE`.
    """
    data = onnx_bytes(model, scale, arch)
    target = Path(path)
    with atomic_open(target, force=force) as handle:
        handle.write(data)
    _require("onnxruntime")
    try:
        difference = check_onnx(model, target)
    except Exception:
        target.unlink(missing_ok=True)
        raise
    if not difference <= TOLERANCE:
        target.unlink(missing_ok=True)
        raise SrmetaError(
            f"the exported graph differs from torch by {difference:.2e} (> {TOLERANCE}); not kept"
        )
    return difference


def _fingerprint(model: nn.Module, scale: int) -> str:
    identity = f"{type(model).__qualname__}|{scale}|{torch.__version__}|{EXPORT_REVISION}"
    digest = hashlib.sha256(identity.encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def onnx_cache_dir() -> Path:
    """``<cache root>/onnx`` (:mod:`srmeta.cachedirs`)."""
    return cache_dir("onnx")


def cached_onnx(model: nn.Module, scale: int) -> Path:
    """An exported, verified ONNX file for ``model``, made once per weights and kept."""
    path = onnx_cache_dir() / f"{_fingerprint(model, scale)}.onnx"
    if not path.is_file():
        export_onnx(model, path, scale, force=True)
    return path


def cached_openvino(model: nn.Module, scale: int) -> Path:
    """An OpenVINO model (``.xml`` + ``.bin``) for ``model``, converted once per weights.

    Converted straight from torch (the converter traces it), with dynamic batch, height and
    width and the weights kept in float32 (OpenVINO would store them as fp16 by default). A
    model that cannot be traced (RFDN's and RLFN's size guard is symbolic, which tracing
    rejects) is converted from its verified ONNX export instead.
    """
    try:
        import openvino as ov
    except ImportError:
        raise SrmetaError(
            "the openvino backend needs OpenVINO: pip install 'srmeta[openvino]'"
        ) from None
    path = onnx_cache_dir().parent / "openvino" / f"{_fingerprint(model, scale)}.xml"
    if path.is_file() and path.with_suffix(".bin").is_file():
        return path
    model = model.float().cpu().eval()
    example = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    try:  # the converter traces the model: torch warns about tracing, not about srmeta
        with quiet_exporter(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = ov.convert_model(model, example_input=example, input=[(-1, 3, -1, -1)])
    except Exception as traced_err:  # the converter raises many kinds; all mean "cannot"
        try:
            converted = ov.convert_model(str(cached_onnx(model, scale)))
        except Exception as err:
            reason = first_line(err) if isinstance(err, SrmetaError) else export_reason(traced_err)
            raise SrmetaError(
                f"cannot convert {type(model).__name__} to OpenVINO: {reason}"
            ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.xml")
    ov.save_model(converted, str(partial), compress_to_fp16=False)
    os.replace(partial.with_suffix(".bin"), path.with_suffix(".bin"))
    os.replace(partial, path)  # the .xml last: a complete pair once it exists
    return path
