"""How much of the loss weight went to corrupted targets: the number a dirty-pool experiment
is read by (``corrupt_weight_share`` in ``metrics.jsonl``)."""

from __future__ import annotations

import torch


def corrupt_weight_sums(weights: torch.Tensor, corrupt: torch.Tensor) -> torch.Tensor:
    """``[weight on corrupted samples, all weight, corrupted pixels, all pixels]`` (float64).

    ``weights`` are the ``B x H x W`` weights the SR loss used, ``corrupt`` the ``B`` flags.
    Sums, not ratios, so that steps and DDP ranks add up: over a logging window the share
    of weight on corrupted targets is ``s[0] / s[1]``, and ``s[2] / s[3]`` is what uniform
    weights would give on the same samples, the baseline the share is to be read against.
    """
    per_sample = weights.detach().to(torch.float64).flatten(1).sum(dim=1)
    pixels = torch.full_like(per_sample, float(weights[0].numel()))
    flags = corrupt.to(device=per_sample.device, dtype=torch.float64)
    return torch.stack(
        [(per_sample * flags).sum(), per_sample.sum(), (pixels * flags).sum(), pixels.sum()]
    )


def corrupt_shares(sums: torch.Tensor) -> dict[str, float]:
    """``corrupt_weight_share`` and ``corrupt_pixel_share`` from :func:`corrupt_weight_sums`
    added over a window; empty when the window held no corrupted sample (undefined then)."""
    weight_corrupt, weight_all, pixels_corrupt, pixels_all = (float(v) for v in sums)
    if pixels_corrupt == 0 or weight_all <= 0:
        return {}
    return {
        "corrupt_weight_share": weight_corrupt / weight_all,
        "corrupt_pixel_share": pixels_corrupt / pixels_all,
    }
