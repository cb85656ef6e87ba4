"""List what --model accepts: the bundled models (by name), the architectures srmeta builds
and trains, and the third-party checkpoint families recognised from a bare weights file."""

from __future__ import annotations

import argparse
import json

from srmeta.models.bundled import DEFAULT_NAME, DEFAULT_SCALE, display_name
from srmeta.models.catalog import bundled_models, catalog
from srmeta.models.registry import descriptors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the catalogue as JSON")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def run(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(catalog(), indent=1))
        return 0
    shipped = bundled_models()
    lines = ["Bundled models (--model NAME; shipped in the package, no download):"]
    rows = [["name", "arch", "scale", "channels", "parameters"]]
    rows += [
        [m.name, m.arch, f"x{m.scale}", m.colour_space.upper(), f"{m.parameters:,}"]
        for m in shipped
    ]
    lines += _table(rows) if shipped else ["  none in this installation"]
    if shipped:
        scales = sorted({m.scale for m in shipped}, reverse=True)
        means = ", ".join(f"x{s} {display_name(DEFAULT_NAME, s)}" for s in scales)
        lines.append(f"  {DEFAULT_NAME}: {means} (x{DEFAULT_SCALE} when no scale is given)")
    archs = descriptors()
    lines += ["", "Architectures (model.arch in a training config; --model NAME if untrained):"]
    rows = [["name", "scales", "summary"]]
    rows += [[a.name, ",".join(map(str, a.scales)), a.summary] for a in archs]
    lines += _table(rows)
    lines += ["", "Third-party checkpoints recognised from their weights (--model FILE):"]
    rows = [["arch", "files"]] + [[a.name, a.checkpoints] for a in archs if a.checkpoints]
    lines += _table(rows)
    lines += ["  and any file srmeta saved (.safetensors with metadata) or a training run folder"]
    print("\n".join(lines))
    return 0
