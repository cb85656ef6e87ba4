"""Where does the meta reward sit? Reward statistics by image structure, per reward variant.

Weight-Net can only learn what the reward says on average about similar content: over free
per-pixel weights the optimum is q ∝ exp(r~/beta), and a smooth FCN approximates
E[r~ | content]. This script takes a trained network (a run's checkpoint: parameters and
Adam moments), computes the meta gradient on the meta-dataset of a config, and the reward of
every pixel of a batch of training patches, then reports the mean standardised reward in
five bins of HR structure (Sobel magnitude of luma, quintiles over the batch) and the
Spearman correlation of reward and structure, for several reward variants:

- ``adam``: the method's reward, ``<grad l_i, P g_M>`` with Adam's preconditioner;
- ``identity``: the same without preconditioning;
- ``no_output_bias`` / ``output_bias_only``: the direction split into the last layer's bias
  (a brightness shift of every output pixel) and the rest;
- ``meta_mse`` / ``meta_edges_l1``: ``adam`` with g_M of an L2 meta loss, or of the L1
  loss on the meta batch's most structured 20% of pixels only;
- ``pixel_cosine``: ``adam`` divided by each pixel's gradient norm in the P metric,
  estimated from random probes (``E[(J_i z)^2] = |grad l_i|_P^2`` for ``z ~ N(0, P)``).

    python scripts/reward_anatomy.py --run runs/bundled_x4 --meta-config
        configs/weightnet_urban_x4.yaml --data-root ../shared/data --out results/anatomy.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from run_state import newest_state
from torch.func import functional_call

from srmeta.config import load_config
from srmeta.data.meta import MetaSet
from srmeta.data.training import TrainingPatches
from srmeta.losses import PixelLoss
from srmeta.report.weight_maps import spearman, structure_map
from srmeta.weighting.reward import meta_gradient, rewards, trainable

BINS = 5


def structure_bins(hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel structure (B x H x W) and its quintile index over the whole batch."""
    structure = torch.stack([structure_map(h) for h in hr]).float()
    edges = torch.quantile(structure.flatten(), torch.linspace(0, 1, BINS + 1)[1:-1])
    return structure, torch.bucketize(structure, edges)


def summarise(reward: torch.Tensor, structure: torch.Tensor, bins: torch.Tensor, scale: int):
    standard = (reward - reward.mean()) / reward.std()
    cell = F.avg_pool2d(reward[:, None], scale)[:, 0]
    cell_structure = F.avg_pool2d(structure[:, None], scale)[:, 0]
    return {
        "mean_by_structure_quintile": [float(standard[bins == k].mean()) for k in range(BINS)],
        "positive_fraction_by_quintile": [
            float((reward[bins == k] > 0).float().mean()) for k in range(BINS)
        ],
        "spearman_pixel": spearman(reward, structure),
        "spearman_lr_cell": spearman(cell, cell_structure),
    }


def mean_gradient(grads: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: sum(g[k] for g in grads) / len(grads) for k in grads[0]}


def edge_meta_gradient(model, batch) -> dict[str, torch.Tensor]:
    """g_M of the L1 loss on the top structure quintile of the meta batch only."""
    params = {k: p.requires_grad_() for k, p in trainable(model).items()}
    loss_map = PixelLoss()(functional_call(model, params, (batch["lr"],)), batch["hr"])
    edges = structure_bins(batch["hr"])[1] == BINS - 1
    loss = (loss_map * edges).sum() / edges.sum()
    grads = torch.autograd.grad(loss, list(params.values()))
    return dict(zip(params, grads, strict=True))


def markdown(results: dict[str, object]) -> str:
    """One row per variant: mean r~ per structure quintile (flat to edges), P(r > 0) in the
    flattest and the most structured quintile, Spearman per pixel and per LR cell."""
    lines = [
        f"{results['run']} at step {results['step']}, {results['patches']} patches",
        "",
        "| variant | mean r~ by structure quintile (flat → edges) | P(r>0) flat / edges"
        " | Spearman pixel / LR cell |",
        "|---|---|---|---|",
    ]
    for name, row in results.items():
        if not isinstance(row, dict):
            continue
        means = " ".join(f"{x:+.3f}" for x in row["mean_by_structure_quintile"])
        positive = row["positive_fraction_by_quintile"]
        lines.append(
            f"| {name} | {means} | {positive[0]:.2f} / {positive[-1]:.2f} |"
            f" {row['spearman_pixel']:+.3f} / {row['spearman_lr_cell']:+.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="training run folder (its newest state)")
    parser.add_argument("--meta-config", required=True, help="config whose data.meta is used")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--patches", type=int, default=32, help="training patches")
    parser.add_argument("--meta-batches", type=int, default=8, help="meta batches averaged")
    parser.add_argument("--probes", type=int, default=16, help="probes for pixel gradient norms")
    parser.add_argument("--step", type=int, default=123_457, help="data draw")
    parser.add_argument("--out", default=None, help="JSON file for the numbers")
    args = parser.parse_args()
    torch.manual_seed(0)

    run = Path(args.run)
    cfg, step, model, scales = newest_state(run, args.data_root)
    if scales is None:
        raise SystemExit(f"{run}: the checkpoint has no Adam state")
    meta_cfg = load_config(args.meta_config)
    meta_cfg.data_root, meta_cfg.scale = cfg.data_root, cfg.scale

    meta = MetaSet.from_config(meta_cfg)
    meta_batches = [meta.batch(args.step + i) for i in range(args.meta_batches)]
    g_meta = mean_gradient([meta_gradient(model, b) for b in meta_batches])
    g_mse = mean_gradient([meta_gradient(model, b, PixelLoss("l2")) for b in meta_batches])
    g_edges = mean_gradient([edge_meta_gradient(model, b) for b in meta_batches])

    patches = TrainingPatches.from_config(cfg)
    lrs, hrs = [], []
    while sum(x.shape[0] for x in lrs) < args.patches:
        batch = patches[args.step + len(lrs)]
        lrs.append(batch["lr"])
        hrs.append(batch["hr"])
    lr, hr = torch.cat(lrs)[: args.patches], torch.cat(hrs)[: args.patches]
    structure, bins = structure_bins(hr)

    bias = "tail.1.bias" if "tail.1.bias" in g_meta else None
    directions = {
        "adam": {k: g * scales[k] for k, g in g_meta.items()},
        "identity": g_meta,
        "meta_mse": {k: g * scales[k] for k, g in g_mse.items()},
        "meta_edges_l1": {k: g * scales[k] for k, g in g_edges.items()},
    }
    if bias is not None:
        directions["no_output_bias"] = {
            k: (torch.zeros_like(d) if k == bias else d) for k, d in directions["adam"].items()
        }
        directions["output_bias_only"] = {
            k: (d if k == bias else torch.zeros_like(d)) for k, d in directions["adam"].items()
        }
    results: dict[str, object] = {"run": str(run), "step": step, "patches": args.patches}
    reward_maps = {}
    for name, direction in directions.items():
        loss_map, reward = rewards(model, {"lr": lr, "hr": hr}, direction)
        reward_maps[name] = reward
        results[name] = summarise(reward, structure, bins, cfg.scale)

    # |grad l_i|_P from random probes z ~ N(0, P): (d l_i / d theta . z)^2 averages to it.
    params = trainable(model)
    squares = torch.zeros_like(reward_maps["adam"])
    for _ in range(args.probes):
        probe = {k: torch.randn_like(p) * scales[k].sqrt() for k, p in params.items()}
        _, tangent = rewards(model, {"lr": lr, "hr": hr}, probe)
        squares += tangent**2 / args.probes
    norm = squares.sqrt()
    results["pixel_gradient_norm"] = summarise(norm, structure, bins, cfg.scale)
    results["pixel_cosine"] = summarise(
        reward_maps["adam"] / (norm + 1e-12), structure, bins, cfg.scale
    )
    results["loss"] = summarise(loss_map, structure, bins, cfg.scale)
    share = {k: float((g_meta[k] ** 2 * scales[k]).sum()) for k in g_meta}  # g.P.g per tensor
    total = sum(share.values())
    results["direction_energy_share_top"] = sorted(
        ((k, v / total) for k, v in share.items()), key=lambda kv: -kv[1]
    )[:5]
    text = json.dumps(results, indent=1, default=lambda x: None if math.isnan(x) else x)
    print(markdown(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
