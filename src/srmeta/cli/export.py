"""Export a model (bundled, weights file or run folder) to ONNX with dynamic batch, height and
width; the file is checked with onnxruntime against torch before it is kept.
"""

from __future__ import annotations

import argparse
import os

from srmeta.atomic import check_writable
from srmeta.errors import SrmetaError
from srmeta.export import export_onnx
from srmeta.models.bundled import resolve_model_name
from srmeta.models.descriptor import model_info
from srmeta.models.loading import load_model
from srmeta.models.registry import inference_form


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="default (bundled), srmeta-xN, a file or a run folder"
    )
    parser.add_argument("--scale", type=int, choices=(2, 3, 4))
    parser.add_argument("--format", default="onnx", choices=("onnx",))
    parser.add_argument("-o", "--out", required=True, help="output .onnx file")
    parser.add_argument("--force", action="store_true", help="replace an existing file")


def run(args: argparse.Namespace) -> int:
    if args.out.endswith(("/", os.sep)):
        raise SrmetaError(f"-o {args.out}: give a file name (.onnx), not a folder")
    check_writable(args.out, args.force)  # before loading and exporting
    name = resolve_model_name(args.model, args.scale)
    model = inference_form(load_model(name, args.scale, trained=True))
    info = model_info(model)
    assert info is not None  # load_model attaches it to every model it returns
    scale = info.scale
    difference = export_onnx(model, args.out, scale, type(model).__name__.lower(), args.force)
    print(f"wrote {args.out} (x{scale}); onnxruntime vs torch max abs difference {difference:.1e}")
    return 0
