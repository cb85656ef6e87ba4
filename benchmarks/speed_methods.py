"""The methods `upscale_speed.py` measures, and what one fresh child process measures of one.

A method is a peer (``pil-bicubic``, ``bicubic``: srmeta's MATLAB bicubic, PSNR only, the
OpenCV ``dnn_superres`` models) or a srmeta model under a backend, written
``<model>@<backend>`` (``srmeta-fast-x4@openvino``; the model is a bundled name or a weights
file). Every method becomes the same thing: an RGB uint8 -> RGB uint8 function.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

OPENCV = {  # algorithm and model file (per scale) of each OpenCV dnn_superres peer
    "opencv-fsrcnn": ("fsrcnn", "FSRCNN_x{}.pb"),
    "opencv-espcn": ("espcn", "ESPCN_x{}.pb"),
    "opencv-fsrcnn-small": ("fsrcnn", "FSRCNN-small_x{}.pb"),
}
# The OpenCV peers' requirement: 5.1 no longer reads the FSRCNN .pb files of dnn_superres.
OPENCV_REQUIREMENT = "opencv-contrib-python-headless<5.1"
OPENCV_TOO_NEW = (5, 1)
PEER_LABELS = {
    "bicubic": "bicubic (srmeta, MATLAB)",
    "pil-bicubic": "PIL bicubic",
    "opencv-fsrcnn": "OpenCV FSRCNN",
    "opencv-fsrcnn-small": "OpenCV FSRCNN-small",
    "opencv-espcn": "OpenCV ESPCN",
}
BACKEND_LABELS = {"torch": "torch", "onnx": "onnxruntime", "openvino": "OpenVINO"}
Upsample = Callable[[np.ndarray], np.ndarray]  # H x W x 3 RGB uint8 -> sH x sW x 3


def opencv_problem() -> str | None:
    """Why the OpenCV peers cannot run here (not installed, or too new to read their model
    files), or None."""
    import importlib.util

    if importlib.util.find_spec("cv2") is None:
        return f"the OpenCV methods need {OPENCV_REQUIREMENT}"
    import cv2

    version = tuple(int(part) for part in cv2.__version__.split(".")[:2] if part.isdigit())
    if version >= OPENCV_TOO_NEW:
        return (
            f"OpenCV {cv2.__version__} no longer reads the FSRCNN .pb files;"
            f" pip install '{OPENCV_REQUIREMENT}'"
        )
    return None


def split_method(method: str) -> tuple[str, str] | None:
    """``(model, backend)`` of a srmeta method, None for a peer."""
    if "@" not in method:
        return None
    model, backend = method.rsplit("@", 1)
    return model, backend


def model_name(model: str) -> str:
    """A srmeta model as tables name it: a file by its stem, a bundled model by its name."""
    return Path(model).stem if os.sep in model else model


# Environment keys of the models the cells were measured with, valued by their
# weights_digest: a file rewritten with the same network (a note added to its metadata)
# keeps its cells.
HASH_KEY = "sha256 "


def stale_models(old_env: dict[str, str], new_env: dict[str, str]) -> set[str] | None:
    """Names of the models whose weights changed since ``old_env`` was recorded, or None when
    anything else changed (machine, threads, a library's version): that touches every cell,
    while a rebundled model touches only its own."""

    def rest(env: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in env.items() if not k.startswith(HASH_KEY)}

    if rest(old_env) != rest(new_env):
        return None
    return {
        key[len(HASH_KEY) :]
        for key, value in new_env.items()
        if key.startswith(HASH_KEY) and old_env.get(key) != value
    }


def keep_cells(cells: dict[str, Any], stale: set[str]) -> dict[str, Any]:
    """The cells (keyed by method) that do not belong to a stale model."""
    return {
        method: cell
        for method, cell in cells.items()
        if not ((srmeta := split_method(method)) and model_name(srmeta[0]) in stale)
    }


def method_name(method: str) -> str:
    """What a row or a point is called: a srmeta model's name (any backend), a peer's label."""
    srmeta = split_method(method)
    return model_name(srmeta[0]) if srmeta else PEER_LABELS[method]


def label(method: str) -> str:
    srmeta = split_method(method)
    if srmeta is None:
        return PEER_LABELS[method]
    model, backend = srmeta
    return f"{model_name(model)} ({BACKEND_LABELS[backend]})"


def check_method(method: str) -> str | None:
    """Why ``method`` cannot be measured, or None."""
    srmeta = split_method(method)
    if srmeta is None:
        return None if method in PEER_LABELS else f"unknown method {method!r}"
    if srmeta[1] not in BACKEND_LABELS:
        return f"{method}: backend must be one of {', '.join(BACKEND_LABELS)}"
    return None


def make_upsampler(method: str, peers: Path, threads: int, scale: int) -> tuple[Upsample, Any]:
    """The method as an RGB uint8 -> RGB uint8 function, plus srmeta's Upscaler (or None)."""
    if method == "pil-bicubic":
        from PIL import Image

        def pil(rgb: np.ndarray) -> np.ndarray:
            size = (rgb.shape[1] * scale, rgb.shape[0] * scale)
            return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))

        return pil, None
    if method in OPENCV:
        import cv2

        cv2.setNumThreads(threads)
        algorithm, file = OPENCV[method]
        net = cv2.dnn_superres.DnnSuperResImpl_create()
        net.readModel(str(peers / "opencv" / file.format(scale)))
        net.setModel(algorithm, scale)

        def opencv(rgb: np.ndarray) -> np.ndarray:  # OpenCV works in BGR
            return np.ascontiguousarray(net.upsample(rgb[..., ::-1].copy())[..., ::-1])

        return opencv, None
    srmeta = split_method(method)
    if srmeta is None:
        raise SystemExit(f"{method!r} has no upsampler")
    import torch

    from srmeta.imageio import ImageData
    from srmeta.inference.upscaler import Upscaler

    torch.set_num_threads(threads)
    up = Upscaler(srmeta[0], scale=scale, backend=srmeta[1], threads=threads)
    return lambda rgb: up.upscale_image(ImageData(rgb, None, "PNG")).colour, up


def prepare(method: str, scale: int) -> None:
    """Export or convert the model once, so no child's time or peak RSS includes it."""
    srmeta = split_method(method)
    if srmeta is None or srmeta[1] == "torch":
        return
    from srmeta.export import cached_onnx, cached_openvino
    from srmeta.models.loading import load_model
    from srmeta.models.registry import inference_form

    model = inference_form(load_model(srmeta[0], scale))
    (cached_onnx if srmeta[1] == "onnx" else cached_openvino)(model, scale)


class Profile:
    """Seconds spent in the Upscaler's backend calls and in its uint8 quantisation.

    What runs the tiles (``runner_for``: the backend, or torch for the exact tiling of
    image-wide layers) is wrapped on the instance; ``to_bit_depth`` is looked up as a global of the
    upscaler module at call time, so wrapping that global times every call it makes.
    """

    def __init__(self, upscaler: Any) -> None:
        import srmeta.inference.upscaler as module

        self.seconds = {"model": 0.0, "quantise": 0.0}
        runner_for = upscaler.runner_for
        upscaler.runner_for = lambda h, w: self._timed(runner_for(h, w), "model")
        module.to_bit_depth = self._timed(module.to_bit_depth, "quantise")

    def _timed(self, function: Callable, key: str) -> Callable:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                self.seconds[key] += time.perf_counter() - start

        return timed


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident set (``VmRSS``) or its high-water mark (``VmHWM``), in MiB.

    Not ``ru_maxrss``: Linux carries it over fork and exec, so a child would report the
    parent's peak; ``VmHWM`` belongs to the address space the child's exec created.
    """
    with open("/proc/self/status") as handle:
        line = next(row for row in handle if row.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def speed_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One method on one input, in this (fresh) process: timings, memory, srmeta profile."""
    image, scale = np.load(spec["input"]), spec["scale"]
    upsample, upscaler = make_upsampler(spec["method"], Path(spec["peers"]), spec["threads"], scale)
    upsample(image[:48, :48])
    if upscaler is not None:  # compile for this image's tile shape before the clock starts
        upsample(image)
    profile = Profile(upscaler) if upscaler is not None else None
    setup_mib, times = rss_mib(), []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        out = upsample(image)
        times.append(time.perf_counter() - start)
        if out.shape != (image.shape[0] * scale, image.shape[1] * scale, 3):
            raise SystemExit(f"{spec['method']}: output shape {out.shape}")
        del out
    median = statistics.median(times)
    image_mib = image.nbytes * (1 + scale**2) / 2**20  # uint8 input and output
    megapixels = image.shape[0] * image.shape[1] * scale**2 / 1e6
    row: dict[str, Any] = {
        "lr": list(image.shape[:2]),
        "seconds": times,
        "median_s": median,
        "mp_per_s": megapixels / median,
        "setup_rss_mib": setup_mib,
        "peak_rss_mib": rss_mib("VmHWM"),
        "image_mib": image_mib,
    }
    if profile is not None:
        total = sum(times)
        plan = upscaler.plan
        row["profile"] = {
            **{key: seconds / total for key, seconds in profile.seconds.items()},
            "other": 1 - sum(profile.seconds.values()) / total,
            "tile": plan.tile,
            "context": plan.context,
            "blend": plan.blend,
            "tiles": upscaler.tiles_for(*image.shape[:2]),
            "batch": upscaler.batch_size,
        }
        ran_on = upscaler.backend_for(*image.shape[:2])
        if ran_on != upscaler.backend:  # image-wide layers, tiled exactly on torch
            row["profile"]["ran_on"] = ran_on
    return row


def run_child(script: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`speed_child` in a new interpreter; a crash becomes an ``error`` entry."""
    threads = str(spec["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    done = subprocess.run(
        [sys.executable, str(script), "--child", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        cwd=script.parents[1],
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": f"exit status {done.returncode}: {lines[-1] if lines else ''}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def natural_input(data_root: str, size: int) -> np.ndarray:
    """Set14 ``barbara`` (textures and flat areas), mirror-padded or cropped to size x size."""
    from PIL import Image

    from srmeta.data.benchmarks import find_dataset

    folder = find_dataset("Set14", data_root).folder
    with Image.open(folder / "barbara.png") as im:
        rgb = np.asarray(im.convert("RGB"))
    pad = ((0, max(0, size - rgb.shape[0])), (0, max(0, size - rgb.shape[1])), (0, 0))
    return np.ascontiguousarray(np.pad(rgb, pad, mode="symmetric")[:size, :size])


def as_module(upsample: Upsample, scale: int) -> Any:
    """An upsampler as the ``nn.Module`` :func:`srmeta.evaluation.evaluate` scores."""
    import torch
    from torch import nn

    from srmeta.models.descriptor import ModelInfo, attach_info

    class Wrapped(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            images = [upsample(np.ascontiguousarray(i.permute(1, 2, 0).numpy())) for i in x]
            return torch.stack([torch.from_numpy(i.copy()).permute(2, 0, 1) for i in images])

    # RGB in (grey HR such as Set14 bridge is replicated), and the LR uint8 as it is
    return attach_info(Wrapped(), ModelInfo("opencv", scale, accepts_uint8=True))


def psnr_cell(method: str, dataset: str, args: Any, exclude: list[str]) -> dict:
    """Mean Y PSNR / SSIM of one method on one set (a srmeta model once, under torch)."""
    import torch

    from srmeta.evaluation import evaluate
    from srmeta.models.bundled import resolve_model_name

    torch.set_num_threads(args.threads)
    srmeta = split_method(method)
    if srmeta is not None:  # a path: evaluate reads the model's meta images too
        model: Any = str(resolve_model_name(srmeta[0], args.scale))
    elif method == "bicubic":
        model = "bicubic"
    else:
        upsample = make_upsampler(method, Path(args.peers), args.threads, args.scale)[0]
        model = as_module(upsample, args.scale)
    report = evaluate(
        model,
        [dataset],
        [args.scale],
        data_root=args.data_root,
        exclude=exclude,
        skip_meta=True,
        progress=False,
    )
    (row,) = report.summary()
    return {"set": row.dataset, "images": row.images, "psnr": row.psnr, "ssim": row.ssim}
