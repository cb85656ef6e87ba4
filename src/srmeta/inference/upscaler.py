"""Upscaling whole images: model, tiling, colour handling, quantisation.

:class:`Upscaler` turns an :class:`~srmeta.imageio.ImageData` (8/16-bit, grey or RGB, with
or without alpha) into the upscaled image of the same kind:

- grey is replicated to RGB for the network, and the output brought back to one channel
  with the BT.601 luma weights;
- alpha is resized on its own with MATLAB bicubic (networks are trained on colour only);
- ``outscale`` other than the model's scale resizes the model's output by the remainder
  with MATLAB bicubic, so any final factor works;
- the output is quantised block by block as tiling finishes them (MATLAB rounding, as the
  evaluation protocol), so float memory stays about one tile (see :mod:`tiling`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from srmeta.errors import SrmetaError
from srmeta.imageio import DEFAULT_MAX_PIXELS, ImageData, to_bit_depth
from srmeta.inference.backends import (
    OnnxBackend,
    OpenVinoBackend,
    TorchBackend,
    candidate_backends,
)
from srmeta.inference.exact_tiling import gather_passes, upscale_tiled_exact
from srmeta.inference.planning import DEFAULT_MEMORY_MIB, plan_tiles
from srmeta.inference.tiling import BlockSink, TilePlan, tile_count, upscale_tiled
from srmeta.models.bundled import DEFAULT_SCALE, resolve_model_name
from srmeta.models.descriptor import model_info
from srmeta.models.loading import load_model
from srmeta.models.registry import inference_form
from srmeta.resize import imresize

QUANTISE_ROWS = 256  # output rows quantised at a time
TILINGS = ("exact", "blend")
LUMA = (0.299, 0.587, 0.114)  # BT.601; sums to 1, so grey in gives the same grey out


def gray_from_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """``3 x H x W`` -> ``1 x H x W`` with the BT.601 luma weights."""
    return (rgb * torch.tensor(LUMA, dtype=rgb.dtype).view(3, 1, 1)).sum(0, keepdim=True)


def output_size(h: int, w: int, outscale: float) -> tuple[int, int]:
    """``ceil(outscale * N)`` per side, as MATLAB's ``imresize`` (tolerant of float noise)."""
    return math.ceil(h * outscale - 1e-9), math.ceil(w * outscale - 1e-9)


def check_output_size(
    h: int, w: int, scale: int, outscale: float, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[int, int]:
    """The final size of an ``h x w`` image, refused before any work where it, or the
    model's own output on the way to it, has more than ``max_pixels`` pixels: the reader's
    limit, so srmeta never writes an image it would refuse to read, and a slip such as
    ``--outscale 1000`` is one line at once instead of tens of gigabytes a minute later."""
    size = output_size(h, w, outscale)
    for what, (oh, ow) in (("output", size), ("model's output", (h * scale, w * scale))):
        if oh * ow > max_pixels:
            raise SrmetaError(
                f"the {what} would be {ow}x{oh} = {oh * ow:,} pixels, over the limit of"
                f" {max_pixels:,}; lower the outscale, or raise the limit (--max-pixels)"
                " if that size is meant"
            )
    return size


def _module_scale(module: nn.Module, scale: int | None) -> int:
    """The scale of an already-built model: the one srmeta recorded when it built it
    (:func:`srmeta.load_model`), which ``scale`` may repeat but not contradict; a module
    srmeta did not build must be given one."""
    info = model_info(module)
    if info is None:
        if scale is None:
            raise SrmetaError(f"a {type(module).__name__} module needs its scale (scale=2, 3 or 4)")
        return scale
    if scale is not None and scale != info.scale:
        raise SrmetaError(f"the model is x{info.scale}, asked for x{scale}")
    return info.scale


class Upscaler:
    """A loaded model ready to upscale images of any size.

    Args:
        model: a registered or bundled name (``default``, ``srmeta-x4``, ``edsr``...), a
            weights file, a run folder, or an ``nn.Module`` (from :func:`srmeta.load_model`,
            or any module given its ``scale``).
            None: the bundled model for ``scale`` (x4 by default).
        scale: the model's SR factor; checked against the file's when both are known.
        device: ``cpu`` or ``cuda`` (torch backend).
        backend: ``torch``, ``onnx`` (the model exported to ONNX, run by onnxruntime),
            ``openvino``, or ``auto``: the fastest of them installed (see :mod:`backends`).
        tile: LR tile side; None picks it from ``memory_mib``.
        memory_mib: working-memory budget for one batch of tiles.
        batch_size: tiles per forward (all tiles of an image have the same size).
        tiling: ``exact`` (the output of one whole-image pass, always) or ``blend``: tiles of
            a network with image-wide attention (IMDN, RFDN, RLFN) run as they are, on the
            upscaler's backend, with seams cross-faded: several times faster on images of
            several tiles, but not the whole image's output (see :mod:`exact_tiling`).

    One image at a time per upscaler: tiling a network with image-wide layers switches
    those layers between gathering and applying (:mod:`exact_tiling`).
    """

    def __init__(
        self,
        model: str | os.PathLike | nn.Module | None = None,
        scale: int | None = None,
        device: str = "cpu",
        backend: str = "auto",
        tile: int | None = None,
        memory_mib: float = DEFAULT_MEMORY_MIB,
        batch_size: int = 1,
        threads: int | None = None,
        tiling: str = "exact",
    ) -> None:
        candidates = candidate_backends(backend, device)
        if tiling not in TILINGS:
            raise SrmetaError(f"tiling must be one of {', '.join(TILINGS)}, not {tiling!r}")
        if batch_size < 1:
            raise SrmetaError(f"batch size must be >= 1, got {batch_size}")
        if isinstance(model, nn.Module):
            module, scale = model, _module_scale(model, scale)
        else:
            name = resolve_model_name(model, scale)
            module = load_model(name, scale, trained=True)
        self.module = inference_form(module).eval()
        info = model_info(module)
        self.scale = int(scale if scale is not None else info.scale if info else DEFAULT_SCALE)
        self.memory_mib, self.batch_size, self._tile = memory_mib, batch_size, tile
        self._plan: TilePlan | None = None
        self.run: Callable[[torch.Tensor], torch.Tensor]
        for backend in candidates:  # auto: a model a converter refuses runs on the next
            try:
                self.run = self._backend(backend, device, threads)
            except SrmetaError:
                if backend == candidates[-1]:
                    raise
                continue
            self.backend = backend
            break
        self.device = device
        # Image-wide layers (IMDN's, RFDN's, RLFN's attention) are tiled exactly, on torch.
        self.tiling = tiling
        self.gather_passes = gather_passes(self.module) if tiling == "exact" else 0
        self._torch_run: TorchBackend | None = None

    def _backend(
        self, backend: str, device: str, threads: int | None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        if backend == "onnx":
            from srmeta.export import cached_onnx

            return OnnxBackend(cached_onnx(self.module, self.scale), threads)
        if backend == "openvino":
            from srmeta.export import cached_openvino

            return OpenVinoBackend(cached_openvino(self.module, self.scale), threads)
        return TorchBackend(self.module, device)

    @property
    def plan(self) -> TilePlan:
        """The tile plan, measured on the network the first time it is needed."""
        if self._plan is None:
            self._plan = plan_tiles(
                self.module,
                self.scale,
                self.memory_mib,
                self._tile,
                self.batch_size,
                exact=self.tiling == "exact",
            )
        return self._plan

    def _gathers(self, h: int, w: int) -> bool:
        """Whether an ``h x w`` image takes the exact path for image-wide layers."""
        return self.gather_passes > 0 and tile_count(h, w, self.plan) > 1

    def backend_for(self, h: int, w: int) -> str:
        """The backend an ``h x w`` image runs on: this upscaler's, except for an image of
        several tiles of a network with image-wide layers, which only torch can tile
        exactly (:mod:`exact_tiling`): an exported graph cannot gather from its tiles."""
        return "torch" if self._gathers(h, w) else self.backend

    def runner_for(self, h: int, w: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """What computes the tiles of an ``h x w`` image (see :meth:`backend_for`)."""
        if self.backend_for(h, w) == self.backend:
            return self.run
        if self._torch_run is None:
            self._torch_run = TorchBackend(self.module, self.device)
        return self._torch_run

    def tiles_for(self, h: int, w: int) -> int:
        """Tile forwards an ``h x w`` image takes (what ``on_tile`` counts): the tiles, and
        as many again for each pass that gathers an image-wide layer's input."""
        tiles = tile_count(h, w, self.plan)
        return tiles * (1 + self.gather_passes) if self._gathers(h, w) else tiles

    def upscale_blocks(
        self,
        lr: torch.Tensor,
        sink: BlockSink,
        on_tile: Callable[[int], object] | None = None,
        peak: float | None = None,
    ) -> None:
        """Stream the model's output for ``lr`` (``3 x h x w``) to ``sink(top, left, block)``,
        each output pixel once. ``lr`` is float in [0, 1], or integers up to ``peak``, which
        are scaled to [0, 1] tile batch by tile batch (exactly as a float32 copy would be)."""
        gathers = self._gathers(lr.shape[1], lr.shape[2])
        backend = self.runner_for(lr.shape[1], lr.shape[2])
        run = backend
        if not lr.is_floating_point():
            if peak is None:
                raise ValueError("integer input needs its peak value (255 or 65535)")
            run = lambda batch: backend(batch.float() / peak)  # noqa: E731
        if gathers:
            upscale_tiled_exact(
                self.module, run, lr, self.scale, self.plan, sink, self.batch_size, on_tile
            )
        else:
            upscale_tiled(run, lr, self.scale, self.plan, sink, self.batch_size, on_tile)

    def upscale_tensor(self, lr: torch.Tensor) -> torch.Tensor:
        """The model's float output (``3 x sh x sw``, not clamped) for ``3 x h x w`` input."""
        _, h, w = lr.shape
        out = torch.empty(3, h * self.scale, w * self.scale)

        def sink(top: int, left: int, block: torch.Tensor) -> None:
            out[:, top : top + block.shape[1], left : left + block.shape[2]] = block

        self.upscale_blocks(lr.float(), sink)
        return out

    def upscale_image(
        self,
        image: ImageData,
        outscale: float | None = None,
        on_tile: Callable[[int], object] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> ImageData:
        """The upscaled image, same bit depth, channels, alpha and format as ``image``;
        refused at once if larger than ``max_pixels`` (:func:`check_output_size`)."""
        factor = float(outscale) if outscale is not None else float(self.scale)
        if not math.isfinite(factor) or factor <= 0:
            raise SrmetaError(f"outscale must be a positive number, got {outscale}")
        size = check_output_size(image.height, image.width, self.scale, factor, max_pixels)
        depth, gray = image.bit_depth, image.is_gray
        # The integer pixels as a C x H x W view: tiles become float one batch at a time, so
        # no float copy of the whole input is ever made.
        with warnings.catch_warnings():  # read-only arrays (np.asarray of PIL) are only read
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            lr = torch.from_numpy(image.colour).permute(2, 0, 1)
        if gray:
            lr = lr.expand(3, -1, -1)
        h, w = image.height, image.width
        channels = 1 if gray else 3
        dtype = np.uint8 if depth == 8 else np.uint16
        model_out = np.empty((h * self.scale, w * self.scale, channels), dtype=dtype)

        def sink(top: int, left: int, block: torch.Tensor) -> None:
            if gray:
                block = gray_from_rgb(block)
            m = block.shape[2]
            for r in range(0, block.shape[1], QUANTISE_ROWS):  # its float64 copy stays small
                rows = to_bit_depth(block[:, r : r + QUANTISE_ROWS], depth)
                model_out[top + r : top + r + rows.shape[1], left : left + m] = rows.transpose(
                    1, 2, 0
                )

        self.upscale_blocks(lr, sink, on_tile, peak=float(2**depth - 1))
        colour = model_out
        if size != model_out.shape[:2]:
            colour = _resize_quantised(model_out, size, depth)
        alpha = None
        alpha_lr = image.alpha_tensor()
        if alpha_lr is not None:
            resized = imresize(alpha_lr, size=size)
            alpha = to_bit_depth(resized, depth)[0]
        return ImageData(
            np.ascontiguousarray(colour), alpha, image.format, image.lossless, image.metadata
        )


def _resize_quantised(pixels: np.ndarray, size: tuple[int, int], depth: int) -> np.ndarray:
    """MATLAB bicubic of an ``H x W x C`` integer image to ``size`` (uint8: MATLAB's path)."""
    chw = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    if depth == 8:
        return imresize(chw, size=size).numpy().transpose(1, 2, 0)
    resized = imresize(chw.to(torch.float64) / 65535.0, size=size)
    return to_bit_depth(resized, depth).transpose(1, 2, 0)
