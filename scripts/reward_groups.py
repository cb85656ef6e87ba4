"""Does the meta reward tell corrupted targets from clean ones? Reward statistics by group.

A weighting can only down-weight corrupted samples if their reward is lower. This script
takes a run's newest state (network and Adam moments) and its config (a pool with
``data.train.corrupt`` and a clean ``data.meta``), averages the meta gradient over several
meta batches, computes the reward of every pixel of many training patches, and reports per
reward variant:

- the mean standardised reward of corrupted and of clean samples, overall and on the most
  structured 20% of pixels (where a blurred or shifted target differs from a clean one);
- the AUC of the per-sample mean reward as a detector of clean samples (0.5: no signal);
- the same AUC for the per-sample mean LR-consistency residual ``|imresize(HR, 1/s) - LR|``
  (a content feature Weight-Net can be given), for comparison.

    python scripts/reward_groups.py --run runs/dev1/A1/seed0/warm --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from run_state import newest_state

from srmeta.data.meta import MetaSet
from srmeta.data.training import TrainingPatches
from srmeta.losses import PixelLoss
from srmeta.report.weight_maps import structure_map
from srmeta.resize import imresize
from srmeta.weighting.reward import meta_gradient, rewards


def auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney)."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).double().mean()
    ties = (pos[:, None] == neg[None, :]).double().mean()
    return float(greater + 0.5 * ties)


def group_stats(reward: torch.Tensor, corrupt: torch.Tensor, edges: torch.Tensor) -> dict:
    standard = (reward - reward.mean()) / reward.std()
    per_sample = standard.mean(dim=(1, 2))
    edge_mean = (standard * edges).sum(dim=(1, 2)) / edges.sum(dim=(1, 2)).clamp_min(1)
    return {
        "mean_corrupt": float(per_sample[corrupt].mean()),
        "mean_clean": float(per_sample[~corrupt].mean()),
        "edges_mean_corrupt": float(edge_mean[corrupt].mean()),
        "edges_mean_clean": float(edge_mean[~corrupt].mean()),
        "auc_clean_sample": auc(per_sample, ~corrupt),
        "auc_clean_sample_edges": auc(edge_mean, ~corrupt),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="training run folder (its newest state)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--batches", type=int, default=16, help="training batches")
    parser.add_argument("--meta-batches", type=int, default=8, help="meta batches averaged")
    parser.add_argument("--step", type=int, default=987_654, help="data draw")
    parser.add_argument("--out", default=None, help="JSON file for the numbers")
    args = parser.parse_args()
    torch.manual_seed(0)
    run = Path(args.run)
    cfg, step, model, scales = newest_state(run, args.data_root)
    meta = MetaSet.from_config(cfg)
    if meta is None or scales is None:
        raise SystemExit("the run needs data.meta and an Adam state")
    patches = TrainingPatches.from_config(cfg)
    batches = [patches[args.step + i] for i in range(args.batches)]
    lr = torch.cat([b["lr"] for b in batches])
    hr = torch.cat([b["hr"] for b in batches])
    corrupt = torch.cat([b["corrupt"] for b in batches])
    structure = torch.stack([structure_map(h) for h in hr]).float()
    edges = structure >= torch.quantile(structure.flatten(), 0.8)
    consistency = (imresize(hr, 1 / cfg.scale) - lr).abs().mean(dim=(1, 2, 3))

    results: dict[str, object] = {
        "run": str(run),
        "step": step,
        "samples": len(corrupt),
        "corrupt_samples": int(corrupt.sum()),
    }
    meta_batches = [meta.batch(args.step + i) for i in range(args.meta_batches)]
    for loss in ("l2", "l1"):
        grads = [meta_gradient(model, b, PixelLoss(loss)) for b in meta_batches]
        g = {k: sum(x[k] for x in grads) / len(grads) for k in grads[0]}
        for name, direction in (
            ("adam", {k: v * scales[k] for k, v in g.items()}),
            ("identity", g),
        ):
            _, reward = rewards(model, {"lr": lr, "hr": hr}, direction)
            results[f"{loss}_{name}"] = group_stats(reward, corrupt, edges)
    results["consistency_auc_clean_sample"] = auc(-consistency, ~corrupt)
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
