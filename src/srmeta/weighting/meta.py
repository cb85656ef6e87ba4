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
deviation. ``H`` is deliberately not divided by ``log(HW)``: at 96 px patches that would
make the temperature 0.011, and Weight-Net collapses onto a few regions (docs/weightnet.md).
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

from srmeta.options import L2RWOptions, LearnedOptions, MetaOptions, MWNetOptions
from srmeta.weighting.base import (
    Inspection,
    Logs,
    StepContext,
    StepInputs,
    WeightingStrategy,
    normalise,
    read_options,
    scope_dims,
)
from srmeta.weighting.reward import RewardEngine, standardise

P_FLOOR = 1e-4


def probabilities_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """``p = floor + (1 - floor) * sigmoid(z)``: a sigmoid that stays positive.

    In float32 ``sigmoid(z)`` is exactly 0 below ``z`` of about -104, which a fast-learning
    weighting net reaches; the floor keeps every weight positive (max/min at most 1e4) and
    changes nothing measurable elsewhere.
    """
    return P_FLOOR + (1.0 - P_FLOOR) * torch.sigmoid(logits)


def weights_from_probabilities(p: torch.Tensor, scope: str = "image") -> torch.Tensor:
    """``w = N * p / sum(p)`` over each image (``N = HW``) or the whole batch (``N = BHW``):
    mean 1 over the scope, differentiable in ``p``."""
    return p / p.mean(dim=scope_dims(scope), keepdim=True)


def entropy(p: torch.Tensor, scope: str = "image") -> torch.Tensor:
    """Entropy (nats) of ``q = p / sum(p)`` over each image (shape ``B``) or over the whole
    batch (shape ``1``): ``log(N)`` for uniform, 0 for a spike."""
    dims = scope_dims(scope)
    q = p / p.sum(dim=dims, keepdim=True)
    return -(q * torch.log(q.clamp_min(1e-30))).sum(dim=dims).reshape(-1)


def normalised_entropy(p: torch.Tensor, scope: str = "image") -> torch.Tensor:
    """:func:`entropy` divided by ``log(N)``: 1 for uniform, 0 for a spike (for logs)."""
    count = math.prod(p.shape[d] for d in scope_dims(scope))
    return entropy(p, scope) / math.log(count)


def objective(
    p: torch.Tensor,
    reward_std: torch.Tensor,
    beta: float,
    scope: str = "image",
    image_beta: float | None = None,
) -> torch.Tensor:
    """``J = mean(w * r~) + beta * mean H(q)``, to be maximised; optimum q ∝ e^(r~/beta).

    With ``scope="batch"`` q is one distribution over every pixel of the batch, so the
    same temperature reads the same way while whole images compete for weight.

    ``image_beta`` (batch scope only) gives the choice between images its own temperature.
    The entropy splits as ``H(q) = H(q_img) + sum_b q_b H(q_pix|b)`` (q_b the weight share of
    image b); this weights the two terms by ``image_beta`` and ``beta``. Over free values the
    optimum is ``q_pix|b = softmax(r~/beta)`` within each image and
    ``q_b = softmax(V_b / image_beta)`` with ``V_b = beta * logsumexp(r~_b / beta)``: a low
    image temperature can turn a whole image off while the pixels of an image stay spread.
    """
    w = weights_from_probabilities(p, scope)
    gain = (w * reward_std).mean()
    if image_beta is None or image_beta == beta:
        return gain + beta * entropy(p, scope).mean()
    if scope != "batch":
        raise ValueError("image_beta needs normalise batch")
    q = p / p.sum()
    q_image = q.sum(dim=(-2, -1))
    h_image = -(q_image * torch.log(q_image.clamp_min(1e-30))).sum()
    h_pixels = entropy(p, "image")  # entropy of q_pix|b, per image
    return gain + image_beta * h_image + beta * (q_image * h_pixels).sum()


LEVELS = ("pixel", "image")


def image_means(values: torch.Tensor) -> torch.Tensor:
    """``B x H x W`` -> the per-image mean, broadcast back to ``B x H x W``."""
    return values.mean(dim=(-2, -1), keepdim=True).expand_as(values)


def level_scope(level: str, normalise: str | None) -> str:
    """The normalisation scope of a ``level`` weighting: ``normalise``, by default ``batch``
    for one weight per image (per-image means would all be 1) and ``image`` per pixel."""
    if level not in LEVELS:
        raise ValueError(f"level must be pixel or image, got {level!r}")
    scope = normalise or ("batch" if level == "image" else "image")
    scope_dims(scope)
    if level == "image" and scope == "image":
        raise ValueError("level image needs normalise batch (one weight per image, mean 1)")
    return scope


class RunningRMS(nn.Module):
    """``x / rms_c`` per channel, ``rms_c`` an EMA of the batch RMS, updated only in forwards
    that build a graph (the Weight-Net's own update), so computing weights changes nothing."""

    rms: torch.Tensor  # buffers
    updates: torch.Tensor

    def __init__(self, channels: int, momentum: float = 0.01) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("rms", torch.ones(channels))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            with torch.no_grad():
                batch = x.detach().pow(2).mean(dim=(0, 2, 3)).sqrt()
                rate = 1.0 if int(self.updates) == 0 else self.momentum
                self.rms.mul_(1 - rate).add_(rate * batch)
                self.updates += 1
        return x / (self.rms[None, :, None, None] + 1e-6)


class MetaWeighting(WeightingStrategy):
    """Owns a :class:`RewardEngine`; options common to every meta-weighting."""

    needs_meta = True

    def __init__(self, o: MetaOptions) -> None:  # the concrete class reads the options
        self.engine = RewardEngine(o.every, o.ema, o.precondition, o.cosine, o.meta_loss, o.reward)
        self.last_reward: torch.Tensor | None = None

    @property
    def reward_method(self) -> str:
        return self.engine.method

    def needs_reward(self, step: int) -> bool:
        """Whether :meth:`update` at ``step`` uses a reward map."""
        return True

    def reward_direction(self, ctx: StepInputs) -> dict[str, torch.Tensor] | None:
        return self.engine.direction(ctx) if self.needs_reward(ctx.step) else None

    def inspect(self, ctx: StepContext) -> Inspection:
        """Rewards from the current meta gradient, then the weights; the reward engine is
        left as it was, so inspecting many batches treats each as the next step would."""
        saved = copy.deepcopy(self.engine.state_dict())
        reward = self.engine.rewards(ctx)
        self.last_reward = reward  # L2RW weighs with this reward, not a second one
        weights = self.weights(ctx)
        self.engine.load_state_dict(saved)
        return Inspection(weights, reward)

    def state_dict(self) -> dict[str, Any]:
        return {"engine": self.engine.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engine.load_state_dict(state.get("engine", {}))


class L2RW(MetaWeighting):
    """Learning to Reweight: the positive part of the reward, normalised.

    ``level: pixel`` (default) weights each pixel by its own reward, normalised per image
    (``normalise: image``) or over the batch; ``level: image`` gives every pixel of an image
    the positive part of the image's mean reward, normalised over the batch: the per-example
    form of Ren et al. (2018). Needs a reward for every batch, so the jvp runs every step;
    ``every`` only spaces out the meta-gradient refreshes.
    """

    name = "l2rw"
    Options = L2RWOptions

    def __init__(self, **options: Any) -> None:
        o = read_options(L2RWOptions, options, self.name)
        super().__init__(o)
        self.level, self.scope = o.level, level_scope(o.level, o.normalise)

    def update(self, ctx: StepContext) -> Logs:
        self.last_reward = self.engine.rewards(ctx)
        return {
            "reward_mean": float(self.last_reward.mean()),
            "reward_positive": float((self.last_reward > 0).float().mean()),
        }

    def weights(self, ctx: StepContext) -> torch.Tensor:
        if self.last_reward is None:  # what update does, without the logs
            self.last_reward = self.engine.rewards(ctx)
        reward = self.last_reward if self.level == "pixel" else image_means(self.last_reward)
        return normalise(reward.clamp_min(0), self.scope).detach()


class LearnedWeighting(MetaWeighting):
    """A weight map from a small network trained on the reward every ``every`` steps.

    Subclasses set ``self.net`` and implement :meth:`probabilities` (``B x H x W`` in (0, 1),
    differentiable in the net's parameters). ``normalise`` is the scope over which the
    weights have mean 1 (``image`` or ``batch``, see :func:`~srmeta.weighting.base.normalise`).
    """

    net: nn.Module

    def __init__(self, o: LearnedOptions, normalise: str) -> None:
        super().__init__(o)
        self.center = o.center
        if o.image_beta is not None and normalise != "batch":
            raise ValueError("image_beta needs normalise batch")
        self.image_beta = o.image_beta
        scope_dims(normalise)
        self.lr, self.beta, self.scope = o.lr, o.beta, normalise
        self._optimizer: torch.optim.Optimizer | None = None
        self._last_logs: dict[str, float] = {}  # repeated on steps without an update

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        return self._optimizer

    def probabilities(self, ctx: StepContext) -> torch.Tensor:
        raise NotImplementedError

    def to_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``B x H x W`` logits -> probabilities; with ``center``, minus their mean over the
        normalisation scope first.

        Only differences between logits matter to the weights, but a sigmoid loses them
        when all logits drift together into a flat end: with a low image temperature the
        net pushed every logit to the floor, all weights became equal and the gradient
        vanished for good (docs/experiments.md). Centring removes that common drift.
        """
        if self.center:
            logits = logits - logits.mean(dim=scope_dims(self.scope), keepdim=True)
        return probabilities_from_logits(logits)

    def to(self, device: torch.device) -> LearnedWeighting:
        self.net.to(device)
        return self

    def needs_reward(self, step: int) -> bool:
        return self.engine.due(step)

    def update(self, ctx: StepContext) -> Logs:
        if ctx.reward is None and not self.needs_reward(ctx.step):
            return dict(self._last_logs)
        reward = self.engine.rewards(ctx)
        self.last_reward = reward
        p = self.probabilities(ctx)
        j = objective(p, standardise(reward), self.beta, self.scope, self.image_beta)
        self.optimizer.zero_grad(set_to_none=True)
        (-j).backward()
        if dist.is_available() and dist.is_initialized():  # keep the weighting net in sync
            for param in self.net.parameters():
                if param.grad is not None:
                    dist.all_reduce(param.grad)
                    param.grad /= dist.get_world_size()
        self.optimizer.step()
        spread = normalised_entropy(p.detach(), self.scope).mean()
        self._last_logs = {
            "meta_objective": float(j.detach()),
            "reward_mean": float(reward.mean()),
            "weight_entropy": float(spread),
        }
        return dict(self._last_logs)

    def weights(self, ctx: StepContext) -> torch.Tensor:
        with torch.no_grad():
            return weights_from_probabilities(self.probabilities(ctx), self.scope).detach()

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.net.load_state_dict(state["net"])
        # Optimizer.load_state_dict may keep the given moment tensors; copy so two strategies
        # restored from one state never share (and double-update) them.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))


class MetaWeightNet(LearnedWeighting):
    """Meta-Weight-Net: an MLP (1 -> hidden -> 1, sigmoid) of a loss value.

    ``level: pixel`` (default) applies it to each pixel's loss; ``level: image`` to each
    image's mean loss, one weight per image normalised over the batch, the per-example form
    of Shu et al. (2019). ``input_norm`` divides the loss by its running RMS (pixel L1
    losses are ~0.03, far below the unit scale the MLP's initialisation assumes).
    """

    name = "mwnet"
    Options = MWNetOptions

    def __init__(self, **options: Any) -> None:
        o = read_options(MWNetOptions, options, self.name)
        super().__init__(o, level_scope(o.level, o.normalise))
        self.level = o.level
        self.mlp = nn.Sequential(nn.Linear(1, o.hidden), nn.ReLU(), nn.Linear(o.hidden, 1))
        self.input_norm = RunningRMS(1) if o.input_norm else None
        # ``net`` is what is trained and saved: the MLP, with its input statistics if any.
        norm = self.input_norm
        self.net = self.mlp if norm is None else nn.ModuleList([norm, self.mlp])

    def probabilities(self, ctx: StepContext) -> torch.Tensor:
        loss = ctx.loss_map.detach()
        if self.level == "image":
            loss = loss.mean(dim=(-2, -1), keepdim=True)
        loss = loss.to(next(self.mlp.parameters()).dtype)
        if self.input_norm is not None:
            loss = self.input_norm(loss[:, None])[:, 0]
        logits = self.mlp(loss.unsqueeze(-1))
        return self.to_probabilities(logits.squeeze(-1)).expand_as(ctx.loss_map)
