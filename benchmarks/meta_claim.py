"""Setting C, the method's own claim: one pool, three meta-sets, three different weightings.

The pool is A1's (half the targets blurred); Weight-Net (the grid's ``weightnet_best``
options) is trained from A1's warm start with each of three meta-sets: ``clean`` (the
grid's 5 General100 pairs, bicubic), ``target`` (the same pairs degraded by setting B's
target, a strong anisotropic blur plus noise) and ``urban`` (Urban100 img_091-095,
bicubic). What differs is measured, not looked at:

- the weight share on the blurred targets over training (``corrupt_weight_share``; the
  share uniform weights would give is the pixel share);
- on test images: the rank correlation of the weights with HR structure, the weight share on
  the top-20% structure pixels (both from ``srmeta weights``' statistics), and the
  spectrum of the weight map: the share of its variance in three radial frequency bands;
- a figure of the three runs' maps on the same images.

    python benchmarks/meta_claim.py --data-root ../shared/data --warm runs/grid/A1/seed0/warm

Writes ``benchmarks/results/meta_claim.json`` and ``docs/figures/meta_claim_<meta>.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from meta_grid import B_TARGET, SETTINGS, Budget, arm_config  # noqa: E402

REPO = HERE.parent
IMAGES = ["Urban100:img_004", "Urban100:img_044", "Set14:baboon", "Set5:butterfly",
          "BSD100:253027"]  # fmt: skip
META_SETS: dict[str, dict[str, Any]] = {
    "clean": {},
    "target": {"degradation": B_TARGET},
    "urban": {"dataset": "Urban100", "count": None, "names": [f"img_0{i}" for i in range(91, 96)]},
}


def claim_config(meta: str, budget: Budget, warm: Path, out: Path) -> dict[str, Any]:
    cfg = arm_config(SETTINGS["A1"], "weightnet_best", budget, 0, str(out / meta),
                     str(warm / "model_last.safetensors"))  # fmt: skip
    cfg["name"] = f"C_{meta}"
    cfg["data"]["meta"].update(META_SETS[meta])
    if cfg["data"]["meta"].get("count") is None:
        cfg["data"]["meta"].pop("count", None)
    return cfg


def band_shares(weights: torch.Tensor) -> list[float]:
    """Share of the weight map's variance at radial frequency |f| in [0, 1/8), [1/8, 1/4),
    [1/4, 1/2] cycles per pixel (coarse regions, mid, pixel-scale detail)."""
    w = weights.double() - weights.double().mean()
    power = torch.fft.fft2(w).abs() ** 2
    fy = torch.fft.fftfreq(w.shape[0], dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w.shape[1], dtype=torch.float64)[None, :]
    radius = torch.sqrt(fy**2 + fx**2)
    total = float(power.sum()) or 1.0
    edges = [0.0, 1 / 8, 1 / 4, 10.0]
    return [float(power[(radius >= a) & (radius < b)].sum()) / total
            for a, b in itertools.pairwise(edges)]  # fmt: skip


def mean_logged(metrics: Path, key: str) -> float | None:
    values = [json.loads(line).get(key) for line in metrics.read_text().splitlines()]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--warm", required=True, help="A1's warm-start run folder")
    parser.add_argument("--out", default=str(REPO / "runs" / "meta_claim"))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--figures", default=str(REPO / "docs" / "figures"))
    parser.add_argument("--results", default=str(REPO / "benchmarks/results/meta_claim.json"))
    args = parser.parse_args()
    from srmeta.config import validate_config
    from srmeta.report.weight_maps import save_weight_figure, weight_maps, weight_statistics
    from srmeta.train.loop import train

    budget = Budget() if args.steps is None else dataclasses.replace(Budget(), steps=args.steps)
    out, warm = Path(args.out).resolve(), Path(args.warm).resolve()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    results: dict[str, Any] = {"commit": commit, "images": IMAGES, "runs": {}}
    for meta in META_SETS:
        cfg = claim_config(meta, budget, warm, out)
        cfg["data_root"] = args.data_root
        train(validate_config(cfg), resume="auto", progress=False)
        run = out / meta
        maps = weight_maps(run, IMAGES, data_root=args.data_root, crop=192)
        figure = Path(args.figures) / f"meta_claim_{meta}.png"
        save_weight_figure(maps, figure, force=True, title=f"meta-set: {meta}")
        stats = weight_statistics(maps)
        for row, m in zip(stats, maps, strict=True):
            row["variance_share_by_band"] = band_shares(m.weights)
        metrics = run / "metrics.jsonl"
        results["runs"][meta] = {
            "meta": cfg["data"]["meta"],
            "corrupt_weight_share": mean_logged(metrics, "corrupt_weight_share"),
            "corrupt_pixel_share": mean_logged(metrics, "corrupt_pixel_share"),
            "images": stats,
        }
        print(meta, results["runs"][meta]["corrupt_weight_share"], flush=True)
    Path(args.results).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
