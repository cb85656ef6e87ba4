"""Turn a finished training run into a bundled model file: its final weights in the form
inference runs (re-parameterisable networks collapsed), with the run's recipe recorded.

    python scripts/bundle_model.py runs/fast_x4 src/srmeta/bundled/srmeta_fast_x4.safetensors

The file's metadata keeps the config hash, the step count and the meta images of the run
(none for uniform L1), so evaluation can still leave those images out, and the recipe hash of
the run's config (its ``config.yaml``), which tests compare with the config in ``configs/``
that the docs give as the model's recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from srmeta.config import load_config
from srmeta.errors import SrmetaError
from srmeta.models.files import (
    RECIPE_HASH_KEY,
    provenance_of,
    read_model_file,
    save_model_file,
)
from srmeta.models.loading import load_model
from srmeta.models.registry import get_descriptor, inference_form
from srmeta.run_hash import recipe_hash

LAST = "model_last.safetensors"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a training run folder (uses model_last)")
    parser.add_argument("out", type=Path, help="the .safetensors file to write")
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    args = parser.parse_args()
    source = args.run / LAST
    try:
        _, spec = read_model_file(source)
        metadata = provenance_of(source)
        metadata[RECIPE_HASH_KEY] = recipe_hash(load_config(args.run / "config.yaml"))
        model = inference_form(load_model(source))
        options = get_descriptor(spec.arch).options_with_defaults(spec.options)
        if getattr(model, "deploy", False):
            options["deploy"] = True
        metadata["srmeta.bundled_from"] = json.dumps({"run": args.run.name, "file": LAST})
        save_model_file(
            args.out, model, spec.arch, int(spec.scale or 0), options, metadata, force=args.force
        )
    except SrmetaError as err:
        print(f"bundle_model: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({spec.arch} x{spec.scale}, {args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
