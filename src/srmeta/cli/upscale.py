"""Upscale image files, folders or glob patterns. Gray, RGBA (alpha resized with MATLAB
bicubic) and 16-bit inputs keep their kind; each output keeps its input's format. Unreadable
inputs are reported and skipped; the exit code is non-zero if any input failed.
"""

from __future__ import annotations

import argparse
import sys

import torch
from tqdm import tqdm

from srmeta.argtypes import positive_float, positive_int, quality
from srmeta.errors import SrmetaError, first_line
from srmeta.imageio import read_image, write_image
from srmeta.inference.backends import BACKENDS
from srmeta.inference.jobs import assign_targets, expand_inputs
from srmeta.inference.planning import DEFAULT_MEMORY_MIB
from srmeta.inference.upscaler import TILINGS, Upscaler

EXIT_FAILED = 2
OUTPUT_EXTENSIONS = ("png", "jpg", "webp", "tif", "bmp")


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
        help="default (bundled), srmeta-x2/x3/x4, a weights file or a run folder",
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
        help="output format for every input (default: each input's own)",
    )
    parser.add_argument(
        "--quality",
        type=quality,
        default=95,
        help="JPEG/WebP quality 1..100 (default 95; lossless WebP inputs stay lossless)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """``--threads`` holds for this command only: a program (or test) that calls
    ``srmeta.cli.main`` keeps its own torch thread count afterwards."""
    previous = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _upscale_all(args)
    finally:
        torch.set_num_threads(previous)


def _upscale_all(args: argparse.Namespace) -> int:
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
    jobs = expand_inputs(args.inputs, args.recursive)
    assign_targets(jobs, args.out, factor, args.force, args.suffix, args.ext)
    failed = 0
    bar = tqdm(jobs, disable=args.quiet, unit="image", desc="upscale")
    for job in bar:
        if job.problem is None:
            try:
                image = read_image(job.source)
                tiles = upscaler.tiles_for(image.height, image.width)
                with tqdm(
                    total=tiles,
                    disable=args.quiet or tiles < 2,
                    unit="tile",
                    desc=job.source.name,
                    leave=False,
                ) as tile_bar:
                    result = upscaler.upscale_image(image, args.outscale, tile_bar.update)
                write_image(job.output(), result, force=args.force, quality=args.quality)
            except SrmetaError as err:
                job.problem = str(err)
            except (RuntimeError, MemoryError) as err:  # e.g. out of memory on a huge image
                job.problem = first_line(err)
        if job.problem is not None:
            failed += 1
            message = (
                job.problem if str(job.source) in job.problem else (f"{job.source}: {job.problem}")
            )
            tqdm.write(f"srmeta: error: {message}", file=sys.stderr)
    bar.close()
    done = len(jobs) - failed
    if not args.quiet:
        print(
            f"upscaled {done} of {len(jobs)} image(s) by {factor:g}"
            + (f"; {failed} failed" if failed else "")
        )
    return EXIT_FAILED if failed else 0
