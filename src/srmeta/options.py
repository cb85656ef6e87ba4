"""Typed options of every architecture and weighting strategy, selected by name.

One option model per architecture (``model.options``) and per strategy
(``train.weighting.options``): unknown keys and wrong types fail at ``load_config`` with
their dotted path, instead of hours into a run. The defaults here are the ones the code
uses (a test holds every architecture's and strategy's defaults to them). The checks that
depend on several options at once (``level: image`` needs ``normalise: batch``...) stay
with the code that gives them meaning.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt

from srmeta.schema import Float, Section

# ---------------------------------------------------------------- architectures


class NoOptions(Section):
    pass


class ESPCNOptions(Section):
    features: tuple[StrictInt, ...] = Field(default=(64, 32), min_length=1)
    residual: StrictBool = True


class FSRCNNOptions(Section):
    d: StrictInt = Field(default=56, ge=1)
    s: StrictInt = Field(default=12, ge=1)
    m: StrictInt = Field(default=4, ge=0)


class EDSROptions(Section):
    n_resblocks: StrictInt = Field(default=16, ge=1)
    n_feats: StrictInt = Field(default=64, ge=1)
    res_scale: Float = Field(default=1.0, gt=0)


class RCANOptions(Section):
    n_resgroups: StrictInt = Field(default=10, ge=1)
    n_resblocks: StrictInt = Field(default=20, ge=1)
    n_feats: StrictInt = Field(default=64, ge=1)
    reduction: StrictInt = Field(default=16, ge=1)


class IMDNOptions(Section):
    n_feats: StrictInt = Field(default=64, ge=1)
    n_modules: StrictInt = Field(default=6, ge=1)


Branch = Literal["expand", "conv1x1", "identity", "sobel", "laplacian"]


class RepSROptions(Section):
    features: StrictInt = Field(default=16, ge=1)
    blocks: StrictInt = Field(default=11, ge=1)
    colour: Literal["y", "rgb"] = "y"
    branches: tuple[Branch, ...] = ("expand", "identity")
    expand: StrictInt = Field(default=256, ge=1)
    kernel: StrictInt = Field(default=5, ge=3)
    deploy: StrictBool = False


MODEL_OPTIONS: dict[str, type[Section]] = {
    "bicubic": NoOptions,
    "espcn": ESPCNOptions,
    "fsrcnn": FSRCNNOptions,
    "edsr": EDSROptions,
    "rcan": RCANOptions,
    "imdn": IMDNOptions,
    "repsr": RepSROptions,
}


# ---------------------------------------------------------------- weighting strategies


class LossPowerOptions(Section):
    gamma: Float = 1.0


class GradientWeightedOptions(Section):
    alpha: Float = 4.0


class UDLOptions(Section):
    stage: Literal[1, 2] = 1
    uncertainty_from: str | None = None
    lr: Float = Field(default=1e-4, gt=0)
    in_channels: StrictInt = Field(default=3, ge=1)
    features: StrictInt = Field(default=32, ge=1)
    seed: StrictInt = Field(default=0, ge=0)


class FocalFrequencyOptions(Section):
    weight: Float = Field(default=1.0, ge=0)
    alpha: Float = Field(default=1.0, ge=0)


class MetaOptions(Section):
    """What every meta-weighting shares: how the reward is computed and refreshed."""

    every: StrictInt = Field(default=1, ge=1)
    ema: Float | None = Field(default=None, ge=0, lt=1)
    precondition: Literal["auto", "adam", "identity"] = "auto"
    cosine: StrictBool = False
    meta_loss: Literal["train", "l1", "charbonnier", "l2"] = "l2"
    reward: Literal["jvp", "fd"] = "jvp"


class L2RWOptions(MetaOptions):
    level: Literal["pixel", "image"] = "pixel"
    normalise: Literal["image", "batch"] | None = None


class LearnedOptions(MetaOptions):
    """A weighting network trained on the reward (Meta-Weight-Net, Weight-Net)."""

    lr: Float = Field(default=1e-3, gt=0)
    beta: Float = Field(default=0.2, ge=0)
    image_beta: Float | None = Field(default=None, gt=0)
    center: StrictBool = False


class MWNetOptions(LearnedOptions):
    hidden: StrictInt = Field(default=100, ge=1)
    level: Literal["pixel", "image"] = "pixel"
    normalise: Literal["image", "batch"] | None = None
    input_norm: StrictBool = False


WeightNetInput = Literal["hr", "lr", "lr_up", "error", "sr", "consistency"]


class WeightNetOptions(LearnedOptions):
    normalise: Literal["image", "batch"] = "image"
    inputs: tuple[WeightNetInput, ...] = Field(default=("hr", "lr_up", "error"), min_length=1)
    width: StrictInt = Field(default=32, ge=1)
    depth: StrictInt = Field(default=3, ge=0)
    grid: Literal["lr", "hr"] = "lr"
    image_head: StrictBool = False
    input_norm: StrictBool = False


WEIGHTING_OPTIONS: dict[str, type[Section]] = {
    "uniform": NoOptions,
    "loss_power": LossPowerOptions,
    "gradient_weighted": GradientWeightedOptions,
    "udl": UDLOptions,
    "focal_frequency": FocalFrequencyOptions,
    "l2rw": L2RWOptions,
    "mwnet": MWNetOptions,
    "weightnet": WeightNetOptions,
}
