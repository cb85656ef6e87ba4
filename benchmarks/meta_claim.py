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

Writes ``benchmarks/results/meta_claim.json`` and ``docs/figures/meta_claim_weight_maps.jpg``
(per image: the HR crop, then each run's weight map on one colour scale).
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
from meta_experiments import logged_mean  # noqa: E402
from meta_grid import B_TARGET, SETTINGS, Budget, arm_config  # noqa: E402

REPO = HERE.parent
IMAGES = ["Urban100:img_004", "Urban100:img_044", "Set14:baboon", "Set5:butterfly", "BSD100:253027"]
META_SETS: dict[str, dict[str, Any]] = {
    "clean": {},
    "target": {"degradation": B_TARGET},
    "urban": {"dataset": "Urban100", "count": None, "names": [f"img_0{i}" for i in range(91, 96)]},
}


def claim_config(meta: str, budget: Budget, warm: Path, out: Path) -> dict[str, Any]:
    cfg = arm_config(
        SETTINGS["A1"],
        "weightnet_best",
        budget,
        0,
        str(out / meta),
        str(warm / "model_last.safetensors"),
    )
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
    return [
        float(power[(radius >= a) & (radius < b)].sum()) / total
        for a, b in itertools.pairwise(edges)
    ]


def save_claim_figure(maps: dict[str, list[Any]], path: Path) -> None:
    """Rows: images; columns: HR, then the weight map of each meta-set (shared scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metas = list(maps)
    rows = len(next(iter(maps.values())))
    fig, axes = plt.subplots(rows, 1 + len(metas), figsize=(3 * (1 + len(metas)), 3 * rows))
    for r in range(rows):
        first = maps[metas[0]][r]
        axes[r, 0].imshow(first.hr.permute(1, 2, 0).clamp(0, 1).numpy())
        axes[r, 0].set_title(f"{first.name}: HR", fontsize=9)
        for c, meta in enumerate(metas, start=1):
            shown = axes[r, c].imshow(
                maps[meta][r].weights.numpy(), cmap="viridis", vmin=0.0, vmax=2.0
            )
            axes[r, c].set_title(f"weights, meta-set: {meta}", fontsize=9)
        for ax in axes[r]:
            ax.axis("off")
    fig.colorbar(shown, ax=axes, shrink=0.4, label="weight (mean 1 per image)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, pil_kwargs={"quality": 85})
    plt.close(fig)


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
    from srmeta.report.weight_maps import weight_maps, weight_statistics
    from srmeta.training.loop import train

    budget = Budget() if args.steps is None else dataclasses.replace(Budget(), steps=args.steps)
    out, warm = Path(args.out).resolve(), Path(args.warm).resolve()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    results: dict[str, Any] = {"commit": commit, "images": IMAGES, "runs": {}}
    all_maps: dict[str, list[Any]] = {}
    for meta in META_SETS:
        cfg = claim_config(meta, budget, warm, out)
        cfg["data_root"] = args.data_root
        train(validate_config(cfg), resume="auto", progress=False)
        run = out / meta
        maps = all_maps[meta] = weight_maps(run, IMAGES, data_root=args.data_root, crop=192)
        stats = weight_statistics(maps)
        for row, m in zip(stats, maps, strict=True):
            row["variance_share_by_band"] = band_shares(m.weights)
        metrics = run / "metrics.jsonl"
        results["runs"][meta] = {
            "meta": cfg["data"]["meta"],
            "corrupt_weight_share": logged_mean(metrics, "corrupt_weight_share"),
            "corrupt_pixel_share": logged_mean(metrics, "corrupt_pixel_share"),
            "images": stats,
        }
        print(meta, results["runs"][meta]["corrupt_weight_share"], flush=True)
    save_claim_figure(all_maps, Path(args.figures) / "meta_claim_weight_maps.jpg")
    Path(args.results).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
