"""Upscale image files, folders or glob patterns, and video files. Gray, RGBA (alpha resized
with MATLAB bicubic) and 16-bit inputs keep their kind; each output keeps its input's format.
A video (.mp4, .mkv, .mov, .avi, .webm; needs `pip install srmeta[video]`) is streamed frame
by frame into .mp4 (or .mkv) with its frame timing, audio and rotation kept. Unreadable
inputs are reported and skipped; the exit code is non-zero if any input failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from srmeta.argtypes import positive_float, positive_int, quality
from srmeta.errors import SrmetaError, first_line
from srmeta.imageio import DEFAULT_MAX_PIXELS, ImageData, read_image, write_image
from srmeta.inference.backends import BACKENDS
from srmeta.inference.jobs import Job, assign_targets, check_file_output, expand_inputs
from srmeta.inference.planning import DEFAULT_MEMORY_MIB
from srmeta.inference.upscaler import TILINGS, Upscaler, check_output_size
from srmeta.inference.video import is_video, upscale_video
from srmeta.models.bundled import display_name, shipped_models

EXIT_FAILED = 2
OUTPUT_EXTENSIONS = ("png", "jpg", "webp", "tif", "bmp", "mp4", "mkv")
LISTED_OUTPUTS = 3  # output paths named in the summary line; more are counted
BUNDLED = ", ".join(f"{family}-x{s}" for family, s in shipped_models())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs")
    parser.add_argument(
        "-o",
        "--out",
        help="output folder, or a file name for one input"
        " (default: <name>_x<factor> beside each input)",
    )
    parser.add_argument(
        "--scale", type=int, choices=(2, 3, 4), help="model scale (default 4, or the model file's)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"a bundled model ({BUNDLED}; default: srmeta-fast at --scale, x4 if not given),"
        " bicubic, a weights file (.safetensors/.pth) or a training run folder",
    )
    parser.add_argument(
        "--outscale",
        type=positive_float,
        help="final factor: model scale, then MATLAB bicubic for the remainder",
    )
    parser.add_argument(
        "--tile", type=positive_int, help="LR tile side (default: from --tile-memory)"
    )
    parser.add_argument(
        "--tile-memory",
        type=positive_float,
        default=DEFAULT_MEMORY_MIB,
        metavar="MIB",
        help="working-memory budget for tiles (MiB)",
    )
    parser.add_argument(
        "--tiling",
        choices=TILINGS,
        default="exact",
        help="exact (default): tiles give the whole image's output; blend: tiles of networks"
        " with image-wide attention (IMDN, RFDN, RLFN) run as they are on --backend, seams"
        " cross-faded: faster on large images, not exact",
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        default=1,
        help="tiles per forward (helps when tiles are small)",
    )
    parser.add_argument("--threads", type=positive_int, help="CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="auto (default): OpenVINO, else onnxruntime, else torch",
    )
    parser.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="walk folders into their sub-folders (an -o folder keeps the layout)",
    )
    parser.add_argument(
        "--suffix",
        help="output names <name>_<suffix>.<ext> (default: x<factor>"
        " beside the input; the input's name in an -o folder)",
    )
    parser.add_argument(
        "--ext",
        choices=OUTPUT_EXTENSIONS,
        help="output format for every input (default: each input's own; mp4 or mkv for"
        " videos, .mov/.avi/.webm become mp4)",
    )
    parser.add_argument(
        "--quality",
        type=quality,
        default=95,
        help="JPEG/WebP quality 1..100 (default 95; lossless WebP inputs stay lossless)",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse inputs and outputs of more pixels (default {DEFAULT_MAX_PIXELS:,})",
    )
    parser.add_argument("--force", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """``--threads`` (and a raised ``--max-pixels``, which lifts Pillow's own guard) hold
    for this command only: a program (or test) that calls ``srmeta.cli.main`` keeps its own
    torch thread count and Pillow limit afterwards."""
    previous, pillow_limit = torch.get_num_threads(), Image.MAX_IMAGE_PIXELS
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.max_pixels > DEFAULT_MAX_PIXELS:  # the user vouches for larger files
        Image.MAX_IMAGE_PIXELS = None
    try:
        return _upscale_all(args)
    finally:
        torch.set_num_threads(previous)
        Image.MAX_IMAGE_PIXELS = pillow_limit


def _upscale_all(args: argparse.Namespace) -> int:
    jobs = expand_inputs(args.inputs, args.recursive)
    check_file_output(jobs, args.out)  # one error for the command, before loading a model
    upscaler = Upscaler(
        args.model,
        args.scale,
        args.device,
        args.backend,
        args.tile,
        args.tile_memory,
        args.batch,
        args.threads,
        args.tiling,
    )
    upscaler.plan  # noqa: B018 - measure the network once; a bad --tile fails here, not per image
    factor = args.outscale if args.outscale is not None else upscaler.scale
    assign_targets(jobs, args.out, factor, args.force, args.suffix, args.ext)
    backends: set[str] = set()
    bar = tqdm(jobs, disable=args.quiet, unit="image", desc="upscale")
    for job in bar:
        if job.problem is None:
            _upscale_job(job, upscaler, args, backends)
        if job.problem is not None:
            tqdm.write(f"srmeta: error: {_job_error(job)}", file=sys.stderr)
    bar.close()
    if not args.quiet:
        print(_summary(jobs, factor, display_name(args.model, upscaler.scale), backends))
    return EXIT_FAILED if any(job.problem is not None for job in jobs) else 0


def _upscale_job(
    job: Job, upscaler: Upscaler, args: argparse.Namespace, backends: set[str]
) -> None:
    """Upscale and write one input; what goes wrong becomes the job's problem, and the
    backend that ran is added to ``backends`` (torch, for an image tiled exactly)."""
    try:
        if is_video(job.source):
            _upscale_video(job, upscaler, args, backends)
            return
        image = read_image(job.source, args.max_pixels)
        tiles = upscaler.tiles_for(image.height, image.width)
        with tqdm(
            total=tiles,
            disable=args.quiet or tiles < 2,
            unit="tile",
            desc=job.source.name,
            leave=False,
        ) as tile_bar:
            result = upscaler.upscale_image(
                image, args.outscale, tile_bar.update, max_pixels=args.max_pixels
            )
        write_image(job.output(), result, force=args.force, quality=args.quality)
        backends.add(upscaler.backend_for(image.height, image.width))
    except SrmetaError as err:
        job.problem = str(err)
    except (RuntimeError, MemoryError) as err:  # e.g. out of memory on a huge image
        job.problem = first_line(err)


def _upscale_video(
    job: Job, upscaler: Upscaler, args: argparse.Namespace, backends: set[str]
) -> None:
    """A video, frame by frame (:mod:`srmeta.inference.video`), with a bar of frames."""
    factor = args.outscale if args.outscale is not None else float(upscaler.scale)

    def size_for(h: int, w: int) -> tuple[int, int]:
        backends.add(upscaler.backend_for(h, w))
        return check_output_size(h, w, upscaler.scale, factor, args.max_pixels)

    def frame(rgb: np.ndarray) -> np.ndarray:
        image = ImageData(rgb, None, "PNG")
        return upscaler.upscale_image(image, args.outscale, max_pixels=args.max_pixels).colour

    with tqdm(disable=args.quiet, unit="frame", desc=job.source.name, leave=False) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        upscale_video(
            job.source, job.output(), frame, size_for, force=args.force, on_frame=progress
        )


def _job_error(job: Job) -> str:
    """A job's problem, naming its input once."""
    problem = str(job.problem)
    return problem if str(job.source) in problem else f"{job.source}: {problem}"


def _summary(jobs: list[Job], factor: float, model: str, backends: set[str]) -> str:
    """``upscaled 2 images by 4 with srmeta-fast-x4 on openvino: a_x4.png, b_x4.png``:
    what ran (the model, the backend or backends that computed the images) and where the
    results are; failures are counted, each was reported on its own line."""
    written = [job.output() for job in jobs if job.problem is None]
    failed = len(jobs) - len(written)
    count = f"{len(written)}" if not failed else f"{len(written)} of {len(jobs)}"
    line = f"upscaled {count} image{'' if len(jobs) == 1 else 's'} by {factor:g}"
    if written:
        line += f" with {model} on {' and '.join(sorted(backends))}: {_paths(written)}"
    return line + (f"; {failed} failed" if failed else "")


def _paths(paths: list[Path]) -> str:
    listed = ", ".join(str(p) for p in paths[:LISTED_OUTPUTS])
    more = len(paths) - LISTED_OUTPUTS
    return f"{listed} and {more} more" if more > 0 else listed
