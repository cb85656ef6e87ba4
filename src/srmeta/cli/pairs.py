"""Check a camera's LR-HR pairs and measure what its LR looks like.

Every pair is read and checked as `srmeta adapt` and `srmeta eval --pairs` read it: the
sizes must fit the scale and the LR must show the HR's view. For each pair it prints the
global motion from LR to HR (shift and zoom) and the largest displacement it causes, in LR
pixels (pairs above half a pixel are registered before use), and the Gaussian blur that
best explains the LR from the HR (sigma in HR pixels, with the PSNR of that explanation:
a clean lens fits to well over 30 dB; noise, JPEG or in-camera sharpening lower it). Last,
the blur of all pairs together, and the --pool-degradation for `srmeta adapt` that makes
generic training images look like this camera.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from srmeta.cli.adapt import add_pair_source, pair_source  # the same pair options


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_pair_source(p)
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--no-blur", action="store_true", help="check and align only; fit no blur")
    p.add_argument("--json", help="also write every number to this file")
    p.add_argument("--force", action="store_true", help="replace an existing --json file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from srmeta.atomic import atomic_write_text, check_writable
    from srmeta.data.camera_blur import BlurFitter
    from srmeta.data.pairs import load_pairs, selected_files

    source = pair_source(args)
    if args.json:
        check_writable(args.json, args.force)
    pairs = load_pairs(selected_files(source), args.scale, source.align)
    fitter = None if args.no_blur else BlurFitter(pairs, args.scale)
    rows: list[dict[str, Any]] = []
    shown = tqdm(pairs, desc="pairs", disable=args.quiet or fitter is None, leave=False)
    for index, pair in enumerate(shown):
        h, w = pair.lr.shape[-2:]
        row: dict[str, Any] = {
            "pair": pair.name,
            "lr_size": [w, h],
            "shift": [pair.motion.dx, pair.motion.dy],
            "zoom": pair.motion.zoom,
            "correlation": pair.motion.correlation,
            "displacement": pair.motion.extent((h, w)),
            "registered": pair.registered,
        }
        if fitter is not None:
            fit = fitter.fit([index])
            row.update(blur_sigma=fit.sigma, blur_psnr=fit.psnr)
        rows.append(row)
    blur = "" if args.no_blur else " | blur σ | fit dB"
    print(f"| pair | LR size | shift (LR px) | zoom | displacement | registered{blur} |")
    print("|---|---|---|---|---|---" + ("|---|---" if blur else "") + "|")
    for r in rows:
        line = (
            f"| {r['pair']} | {r['lr_size'][0]}x{r['lr_size'][1]} |"
            f" {r['shift'][0]:+.2f}, {r['shift'][1]:+.2f} | {r['zoom']:.4f} |"
            f" {r['displacement']:.2f} | {'yes' if r['registered'] else 'no'} |"
        )
        if blur:
            line += f" {r['blur_sigma']:.2f} | {r['blur_psnr']:.1f} |"
        print(line)
    summary: dict[str, Any] = {"scale": args.scale, "pairs": rows}
    worst = max(rows, key=lambda r: r["displacement"])
    print(
        f"{len(rows)} pairs fit x{args.scale}; largest displacement {worst['displacement']:.2f}"
        f" LR px ({worst['pair']}), {sum(r['registered'] for r in rows)} registered"
    )
    if fitter is not None:
        fit = fitter.fit()  # every pair's coarse errors are already known
        summary["blur"] = {"sigma": fit.sigma, "psnr": fit.psnr, "curve": fit.curve}
        summary["pool_degradation"] = fit.pool_degradation()
        print(
            f"all pairs: blur:iso:{fit.sigma:g} down:bicubic explains the LR to {fit.psnr:.1f} dB;"
            f' srmeta adapt --pool-degradation "{fit.pool_degradation()}" (or fit)'
        )
    if args.json:
        atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n", force=args.force)
    return 0
