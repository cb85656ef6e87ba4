"""``srmeta demo``: the bundled x4 model on the bundled sample image, against bicubic.

The sample (a synthetic 256x256 picture, ``scripts/make_sample_image.py``) is downscaled
x4 with MATLAB bicubic, upscaled back by bicubic and by the model, and both are scored
against the original with the ``rgb`` evaluation protocol (:data:`srmeta.protocol.RGB`) and
by LR consistency (PSNR of the downscaled result against the LR input, no ground truth
needed). A side-by-side figure (LR | bicubic | srmeta | original) is written as a PNG.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from srmeta.errors import SrmetaError
from srmeta.imageio import ImageData, read_image, write_image
from srmeta.inference.upscaler import Upscaler
from srmeta.metrics import lr_consistency
from srmeta.models.bundled import display_name
from srmeta.protocol import RGB
from srmeta.resize import imresize

SCALE = 4
LABEL_HEIGHT = 18


def sample_path() -> Path:
    return Path(str(resources.files("srmeta.bundled") / "sample.png"))


def run_demo(model: str | None, out: Path, force: bool) -> tuple[list[dict[str, float | str]], str]:
    """Upscale the sample both ways, write the comparison figure; returns the scores and
    what ran (model, backend, time)."""
    hr = torch.from_numpy(read_image(sample_path()).colour_uint8().transpose(2, 0, 1).copy())
    lr = RGB.make_lr(hr, SCALE, sample_path().stem)  # MATLAB bicubic on uint8
    upscaler = Upscaler(model)
    if upscaler.scale != SCALE:
        raise SrmetaError(f"srmeta demo runs at x{SCALE}; {model} is an x{upscaler.scale} model")
    lr_image = ImageData(lr.permute(1, 2, 0).contiguous().numpy(), None, "PNG")
    upscaler.upscale_image(lr_image)  # warm-up: backends compile or export on first use
    start = time.perf_counter()
    model_sr = torch.from_numpy(upscaler.upscale_image(lr_image).colour.transpose(2, 0, 1).copy())
    seconds = time.perf_counter() - start
    ran = (
        f"model {display_name(model, SCALE)} ({type(upscaler.module).__name__}), backend"
        f" {upscaler.backend}: {seconds * 1e3:.0f} ms for the 64x64 -> 256x256 upscale"
    )
    bicubic_sr = imresize(lr, float(SCALE))
    rows: list[dict[str, float | str]] = []
    for name, sr in (("bicubic", bicubic_sr), ("srmeta", model_sr)):
        scores = RGB.score(sr, hr, SCALE)
        rows.append(
            {
                "method": name,
                "psnr": scores.psnr,
                "ssim": scores.ssim,
                "lr_consistency": lr_consistency(sr, lr, SCALE),
            }
        )
    panels = [
        ("LR (nearest)", lr.repeat_interleave(SCALE, 1).repeat_interleave(SCALE, 2)),
        ("bicubic", bicubic_sr),
        ("srmeta x4", model_sr),
        ("original", hr),
    ]
    figure = _side_by_side(panels).permute(1, 2, 0).contiguous().numpy()
    write_image(out, ImageData(figure, None, "PNG"), force=force)
    return rows, ran


def _side_by_side(panels: list[tuple[str, torch.Tensor]]) -> torch.Tensor:
    """``3 x (H + label) x (n * W)`` uint8: the panels in a row, each with its name above."""
    strips = []
    for label, pixels in panels:
        tile = Image.new("RGB", (pixels.shape[2], pixels.shape[1] + LABEL_HEIGHT), "white")
        tile.paste(Image.fromarray(pixels.permute(1, 2, 0).numpy()), (0, LABEL_HEIGHT))
        ImageDraw.Draw(tile).text((4, 3), label, fill=(0, 0, 0))
        strips.append(np.asarray(tile))
    return torch.from_numpy(np.concatenate(strips, axis=1).transpose(2, 0, 1).copy())
