"""Meta-learned weightings that share one reward engine: L2RW, Meta-Weight-Net, and the base
for Weight-Net.

They differ only in how the weight map is parametrised:

- ``l2rw``: no parameters; ``w ∝ max(r, 0)`` per image (Ren et al. 2018, per pixel).
- ``mwnet``: ``w = normalise(sigmoid(MLP(l)))``, an MLP of the pixel's loss value
  (Shu et al. 2019, per pixel), trained on the reward.
- ``weightnet``: ``w = normalise(sigmoid(FCN(content)))`` (see :mod:`weightnet`).

Parametric weightings maximise ``J(phi) = mean(w * r~) + beta * H(q)``, where ``r~`` is the
reward standardised over the batch, ``q = p / sum(p)`` the per-image distribution the
weights come from (``w = HW * q``) and ``H`` its entropy in nats. Since
``mean(w * r~) = sum_i q_i r~_i``, the best distribution over free per-pixel values is
``q ∝ exp(r~ / beta)``: ``beta`` is a temperature in units of the reward's standard
deviation. (The first version divided ``H`` by ``log(HW)``; at 96 px patches that made the
temperature 0.011 and Weight-Net collapsed onto a few regions, see docs/weightnet.md.)
``r`` does not depend on ``phi``, so this is an exact gradient through the small net only.
The default ``beta`` is 0.2: a smooth net can only follow the reward's mean over similar
content, which in the runs of docs/weightnet.md differed between flat and edge pixels by
about 0.2 standard deviations, so ``beta = 1`` would keep the weights within ~10% of 1.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from srmeta.weighting.base import StepContext, WeightingStrategy, normalise_per_image
from srmeta.weighting.reward import RewardEngine, standardise

P_FLOOR = 1e-4


def probabilities_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """``p = floor + (1 - floor) * sigmoid(z)``: a sigmoid that stays positive.

    In float32 ``sigmoid(z)`` is exactly 0 below ``z`` of about -104, which a fast-learning
    weighting net reaches; the floor keeps every weight positive (max/min at most 1e4) and
    changes nothing measurable elsewhere.
    """
    return P_FLOOR + (1.0 - P_FLOOR) * torch.sigmoid(logits)


def weights_from_probabilities(p: torch.Tensor) -> torch.Tensor:
    """``w = HW * p / sum(p)`` per image: mean 1, differentiable in ``p``."""
    return p / p.mean(dim=(-2, -1), keepdim=True)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``p / sum(p)`` per image: ``log(HW)`` for uniform, 0 for a spike."""
    q = p / p.sum(dim=(-2, -1), keepdim=True)
    return -(q * torch.log(q.clamp_min(1e-30))).sum(dim=(-2, -1))


def normalised_entropy(p: torch.Tensor) -> torch.Tensor:
    """:func:`entropy` divided by ``log(HW)``: 1 for uniform, 0 for a spike (for logs)."""
    return entropy(p) / math.log(p.shape[-1] * p.shape[-2])


def objective(p: torch.Tensor, reward_std: torch.Tensor, beta: float) -> torch.Tensor:
    """``J = mean(w * r~) + beta * mean_b H(q_b)``, to be maximised; optimum q ∝ e^(r~/beta)."""
    w = weights_from_probabilities(p)
    return (w * reward_std).mean() + beta * entropy(p).mean()


class MetaWeighting(WeightingStrategy):
    """Owns a :class:`RewardEngine`; options common to every meta-weighting."""

    needs_meta = True

    def __init__(
        self, every: int = 1, ema: float | None = None, precondition: str = "auto",
        cosine: bool = False, meta_loss: str = "l2",
    ) -> None:  # fmt: skip
        self.engine = RewardEngine(every, ema, precondition, cosine, meta_loss)
        self.last_reward: torch.Tensor | None = None

    def needs_reward(self, step: int) -> bool:
        """Whether :meth:`update` at ``step`` uses a reward map."""
        return True

    def reward_direction(self, ctx: StepContext) -> dict[str, torch.Tensor] | None:
        return self.engine.direction(ctx) if self.needs_reward(ctx.step) else None

    def state_dict(self) -> dict[str, Any]:
        return {"engine": self.engine.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engine.load_state_dict(state.get("engine", {}))


class L2RW(MetaWeighting):
    """Learning to Reweight, per pixel: the positive part of the reward, normalised per image.

    Needs a reward for every batch, so the jvp runs every step; ``every`` only spaces out
    the meta-gradient refreshes.
    """

    name = "l2rw"

    def update(self, ctx: StepContext) -> dict[str, float]:
        self.last_reward = self.engine.rewards(ctx)
        return {"reward_mean": float(self.last_reward.mean()),
                "reward_positive": float((self.last_reward > 0).float().mean())}  # fmt: skip

    def weights(self, ctx: StepContext) -> torch.Tensor:
        if self.last_reward is None:
            self.update(ctx)
        return normalise_per_image(self.last_reward.clamp_min(0)).detach()


class LearnedWeighting(MetaWeighting):
    """A weight map from a small network trained on the reward every ``every`` steps.

    Subclasses set ``self.net`` and implement :meth:`probabilities` (``B x H x W`` in (0, 1),
    differentiable in the net's parameters).
    """

    net: nn.Module

    def __init__(
        self, lr: float = 1e-3, beta: float = 0.2, every: int = 1, ema: float | None = None,
        precondition: str = "auto", cosine: bool = False, meta_loss: str = "l2",
    ) -> None:  # fmt: skip
        super().__init__(every, ema, precondition, cosine, meta_loss)
        self.lr, self.beta = lr, beta
        self._optimizer: torch.optim.Optimizer | None = None

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        return self._optimizer

    def probabilities(self, ctx: StepContext) -> torch.Tensor:
        raise NotImplementedError

    def to(self, device: torch.device) -> LearnedWeighting:
        self.net.to(device)
        return self

    def needs_reward(self, step: int) -> bool:
        return self.engine.due(step)

    def update(self, ctx: StepContext) -> dict[str, float]:
        if ctx.reward is None and not self.needs_reward(ctx.step):
            return {}
        reward = self.engine.rewards(ctx)
        self.last_reward = reward
        p = self.probabilities(ctx)
        j = objective(p, standardise(reward), self.beta)
        self.optimizer.zero_grad(set_to_none=True)
        (-j).backward()
        if dist.is_available() and dist.is_initialized():  # keep the weighting net in sync
            for param in self.net.parameters():
                if param.grad is not None:
                    dist.all_reduce(param.grad)
                    param.grad /= dist.get_world_size()
        self.optimizer.step()
        return {"meta_objective": float(j.detach()), "reward_mean": float(reward.mean()),
                "weight_entropy": float(normalised_entropy(p.detach()).mean())}  # fmt: skip

    def weights(self, ctx: StepContext) -> torch.Tensor:
        with torch.no_grad():
            return weights_from_probabilities(self.probabilities(ctx)).detach()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "net": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict()}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.net.load_state_dict(state["net"])
        # Optimizer.load_state_dict may keep the given moment tensors; copy so two strategies
        # restored from one state never share (and double-update) them.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))


class MetaWeightNet(LearnedWeighting):
    """Meta-Weight-Net per pixel: an MLP (1 -> hidden -> 1, sigmoid) of the pixel's loss."""

    name = "mwnet"

    def __init__(self, hidden: int = 100, **options: Any) -> None:
        super().__init__(**options)
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def probabilities(self, ctx: StepContext) -> torch.Tensor:
        loss = ctx.loss_map.detach().unsqueeze(-1)
        logits = self.net(loss.to(next(self.net.parameters()).dtype))
        return probabilities_from_logits(logits).squeeze(-1)
