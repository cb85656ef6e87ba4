"""``srmeta.upscale``: one call for a PIL image, a NumPy array or a file, same kind out.

- PIL image -> PIL image of the same mode (L, LA, RGB, RGBA, I;16, 1, I, F; palette and
  other modes come back RGB or RGBA), EXIF orientation applied as for files;
- NumPy ``H x W`` / ``H x W x 1|3|4`` array -> the same layout and dtype (uint8, uint16, or
  float in [0, 1], not quantised; values outside [0, 1] or not finite are refused);
- a path -> the written file's path (``out``, default ``<stem>_x<factor><suffix>`` beside
  it; never replaces a file unless ``force``).

``model`` is a name or path as on the command line, or a module already loaded with
:func:`srmeta.load_model`. Upscalers are cached per (model, scale, device, backend), so
calling it in a loop does not reload the model, re-export it or re-measure its tiling; a
module's entry is keyed on its weights' storage and version counters too, so a module
changed in place (a training step, ``load_state_dict``) is exported afresh, never run stale.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from srmeta.errors import SrmetaError, first_line
from srmeta.imageio import DEFAULT_MAX_PIXELS, ImageData, read_image, write_image
from srmeta.inference.jobs import Job, assign_targets
from srmeta.inference.upscaler import Upscaler, check_output_size, gray_from_rgb
from srmeta.resize import imresize

WeightsKey = tuple[tuple[str, int, int], ...]


@lru_cache(maxsize=4)
def _cached_upscaler(
    model: str | nn.Module | None,
    scale: int | None,
    device: str,
    backend: str,
    weights: WeightsKey,
) -> Upscaler:
    """``weights`` only keys the cache (see :func:`_weights_key`)."""
    return Upscaler(model, scale, device, backend)


def _weights_key(model: object) -> WeightsKey:
    """For a module: each tensor's storage and version counter, which every in-place change
    bumps (an optimizer step, ``load_state_dict``): a cached upscaler, whose exported graph
    holds the weights it was made from, is reused only while they are unchanged."""
    if not isinstance(model, nn.Module):
        return ()
    state = model.state_dict(keep_vars=True)
    return tuple((k, t.data_ptr(), t._version) for k, t in state.items())


def _upscaler(
    model: str | os.PathLike | nn.Module | None, scale: int | None, device: str, backend: str
) -> Upscaler:
    if model is not None and not isinstance(model, (str, os.PathLike, nn.Module)):
        raise SrmetaError(
            "model must be a name, a path or a module from srmeta.load_model,"
            f" not {type(model).__name__}"
        )
    key = model if model is None or isinstance(model, nn.Module) else os.fspath(model)
    return _cached_upscaler(key, scale, device, backend, _weights_key(model))


def upscale(
    image: Any,
    scale: int | None = None,
    *,
    model: str | os.PathLike | nn.Module | None = None,
    outscale: float | None = None,
    device: str = "cpu",
    backend: str = "auto",
    out: str | os.PathLike | None = None,
    force: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Any:
    """Upscale ``image`` by the model's ``scale`` (bundled x4 by default), or by ``outscale``.

    Returns the same kind of object as given (see the module docstring). An output (or
    model output) of more than ``max_pixels`` pixels is refused before any work.
    """
    if outscale is not None and not (
        isinstance(outscale, int | float) and math.isfinite(outscale) and outscale > 0
    ):
        raise SrmetaError(f"outscale must be a finite positive number, got {outscale!r}")
    if scale is not None and (type(scale) is not int or scale not in (2, 3, 4)):
        raise SrmetaError(f"scale must be 2, 3 or 4 (an int), got {scale!r}")
    if type(max_pixels) is not int or max_pixels < 1:
        raise SrmetaError(f"max_pixels must be a positive int, got {max_pixels!r}")
    upscaler = _upscaler(model, scale, device, backend)
    if isinstance(image, Image.Image):
        return _upscale_pil(upscaler, image, outscale, max_pixels)
    if isinstance(image, np.ndarray):
        return _upscale_array(upscaler, image, outscale, max_pixels)
    if isinstance(image, (str, os.PathLike)):
        return _upscale_file(upscaler, Path(image), outscale, out, force, max_pixels)
    raise SrmetaError(
        f"upscale takes a PIL image, a NumPy array or a path, not {type(image).__name__}"
    )


def _upscale_file(
    upscaler: Upscaler, path: Path, outscale: float | None, out: Any, force: bool, max_pixels: int
) -> Path:
    job = Job(path)
    factor = outscale if outscale is not None else upscaler.scale
    assign_targets([job], None if out is None else os.fspath(out), factor, force)
    if job.problem is not None:
        raise SrmetaError(f"{path}: {job.problem}")
    target = job.output()
    image = read_image(path, max_pixels)
    write_image(target, upscaler.upscale_image(image, outscale, max_pixels=max_pixels), force=force)
    return target


_PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16")  # upscaled as they are


def _upscale_pil(
    upscaler: Upscaler, image: Image.Image, outscale: float | None, max_pixels: int
) -> Image.Image:
    """As a file would be: EXIF orientation applied, one frame only, the mode kept where a
    mode can hold the result (a palette cannot: palette images come back RGB or RGBA)."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format != "MPO":
        raise SrmetaError(
            f"the image has {frames} frames (an animation or a multi-page file);"
            " srmeta upscales single images"
        )
    try:  # a lazily opened file decodes here: truncation must not end in a traceback
        image.load()
    except OSError as err:
        raise SrmetaError(f"the PIL image cannot be decoded ({first_line(err)})") from None
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in _PIL_MODES:
        result = _upscale_array(upscaler, np.asarray(image), outscale, max_pixels)
        return Image.fromarray(result)  # uint16 H x W comes back as I;16
    if mode == "1":  # upscaled as grey, then thresholded back to black and white
        grey = _upscale_array(upscaler, np.asarray(image.convert("L")), outscale, max_pixels)
        threshold = [0] * 128 + [255] * 128  # the lookup table of v >= 128 for L's 0..255
        return Image.fromarray(grey).point(threshold).convert("1")
    if mode == "I":  # 32-bit integers: 16-bit values only, as files
        values = np.asarray(image)
        if values.min(initial=0) < 0 or values.max(initial=0) > 65535:
            raise SrmetaError("mode I images must hold values in 0..65535")
        result = _upscale_array(upscaler, values.astype(np.uint16), outscale, max_pixels)
        return Image.fromarray(result.astype(np.int32), mode="I")
    if mode == "F":  # float pixels in [0, 1], as float arrays
        return Image.fromarray(
            _upscale_array(upscaler, np.asarray(image), outscale, max_pixels), mode="F"
        )
    has_alpha = "A" in mode or "a" in mode or image.info.get("transparency") is not None
    converted = image.convert("RGBA" if has_alpha else "RGB")
    return Image.fromarray(_upscale_array(upscaler, np.asarray(converted), outscale, max_pixels))


def _upscale_array(
    upscaler: Upscaler, array: np.ndarray, outscale: float | None, max_pixels: int
) -> np.ndarray:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise SrmetaError(f"an image array is H x W or H x W x 1|2|3|4, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise SrmetaError(f"the image array is empty (shape {array.shape})")
    squeeze = array.ndim == 2
    pixels = array[..., None] if squeeze else array
    colour, alpha = (
        (pixels[..., :-1], pixels[..., -1]) if pixels.shape[2] in (2, 4) else (pixels, None)
    )
    if array.dtype in (np.uint8, np.uint16):
        image = ImageData(
            np.ascontiguousarray(colour),
            None if alpha is None else np.ascontiguousarray(alpha),
            "PNG",
        )
        result = upscaler.upscale_image(image, outscale, max_pixels=max_pixels)
        parts = [result.colour] + ([] if result.alpha is None else [result.alpha[..., None]])
        merged = np.concatenate(parts, axis=2)
    elif np.issubdtype(array.dtype, np.floating):
        _check_unit_range(array)
        merged = _upscale_float(upscaler, colour, alpha, outscale, max_pixels)
        merged = merged.astype(array.dtype)
    else:
        raise SrmetaError(f"image arrays are uint8, uint16 or float in [0, 1], not {array.dtype}")
    return merged[..., 0] if squeeze else merged


def _check_unit_range(array: np.ndarray) -> None:
    """Float pixels must be finite and in [0, 1]: anything else would come back clamped
    (or NaN) with no sign that the input was not what the model expects."""
    if not np.isfinite(array).all():
        raise SrmetaError(
            "float image arrays must hold finite values in [0, 1]; this one has NaN or infinity"
        )
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise SrmetaError(
            f"float image arrays must be in [0, 1]; this one spans {low:g} to"
            f" {high:g} (divide 8-bit values by 255)"
        )


def _upscale_float(
    upscaler: Upscaler,
    colour: np.ndarray,
    alpha: np.ndarray | None,
    outscale: float | None,
    max_pixels: int,
) -> np.ndarray:
    """Float in, float out: the model's output clamped to [0, 1], without quantisation."""
    factor = outscale if outscale is not None else upscaler.scale
    size = check_output_size(colour.shape[0], colour.shape[1], upscaler.scale, factor, max_pixels)
    lr = torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1))).float()
    gray = lr.shape[0] == 1
    sr = upscaler.upscale_tensor(lr.expand(3, -1, -1) if gray else lr)
    if gray:
        sr = gray_from_rgb(sr)
    if tuple(sr.shape[-2:]) != size:
        sr = imresize(sr, size=size)
    parts = [sr.clamp(0, 1)]
    if alpha is not None:
        parts.append(imresize(torch.from_numpy(alpha[None].astype(np.float32)), size=size))
    return torch.cat(parts).clamp(0, 1).numpy().transpose(1, 2, 0).astype(np.float32)
