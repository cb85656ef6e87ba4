"""The ``srmeta`` command. Thin by design: parse arguments, call the public API, print.

Each command is a module of this package with ``add_arguments(parser)`` and ``run(args)``;
its docstring is the command's ``--help`` description, so it is written for users.
Only the command named on the line is imported, so ``srmeta --help`` and ``--version``
start without torch. User mistakes (bad files, unknown datasets, malformed options) end
with one line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from srmeta.errors import SrmetaError

EXIT_USER_ERROR = 2

# name -> one-line help; the module is srmeta.cli.<name>
COMMANDS = {
    "eval": "score a model on benchmark datasets (PSNR/SSIM on Y, published protocol)",
    "train": "train an SR model from a YAML config (torchrun for several processes)",
    "adapt": "adapt a model to your camera from a few real LR-HR pairs",
    "pairs": "check a camera's LR-HR pairs: alignment, and the lens blur they imply",
    "weights": "draw a run's weight, reward and error maps; compare runs by frequency band",
    "upscale": "upscale images with the bundled model or any model",
    "export": "export a model to ONNX",
    "compare": "one HTML page: scores, zoomable crops and training curves of models and runs",
    "demo": "upscale the bundled sample with the bundled model; compare with bicubic",
    "models": "list the bundled models, architectures and recognised checkpoint files",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser of ``command`` (every command when None); the others are listed
    by name and help only, so building the parser imports one command's dependencies."""
    parser = argparse.ArgumentParser(
        prog="srmeta",
        description="Single-image super-resolution with meta-learned pixel loss weighting.",
    )
    parser.add_argument(
        "--version", action="version", version=f"srmeta {importlib.metadata.version('srmeta')}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if command is None or command == name:
            module = import_module(f"srmeta.cli.{name}")
            sub.description = module.__doc__
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``srmeta`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(named if named in COMMANDS else "").parse_args(argv)
    try:
        return args.run(args)
    except SrmetaError as err:
        print(f"srmeta: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("srmeta: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `srmeta models | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lets the exit-time flush pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
