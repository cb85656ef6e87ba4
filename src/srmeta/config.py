"""Typed experiment configuration: one YAML file (plus ``--set a.b=c`` overrides) per run.

The schema is strict on purpose: an unknown key, a misspelt option or a value of the wrong
type is an error naming its dotted key path, because a silently ignored ``lrr: 1e-3`` costs a
whole training run. Integers and booleans must be written as such (``steps: ten`` or
``bf16: yes please`` fail); floats also accept YAML's ``1e-3`` (which YAML 1.1 reads as a
string). Every error is one :class:`ConfigError` line, which the CLI prints as it is.

Relative paths (dataset folders, degradation YAML files, ``output_dir``) are taken relative
to the working directory, like any command-line path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from srmeta import yamlio
from srmeta.degradations import AnyDegradation, degradation_from_dict, parse_degradation
from srmeta.devices import torch_device
from srmeta.errors import ConfigError, SrmetaError
from srmeta.options import MODEL_OPTIONS, WEIGHTING_OPTIONS
from srmeta.overrides import apply_override, yaml_problem
from srmeta.schema import Float, NameList, Section, as_list, one_line


def build_degradation(spec: str | dict[str, Any]) -> AnyDegradation:
    """A degradation of either kind (:mod:`srmeta.degradations`) from a spec string
    (``realistic seed:3``), a YAML file path, or a mapping (``{kind: realistic, ...}``)."""
    if isinstance(spec, dict):
        return degradation_from_dict(spec)
    return parse_degradation(spec)


def _check_degradation(value: Any) -> Any:
    # Built once here so that a typo fails at load time, not hours into a run.
    if not isinstance(value, (str, dict)):
        raise ValueError(f"expected a degradation spec string or a mapping, got {value!r}")
    try:
        build_degradation(value)
    except SrmetaError as err:
        raise ValueError(str(err)) from None
    return value


DegradationSpec = Annotated[Any, AfterValidator(_check_degradation)]


def _check_options(where: str, kind: str, name: str, options: dict[str, Any], table: dict) -> None:
    """Validate ``options`` against the option model ``table[name]``; each error names the
    option's dotted path under ``where``. Kept as given, not normalised, so a config's
    hash does not change with the option model's defaults."""
    model = table.get(name.lower())
    if model is None:
        known = ", ".join(sorted(table))
        raise ConfigError(f"config: {where}: unknown {kind} {name!r}; choose one of {known}")
    try:
        model.model_validate(options)
    except ValidationError as err:
        raise ConfigError(one_line(err, "config: ", prefix=f"{where}.options.")) from None


class ModelConfig(Section):
    arch: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


def _int_pair(value: Any) -> Any:
    """``shift: 3`` means ``[3, 3]``: one distance for every corrupted image."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    return value


ShiftRange = Annotated[
    tuple[Annotated[StrictInt, Field(ge=1)], Annotated[StrictInt, Field(ge=1)]],
    BeforeValidator(_int_pair),
]


class CorruptConfig(Section):
    """Deliberately corrupted HR *targets* for a seeded fraction of the training pool.

    Label noise of a known kind and amount is how a weighting strategy is tested: a good one
    should down-weight exactly the corrupted samples, which the batches flag. Kinds apply in
    the order blur, shift, noise, jpeg; see :mod:`srmeta.data.corrupt` for the draws.
    """

    fraction: Float = Field(ge=0, le=1)
    blur: Float | None = Field(default=None, gt=0)  # Gaussian sigma, HR pixels
    shift: ShiftRange | None = None  # distance in HR pixels, drawn per image from [low, high]
    noise: Float | None = Field(default=None, gt=0)  # Gaussian sigma, 8-bit levels
    jpeg: StrictInt | None = Field(default=None, ge=1, le=100)  # quality
    seed: StrictInt = Field(default=0, ge=0)
    # Leave the chosen images out of the pool instead of corrupting them: the same pool's
    # clean part, i.e. the oracle that knows which targets are wrong.
    drop: StrictBool = False

    @model_validator(mode="after")
    def _some_kind(self) -> CorruptConfig:
        if all(getattr(self, k) is None for k in ("blur", "shift", "noise", "jpeg")):
            raise ValueError("give at least one of blur, shift, noise or jpeg")
        if self.shift is not None and self.shift[0] > self.shift[1]:
            raise ValueError(f"shift: range low {self.shift[0]} is above high {self.shift[1]}")
        return self


class PairsConfig(Section):
    """Real LR-HR pairs (:mod:`srmeta.data.pairs`): a ``folder`` of ``NNNL``/``NNNH`` files,
    or ``lr`` and ``hr`` folders matched by file name; ``names`` picks some of them."""

    folder: str | None = None
    lr: str | None = None
    hr: str | None = None
    names: Annotated[list[str], Field(min_length=1)] | None = None
    # Resample an LR found off its HR by more than half an LR pixel onto the HR's grid.
    align: StrictBool = True

    @model_validator(mode="after")
    def _one_layout(self) -> PairsConfig:
        if (self.folder is None) == (self.lr is None and self.hr is None) or (
            (self.lr is None) != (self.hr is None)
        ):
            raise ValueError("give folder, or both lr and hr")
        return self


class TrainDataConfig(Section):
    datasets: NameList = Field(default_factory=lambda: ["T91"])
    patch_size: StrictInt = Field(default=96, ge=1)
    batch_size: StrictInt = Field(default=16, ge=1)
    workers: StrictInt = Field(default=0, ge=0)
    degradation: DegradationSpec = "bicubic"
    augment: StrictBool = True
    corrupt: CorruptConfig | None = None
    # Real pairs joining the pool: their own LR, never the degradation.
    pairs: PairsConfig | None = None
    # Stems of pool images to leave out besides the meta images: a second hold-out (images
    # kept for choosing a strategy must not be trained on by any run that is compared).
    exclude: Annotated[list[str], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _unique_exclude(self) -> TrainDataConfig:
        if self.exclude is not None and len(set(self.exclude)) != len(self.exclude):
            raise ValueError("exclude lists an image twice")
        return self


class MetaConfig(Section):
    """The few-shot meta-dataset: exactly one of ``images``, ``folder``, ``dataset`` (HR
    images, degraded by ``degradation``) or ``pairs`` (real LR-HR pairs, used as they are)."""

    images: Annotated[list[str], Field(min_length=1)] | None = None
    folder: str | None = None
    dataset: str | None = None
    pairs: PairsConfig | None = None
    count: StrictInt | None = Field(default=None, ge=1)
    names: Annotated[list[str], Field(min_length=1)] | None = None
    seed: StrictInt = Field(default=0, ge=0)
    degradation: DegradationSpec = "bicubic"
    batch_size: StrictInt = Field(default=4, ge=1)
    patch_size: StrictInt | None = Field(default=None, ge=1)
    # Baselines that use the meta images as training data instead of as a meta objective:
    # ``add`` appends each step's meta batch to the training batch (the meta images
    # oversampled into the pool), ``only`` trains on the meta batch alone (fine-tuning).
    mix: Literal["none", "add", "only"] = "none"

    @model_validator(mode="after")
    def _one_source(self) -> MetaConfig:
        kinds = ("images", "folder", "dataset", "pairs")
        sources = [k for k in kinds if getattr(self, k) is not None]
        if len(sources) != 1:
            got = ", ".join(sources) if sources else "none"
            raise ValueError(f"give exactly one of images, folder, dataset or pairs (got {got})")
        if self.pairs is not None and "degradation" in self.model_fields_set:
            raise ValueError("pairs bring their own LR; drop degradation")
        if self.dataset is None and (self.names is not None or self.count is not None):
            raise ValueError("names and count select images of a dataset; set dataset")
        if self.names is not None and self.count is not None:
            raise ValueError("give names or count, not both")
        return self


class ValDataConfig(Section):
    datasets: Annotated[list[str], BeforeValidator(as_list)] = Field(
        default_factory=lambda: ["Set5"]
    )
    every: StrictInt = Field(default=1000, ge=0)
    max_images: StrictInt | None = Field(default=None, ge=1)
    crop: StrictInt | None = Field(default=None, ge=1)
    # Held-out real pairs, scored beside the datasets: early stopping on the user's camera.
    pairs: PairsConfig | None = None

    @model_validator(mode="after")
    def _something(self) -> ValDataConfig:
        if not self.datasets and self.pairs is None:
            raise ValueError("datasets: give at least one dataset, or pairs")
        return self


class DataConfig(Section):
    train: TrainDataConfig = Field(default_factory=TrainDataConfig)
    meta: MetaConfig | None = None
    val: ValDataConfig = Field(default_factory=ValDataConfig)


class OptimizerConfig(Section):
    name: Literal["adam", "adamw"] = "adam"
    lr: Float = Field(default=2e-4, gt=0)
    betas: tuple[Annotated[Float, Field(ge=0, lt=1)], Annotated[Float, Field(ge=0, lt=1)]] = (
        0.9,
        0.99,
    )
    weight_decay: Float = Field(default=0.0, ge=0)
    eps: Float = Field(default=1e-8, gt=0)


class SchedulerConfig(Section):
    name: Literal["constant", "cosine", "step"] = "cosine"
    warmup_steps: StrictInt = Field(default=0, ge=0)
    min_lr: Float = Field(default=1e-7, ge=0)
    milestones: list[Annotated[StrictInt, Field(ge=1)]] = Field(default_factory=list)
    gamma: Float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _increasing(self) -> SchedulerConfig:
        if any(a >= b for a, b in zip(self.milestones, self.milestones[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing, got {self.milestones}")
        return self


class LossConfig(Section):
    kind: Literal["l1", "charbonnier", "l2"] = "l1"
    eps: Float = Field(default=1e-3, gt=0)


class WeightingConfig(Section):
    name: str = Field(default="uniform", min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    # Steps before this one train with uniform weights and no strategy work at all: a meta
    # weighting then starts from a network that already reconstructs, not from noise.
    start_step: StrictInt = Field(default=0, ge=0)


class TrainConfig(Section):
    steps: StrictInt = Field(default=1000, ge=1)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    weighting: WeightingConfig = Field(default_factory=WeightingConfig)
    grad_clip: Float | None = Field(default=None, gt=0)
    ema: Float | None = Field(default=None, gt=0, lt=1)
    bf16: StrictBool = False
    deterministic: StrictBool = False
    log_every: StrictInt = Field(default=50, ge=1)
    checkpoint_every: StrictInt = Field(default=500, ge=1)
    keep_checkpoints: StrictInt = Field(default=2, ge=1)
    # Warm start: the weights (only) of an srmeta model file or run folder, BasicSR's
    # ``pretrain_network_g``; optimizer, schedule and EMA start fresh at step 0.
    init_from: str | None = Field(default=None, min_length=1)


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class ExperimentConfig(Section):
    """A whole run; see the module docstring and ``configs/*.yaml`` for examples."""

    name: str
    seed: StrictInt = Field(default=0, ge=0)
    scale: Literal[2, 3, 4]
    output_dir: str | None = None
    data_root: str | None = None
    device: str = "auto"
    model: ModelConfig
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> ExperimentConfig:
        # The run name becomes a folder name, so it must be one path component.
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(
                f"name: {self.name!r} must be letters, digits and . _ + - (a folder name)"
            )
        if not _DEVICE_RE.fullmatch(self.device):
            raise ValueError(
                f"device: expected auto, cpu, cuda, cuda:N or mps, got {self.device!r}"
            )
        s = self.scale
        checks: list[tuple[str, int | None]] = [
            ("data.train.patch_size", self.data.train.patch_size)
        ]
        if self.data.meta is not None:
            checks.append(("data.meta.patch_size", self.data.meta.patch_size))
        checks.append(("data.val.crop", self.data.val.crop))
        for where, size in checks:
            if size is not None and size % s:
                raise ValueError(f"{where}: {size} is not divisible by scale {s}")
        if self.data.meta is not None and self.data.meta.mix == "add":
            meta_p, train_p = self.meta_patch_size(), self.data.train.patch_size
            if meta_p != train_p:  # the two batches are concatenated into one tensor
                raise ValueError(
                    f"data.meta.patch_size: {meta_p} differs from data.train.patch_size"
                    f" {train_p}, which data.meta.mix: add needs equal"
                )
        start, steps = self.train.weighting.start_step, self.train.steps
        if 0 < start >= steps:
            raise ValueError(
                f"train.weighting.start_step: {start} is not below train.steps {steps},"
                " so the weighting would never run"
            )
        return self

    def train_degradation(self) -> AnyDegradation:
        """The degradation that makes training LR patches."""
        return build_degradation(self.data.train.degradation)

    def meta_degradation(self) -> AnyDegradation:
        """The degradation that makes the meta-dataset's LR images (``data.meta`` must be set)."""
        if self.data.meta is None:
            raise ConfigError("config: data.meta: not set, so there is no meta degradation")
        return build_degradation(self.data.meta.degradation)

    def meta_patch_size(self) -> int:
        """``data.meta.patch_size``, defaulting to the training patch size."""
        meta = self.data.meta
        if meta is not None and meta.patch_size is not None:
            return meta.patch_size
        return self.data.train.patch_size


def validate_config(data: Any) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from a plain mapping; errors are one-line ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping of keys, got {type(data).__name__}")
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(one_line(err, "config: ")) from None
    model, weighting = cfg.model, cfg.train.weighting
    _check_options("model", "architecture", model.arch, model.options, MODEL_OPTIONS)
    _check_options(
        "train.weighting", "weighting", weighting.name, weighting.options, WEIGHTING_OPTIONS
    )
    return cfg


# ---------------------------------------------------------------- files


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a YAML config, apply ``--set`` overrides in order, and validate the result."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"config: cannot read {path}: {reason}") from None
    try:
        data = yamlio.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config: {path}: bad YAML: {yaml_problem(err)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path}: expected a mapping of keys, got {type(data).__name__}")
    for item in overrides:
        apply_override(data, item, ExperimentConfig)
    return validate_config(data)


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """JSON/YAML-safe mapping of every field, defaults included."""
    return cfg.model_dump(mode="json")


def config_to_yaml(cfg: ExperimentConfig) -> str:
    """The full config as YAML (defaults included); ``load_config`` reads it back equal."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True)


def resolved_output_dir(cfg: ExperimentConfig) -> Path:
    """``output_dir``, or ``runs/<name>`` when it is not set; refused when it is a file."""
    path = Path(cfg.output_dir).expanduser() if cfg.output_dir else Path("runs") / cfg.name
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output_dir {path} is a file; a run needs a folder")
    return path


def resolved_device(cfg: ExperimentConfig) -> torch.device:
    """``device``, with ``auto`` meaning CUDA when available, else the CPU (checked)."""
    return torch_device(cfg.device)
