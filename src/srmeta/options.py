"""Typed options of every architecture and weighting strategy, selected by name.

One option model per architecture (``model.options``) and per strategy
(``train.weighting.options``): unknown keys and wrong types fail at ``load_config`` with
their dotted path, instead of hours into a run. The defaults here are the ones the code
uses (a test holds every architecture's and strategy's defaults to them). The checks that
depend on several options at once (``level: image`` needs ``normalise: batch``...) stay
with the code that gives them meaning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator

from srmeta.schema import Float, Section

Count = Annotated[StrictInt, Field(ge=1)]  # a number of layers, features, steps...

# ---------------------------------------------------------------- architectures


MODEL_OPTIONS: dict[str, type[Section]] = {}  # architecture name -> its option model
WEIGHTING_OPTIONS: dict[str, type[Section]] = {}  # strategy name -> its option model


class NoOptions(Section):
    pass


class ModelOptions(Section):
    """An architecture's options. ``class X(ModelOptions, name="edsr")`` registers X in
    :data:`MODEL_OPTIONS`, so the name stands beside the declaration."""

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            MODEL_OPTIONS[name] = cls


class WeightingOptions(Section):
    """A weighting strategy's options; ``name=`` registers in :data:`WEIGHTING_OPTIONS`."""

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            WEIGHTING_OPTIONS[name] = cls


class BicubicOptions(ModelOptions, name="bicubic"):
    pass


class ESPCNOptions(ModelOptions, name="espcn"):
    features: tuple[Count, ...] = Field(default=(64, 32), min_length=1)
    residual: StrictBool = True


class FSRCNNOptions(ModelOptions, name="fsrcnn"):
    d: Count = 56
    s: Count = 12
    m: StrictInt = Field(default=4, ge=0)


class EDSROptions(ModelOptions, name="edsr"):
    n_resblocks: Count = 16
    n_feats: Count = 64
    res_scale: Float = Field(default=1.0, gt=0)


class RCANOptions(ModelOptions, name="rcan"):
    n_resgroups: Count = 10
    n_resblocks: Count = 20
    n_feats: Count = 64
    reduction: Count = 16


class IMDNOptions(ModelOptions, name="imdn"):
    n_feats: StrictInt = Field(default=64, ge=4)  # a quarter of the features is distilled
    n_modules: Count = 6


class RFDNOptions(ModelOptions, name="rfdn"):
    n_feats: StrictInt = Field(default=50, ge=4)  # ESA works on a quarter
    n_modules: Count = 4
    rgb_range: Float = Field(default=255.0, gt=0)  # the pixel range the weights work in


class RLFNOptions(ModelOptions, name="rlfn"):
    n_feats: Count = 46
    mid_feats: Count = 48
    n_blocks: Count = 4
    esa_feats: Count = 16
    rgb_range: Float = Field(default=255.0, gt=0)


class PANOptions(ModelOptions, name="pan"):
    nf: StrictInt = Field(default=40, ge=2)  # each of the two branches gets half
    unf: Count = 24
    nb: Count = 16


class CARNMOptions(ModelOptions, name="carn_m"):
    n_feats: Count = 64
    group: Count = 4
    multi_scale: StrictBool = True


Branch = Literal["expand", "conv1x1", "identity", "sobel", "laplacian"]


class RepSROptions(ModelOptions, name="repsr"):
    features: Count = 16
    blocks: Count = 11
    colour: Literal["y", "rgb"] = "y"
    branches: tuple[Branch, ...] = ("expand", "identity")
    expand: Count = 256
    kernel: StrictInt = Field(default=5, ge=3)

    @field_validator("kernel")
    @classmethod
    def _odd(cls, kernel: int) -> int:
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, not {kernel}")
        return kernel

    deploy: StrictBool = False


# ---------------------------------------------------------------- weighting strategies


class UniformOptions(WeightingOptions, name="uniform"):
    pass


class LossPowerOptions(WeightingOptions, name="loss_power"):
    gamma: Float = Field(default=1.0, ge=0)


class GradientWeightedOptions(WeightingOptions, name="gradient_weighted"):
    alpha: Float = Field(default=4.0, ge=0)


class UDLOptions(WeightingOptions, name="udl"):
    stage: Literal[1, 2] = 1
    uncertainty_from: str | None = None
    lr: Float = Field(default=1e-4, gt=0)
    in_channels: Count = 3
    features: Count = 32
    seed: StrictInt = Field(default=0, ge=0)


class FocalFrequencyOptions(WeightingOptions, name="focal_frequency"):
    weight: Float = Field(default=1.0, ge=0)
    alpha: Float = Field(default=1.0, ge=0)


class MetaOptions(WeightingOptions):
    """What every meta-weighting shares: how the reward is computed and refreshed."""

    every: Count = 1
    ema: Float | None = Field(default=None, ge=0, lt=1)
    precondition: Literal["auto", "adam", "identity"] = "auto"
    cosine: StrictBool = False
    meta_loss: Literal["train", "l1", "charbonnier", "l2"] = "l2"
    reward: Literal["jvp", "fd"] = "jvp"


class L2RWOptions(MetaOptions, name="l2rw"):
    level: Literal["pixel", "image"] = "pixel"
    normalise: Literal["image", "batch"] | None = None


class LearnedOptions(MetaOptions):
    """A weighting network trained on the reward (Meta-Weight-Net, Weight-Net)."""

    lr: Float = Field(default=1e-3, gt=0)
    beta: Float = Field(default=0.2, ge=0)
    image_beta: Float | None = Field(default=None, gt=0)
    center: StrictBool = False


class MWNetOptions(LearnedOptions, name="mwnet"):
    hidden: Count = 100
    level: Literal["pixel", "image"] = "pixel"
    normalise: Literal["image", "batch"] | None = None
    input_norm: StrictBool = False


WeightNetInput = Literal["hr", "lr", "lr_up", "error", "sr", "consistency"]


class WeightNetOptions(LearnedOptions, name="weightnet"):
    normalise: Literal["image", "batch"] = "image"
    inputs: tuple[WeightNetInput, ...] = Field(default=("hr", "lr_up", "error"), min_length=1)
    width: Count = 32
    depth: StrictInt = Field(default=3, ge=0)
    grid: Literal["lr", "hr"] = "lr"
    image_head: StrictBool = False
    input_norm: StrictBool = False
