"""Hand-made pixel weightings: no learning, a fixed rule applied to this step's error.

Both are baselines for the learned strategies: ``loss_power`` asks whether simply
emphasising the hard pixels helps, ``gradient_weighted`` whether emphasising pixels whose
*error* has structure (edges, textures the network got wrong) helps. Weights are computed
from detached tensors, so they steer the SR gradient without being differentiated.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from srmeta.options import GradientWeightedOptions, LossPowerOptions
from srmeta.weighting.base import StepContext, WeightingStrategy, normalise_per_image, read_options

# 3x3 Sobel kernels, unnormalised (as in scipy.ndimage.sobel and the GW-loss reference code),
# laid out for cross-correlation: SOBEL_X differentiates along width, SOBEL_Y along height.
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_SOBEL_Y = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))


def _working_float(x: torch.Tensor) -> torch.Tensor:
    """float32 for half/bfloat16 inputs (bf16 autocast), float64 kept for exact tests."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class LossPower(WeightingStrategy):
    """``w ∝ l^gamma``: bigger loss, bigger weight (``gamma = 0`` is uniform).

    With the L1 map, ``gamma = 1`` turns the weighted mean into a per-image mean of ``l^2``
    scaled by ``1 / mean(l)``, i.e. an L2-like emphasis on outliers while the gradient scale
    of each image stays that of its L1 loss. Negative powers would favour easy pixels and
    blow up where the loss is exactly zero, so they are refused.
    """

    name = "loss_power"
    Options = LossPowerOptions

    def __init__(self, **options: Any) -> None:
        self.gamma = read_options(LossPowerOptions, options, self.name).gamma

    def weights(self, ctx: StepContext) -> torch.Tensor:
        loss = ctx.loss_map.detach()
        if self.gamma == 0.0:
            return torch.ones_like(loss)
        return normalise_per_image(loss.pow(self.gamma))


def sobel_xy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel Sobel derivatives ``(d/dx, d/dy)`` of a ``B x C x H x W`` tensor.

    The border is padded by replication (scipy's ``mode="nearest"``): a constant error
    near the border then has zero derivative, as it does inside, instead of the false edge
    that zero padding (the GW-loss reference code) puts along every image border; unlike
    reflection it also works for patches only one pixel high or wide.
    """
    b, c, h, w = x.shape
    kernels = torch.tensor((_SOBEL_X, _SOBEL_Y), dtype=x.dtype, device=x.device).unsqueeze(1)
    padded = F.pad(x.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(padded, kernels).reshape(b, c, 2, h, w)
    return grads[:, :, 0], grads[:, :, 1]


def gradient_weight_map(error: torch.Tensor, alpha: float) -> torch.Tensor:
    """``B x H x W`` map ``mean_c (1 + alpha |dx e_c|)(1 + alpha |dy e_c|)``, not normalised."""
    dx, dy = sobel_xy(error)
    return ((1.0 + alpha * dx.abs()) * (1.0 + alpha * dy.abs())).mean(dim=1)


class GradientWeighted(WeightingStrategy):
    """GW-L1: weight pixels by how much the *error image* varies around them.

    From the Gradient-Weighted (GW) loss: with ``e = SR - HR`` and unnormalised 3x3 Sobel
    derivatives taken per channel, ``w_c = (1 + alpha |dx e_c|)(1 + alpha |dy e_c|)``. Flat
    regions where the error is a smooth offset get weight ~1; pixels where the error changes
    sharply (misplaced edges, wrong texture) get more. ``alpha = 4`` is the reference value
    for images in [0, 1], which is what ``e`` is here.

    Two deviations from the reference loss, both forced by the trainer weighting a
    *channel-mean* loss map: the per-channel weights are averaged over channels (the
    reference multiplies each channel's weight with that channel's error), and the result is
    normalised to mean 1 per image, so GW changes where the gradient goes but not the
    overall loss scale (the reference weights are all >= 1 and inflate it).
    """

    name = "gradient_weighted"

    Options = GradientWeightedOptions

    def __init__(self, **options: Any) -> None:
        self.alpha = read_options(GradientWeightedOptions, options, self.name).alpha

    def weights(self, ctx: StepContext) -> torch.Tensor:
        error = _working_float(ctx.sr.detach()) - _working_float(ctx.hr.detach())
        raw = gradient_weight_map(error, self.alpha)
        return normalise_per_image(raw).to(ctx.loss_map.dtype)


__all__ = ["GradientWeighted", "LossPower", "gradient_weight_map", "sobel_xy"]
