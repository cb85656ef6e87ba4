"""The weighting-strategy protocol the trainer talks to.

A strategy turns a batch's per-pixel loss map into weights (mean 1 per image, or over the
batch; detached), and may learn something of its own each step (a Weight-Net, a
Meta-Weight-Net, uncertainty maps). One training step, in this order (:func:`weigh` runs
steps 3-5, so the order lives here and nowhere else):

1. the trainer builds the :class:`StepInputs` (what is known before the SR forward);
2. ``reward_direction(inputs)``: a meta strategy's tangent ``P g_M``, which the trainer may
   carry through its own forward to get every pixel's reward at no extra forward;
3. with the forward done, the complete :class:`StepContext`: ``update(ctx)`` learns and
   returns scalars to log;
4. ``weights(ctx)``: the detached weights of this step's loss;
5. ``extra_loss(ctx)``: an optional differentiable term added to the weighted loss.

``inspect(ctx)`` gives the weights (and the rewards they come from) without learning, for
reports. Uniform, loss-proportional and meta-learned weightings are thus interchangeable
by configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import torch
from pydantic import ValidationError
from torch import nn

from srmeta.errors import SrmetaError
from srmeta.losses import L1, PixelLoss
from srmeta.options import NoOptions
from srmeta.schema import Section, one_line

Logs = dict[str, torch.Tensor | float]
OptionsT = TypeVar("OptionsT", bound=Section)


@dataclass
class StepInputs:
    """What a step knows before the SR forward.

    ``model`` is the bare network (not the DDP wrapper); ``meta_batch`` draws the few-shot
    meta batch for this step (None when the run declares no meta-dataset);
    ``loss`` is the pixel loss, which meta strategies differentiate.
    ``corrupt`` (bool, ``B``) marks the samples whose HR target the data side corrupted on
    purpose (all False for mixed-in meta samples and for data that marks nothing). It is
    there for bookkeeping: a strategy that read it would cheat.
    """

    step: int
    lr: torch.Tensor
    hr: torch.Tensor
    model: nn.Module
    optimizer: torch.optim.Optimizer
    meta_batch: Callable[[], dict[str, torch.Tensor]] | None = None
    loss: PixelLoss = L1
    corrupt: torch.Tensor | None = None


@dataclass
class StepContext(StepInputs):
    """Everything a strategy may look at in one step, complete: the step's inputs plus the
    forward's results (keyword-only). ``sr`` and ``loss_map`` still carry the graph to the
    SR network's parameters; ``reward`` is the reward map when the trainer's forward already
    computed it (see :meth:`WeightingStrategy.reward_direction`)."""

    sr: torch.Tensor = field(kw_only=True)
    loss_map: torch.Tensor = field(kw_only=True)
    reward: torch.Tensor | None = field(default=None, kw_only=True)

    @classmethod
    def after_forward(
        cls,
        inputs: StepInputs,
        sr: torch.Tensor,
        loss_map: torch.Tensor,
        reward: torch.Tensor | None = None,
    ) -> StepContext:
        known = {f.name: getattr(inputs, f.name) for f in fields(StepInputs)}
        return cls(**known, sr=sr, loss_map=loss_map, reward=reward)


@dataclass
class Weighted:
    """What a strategy gives one step: its weights, an optional extra loss term, its logs."""

    weights: torch.Tensor
    extra_loss: torch.Tensor | None
    logs: Logs = field(default_factory=dict)


@dataclass
class Inspection:
    """The weights a strategy would give a batch, and for meta strategies the rewards."""

    weights: torch.Tensor
    reward: torch.Tensor | None = None


def read_options(model: type[OptionsT], options: Mapping[str, Any], name: str) -> OptionsT:
    """``options`` checked against a strategy's option model (:mod:`srmeta.options`), or a
    one-line error naming the strategy and each bad option."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as err:
        lead = f"weighting '{name}': "
        raise SrmetaError(one_line(err, lead, unknown="{where}: unknown option")) from None


class WeightingStrategy:
    """Base class: uniform weights, nothing to learn, nothing to save. ``Options`` is the
    strategy's option model; constructors take its fields as keywords."""

    name = "base"
    Options: ClassVar[type[Section]] = NoOptions

    def __init__(self, **options: Any) -> None:
        read_options(self.Options, options, self.name)

    needs_meta = False
    reward_method = "jvp"  # how the trainer's forward computes rewards: jvp (exact) or fd
    uses_scale = False  # True: the constructor takes the run's ``scale``

    def reward_direction(self, ctx: StepInputs) -> dict[str, torch.Tensor] | None:
        """The tangent ``P g_M`` when this step needs rewards, else None.

        Called with the step's inputs, before the SR forward; a trainer
        that can will carry it through its own forward and put the rewards in ``ctx.reward``,
        saving the jvp's separate forward. A trainer that cannot (DDP, bf16) does not call
        it, and the strategy computes the rewards itself in :meth:`update`.
        """
        return None

    def update(self, ctx: StepContext) -> Logs:
        """Learn from this step before the SR update; returns scalars to log."""
        return {}

    def weights(self, ctx: StepContext) -> torch.Tensor:
        """Detached ``B x H x W`` weights with mean 1 per image."""
        return torch.ones_like(ctx.loss_map).detach()

    def extra_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """A differentiable term added to the weighted loss (e.g. focal frequency); or None."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{self.name} weighting has no state, got keys {sorted(state)}")

    def inspect(self, ctx: StepContext) -> Inspection:
        """The weights of ``ctx`` without learning from it (reports, figures)."""
        return Inspection(self.weights(ctx))

    def to(self, device: torch.device) -> WeightingStrategy:
        return self


def weigh(strategy: WeightingStrategy, ctx: StepContext) -> Weighted:
    """Steps 3-5 of the protocol, in their order: learn, weigh, add the extra term."""
    logs = strategy.update(ctx)
    weights = strategy.weights(ctx)
    return Weighted(weights, strategy.extra_loss(ctx), logs)


SCOPES = ("image", "batch")


def scope_dims(scope: str) -> tuple[int, ...]:
    """The dimensions of a ``B x H x W`` map that one normalisation spans.

    ``image``: each image's weights have mean 1, so a weighting can only move weight between
    the pixels of one image. ``batch``: the whole batch has mean 1, so a whole image (a
    corrupted target, say) can be turned down against the others.
    """
    if scope not in SCOPES:
        raise ValueError(f"normalise must be image or batch, got {scope!r}")
    return (-2, -1) if scope == "image" else (-3, -2, -1)


def normalise(weights: torch.Tensor, scope: str = "image") -> torch.Tensor:
    """Scale non-negative ``B x H x W`` weights to mean 1 per image or over the batch
    (an all-zero group falls back to uniform weights)."""
    mean = weights.mean(dim=scope_dims(scope), keepdim=True)
    uniform = torch.ones_like(weights)
    return torch.where(mean > 0, weights / mean.clamp_min(1e-12), uniform)


def normalise_per_image(weights: torch.Tensor) -> torch.Tensor:
    """Scale non-negative ``B x H x W`` weights to mean 1 per image (all-zero -> uniform)."""
    return normalise(weights, "image")
