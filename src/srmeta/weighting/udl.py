"""Uncertainty-driven loss (UDL, Ning et al., NeurIPS 2021), for any SR architecture.

UDL runs in two stages. Stage 1 learns a per-pixel log-variance ``s`` with the
uncertainty-estimation loss ``L_EU = mean(exp(-s) |SR - HR|) + 2 mean(s)`` (the optimum is
``exp(s) = |SR - HR| / 2``: ``s`` is large where the network is unsure). Stage 2 trains a
fresh SR network with the pixel loss weighted by the frozen stage-1 uncertainty, shifted to
be >= 1, so that *uncertain* pixels (edges, textures) get *more* attention, the opposite of
the usual aleatoric down-weighting.

The paper grows an uncertainty branch on the SR network itself; here ``s`` comes from a
small separate FCN (:class:`UncertaintyNet`) that looks at the detached SR output, so any
architecture in the registry works unchanged and ``s`` needs no HR at inference. In stage 1
the SR network's share of ``L_EU`` is the weighted L1 ``mean(exp(-s) l)``; the strategy
returns ``exp(-s)`` as its weights, *normalised to mean 1 per image* (a deviation: the raw
``exp(-s) ~ 2 / |e|`` would rescale each image's gradient by ~1/error and fight the SR
learning-rate schedule; normalising keeps the relative emphasis and the base contract).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from srmeta import checkpoints as ckpt
from srmeta.atomic import atomic_open
from srmeta.errors import SrmetaError
from srmeta.options import UDLOptions
from srmeta.weighting.base import (
    Logs,
    StepContext,
    WeightingStrategy,
    normalise_per_image,
    read_options,
)

FILE_KIND = "srmeta.udl-uncertainty"


class UncertaintyNet(nn.Module):
    """Three 3x3 convolutions: ``C``-channel image -> ``B x 1 x H x W`` log-variance ``s``.

    The last layer starts at zero, so ``s = 0`` and stage 1 begins as the plain pixel loss
    rather than with random weights.
    """

    def __init__(self, in_channels: int = 3, features: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, 1, 3, padding=1),
        )
        for param in self.body[-1].parameters():  # weight and bias start at zero
            nn.init.zeros_(param)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)


def udl_estimation_loss(s: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``L_EU = mean(exp(-s) r) + 2 mean(s)`` for ``s`` ``B x 1 x H x W``, ``r`` ``B x H x W``."""
    s = s[:, 0]
    return (torch.exp(-s) * residual).mean() + 2.0 * s.mean()


def stage1_weights(s: torch.Tensor) -> torch.Tensor:
    """Stage-1 weights from ``B x 1 x H x W`` ``s``: ``exp(-s)`` normalised to mean 1."""
    return normalise_per_image(torch.exp(-s[:, 0]))


def stage2_weights(s: torch.Tensor) -> torch.Tensor:
    """Stage-2 weights from ``B x 1 x H x W`` ``s``: ``s - min(s) + 1`` per image, mean 1."""
    s = s[:, 0]
    shifted = s - s.amin(dim=(-2, -1), keepdim=True) + 1.0
    return normalise_per_image(shifted)


def _read_net_state(source: Path) -> dict[str, torch.Tensor]:
    """Uncertainty-net weights from a ``save_uncertainty`` file, a state file or a run."""
    if source.is_dir():
        states = ckpt.list_states(source)
        if not states:
            raise SrmetaError(f"udl: {source} holds no checkpoints/state_*.pt to take s from")
        source = states[-1][1]
    if not source.is_file():
        raise SrmetaError(f"udl: uncertainty_from {source} does not exist")
    if source.suffix.lower() == ".safetensors":
        try:
            with safetensors.safe_open(str(source), framework="pt") as handle:
                if (handle.metadata() or {}).get("srmeta.kind") != FILE_KIND:
                    raise SrmetaError(f"udl: {source} is not a saved uncertainty net")
                return {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        except SrmetaError:
            raise
        except Exception as err:
            raise SrmetaError(f"udl: {source}: not a readable safetensors file ({err})") from None
    weighting = ckpt.load_state(source).get("weighting") or {}
    if "net" not in weighting:
        raise SrmetaError(f"udl: {source} holds no UDL uncertainty net (was it a udl run?)")
    return weighting["net"]


def _net_shape(state: dict[str, torch.Tensor], source: str) -> tuple[int, int]:
    """``(in_channels, features)`` of saved uncertainty-net weights."""
    first = state.get("body.0.weight")
    if first is None or first.dim() != 4:
        raise SrmetaError(f"udl: {source} does not hold UncertaintyNet weights")
    return int(first.shape[1]), int(first.shape[0])


class UDL(WeightingStrategy):
    """Uncertainty-driven loss weighting; ``stage`` 1 learns ``s``, stage 2 uses it frozen.

    ``uncertainty_from`` (stage 2 only) names the stage-1 result: a ``.safetensors`` file
    written by :meth:`save_uncertainty`, a stage-1 ``state_*.pt`` checkpoint, or a stage-1
    run folder (its newest checkpoint). ``lr`` is the uncertainty net's own Adam learning
    rate (constant; it does not follow the SR schedule). ``seed`` fixes the net's initial
    weights without touching the global RNG, so adding UDL does not shift the SR run's
    random stream. Under DDP each rank fits its own net to its own batches.
    """

    name = "udl"

    Options = UDLOptions

    def __init__(self, **options: Any) -> None:
        o = read_options(UDLOptions, options, self.name)
        stage, uncertainty_from, seed = o.stage, o.uncertainty_from, o.seed
        in_channels, features = o.in_channels, o.features
        if stage == 1 and uncertainty_from is not None:
            raise SrmetaError("udl: uncertainty_from is for stage 2; stage 1 learns s itself")
        if stage == 2 and not uncertainty_from:
            raise SrmetaError("udl: stage 2 needs uncertainty_from (the stage-1 result)")
        self.stage = stage
        self.lr = o.lr
        state = None
        if uncertainty_from:  # stage 2 (checked above)
            state = _read_net_state(Path(uncertainty_from))
            in_channels, features = _net_shape(state, uncertainty_from)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = UncertaintyNet(in_channels, features)
        self.optimizer: torch.optim.Optimizer | None = None
        if state is None:  # stage 1
            self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        else:
            self._load_net(state, str(uncertainty_from))
            self.net.requires_grad_(False).eval()

    def _load_net(self, state: dict[str, torch.Tensor], where: str) -> None:
        try:
            self.net.load_state_dict(state)
        except RuntimeError as err:
            raise SrmetaError(f"udl: {where}: uncertainty net does not fit ({err})") from None

    def uncertainty(self, sr: torch.Tensor) -> torch.Tensor:
        """``B x 1 x H x W`` log-variance ``s`` of a (detached) SR output, without grad."""
        with torch.no_grad():
            return self.net(sr.detach().float())

    def update(self, ctx: StepContext) -> Logs:
        """Stage 1: one Adam step of the uncertainty net on ``L_EU``; stage 2: nothing.

        The residual is the trainer's own detached loss map (``|e|`` channel-averaged for
        L1, as in the paper), so ``s`` models exactly the quantity it will re-weight.
        Logged values stay tensors so no device sync is forced.
        """
        if self.optimizer is None:
            return {}
        self.net.train()
        with torch.autocast(ctx.sr.device.type, enabled=False):
            s = self.net(ctx.sr.detach().float())
            loss = udl_estimation_loss(s, ctx.loss_map.detach().float())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"udl_loss": loss.detach(), "udl_s_mean": s.detach().mean()}

    def weights(self, ctx: StepContext) -> torch.Tensor:
        """Stage 1: ``exp(-s)``; stage 2: ``s - min(s) + 1``; both mean 1 per image."""
        with torch.autocast(ctx.sr.device.type, enabled=False):
            s = self.uncertainty(ctx.sr)
        weights = stage1_weights(s) if self.stage == 1 else stage2_weights(s)
        return weights.to(ctx.loss_map.dtype)

    def save_uncertainty(self, path: str | Path, force: bool = False) -> None:
        """Write the uncertainty net as safetensors (atomically), for a stage-2 run."""
        state = {k: v.detach().contiguous().cpu() for k, v in self.net.state_dict().items()}
        data = safetensors.torch.save(state, metadata={"srmeta.kind": FILE_KIND})
        with atomic_open(path, force=force) as handle:
            handle.write(data)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"stage": self.stage, "net": self.net.state_dict()}
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("stage") != self.stage:
            raise SrmetaError(f"udl: checkpoint is stage {state.get('stage')}, run is {self.stage}")
        self._load_net(state["net"], "checkpoint")
        if self.optimizer is not None:  # a copy: Adam would otherwise alias the given moments
            self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))

    def to(self, device: torch.device) -> UDL:
        self.net.to(device)
        if self.optimizer is not None:  # Adam state made before the move follows its params
            for param_state in self.optimizer.state.values():
                for key, value in param_state.items():
                    if torch.is_tensor(value) and key != "step":
                        param_state[key] = value.to(device)
        return self


__all__ = [
    "UDL",
    "UncertaintyNet",
    "stage1_weights",
    "stage2_weights",
    "udl_estimation_loss",
]
