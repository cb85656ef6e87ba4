"""Typed options: every architecture's and strategy's options are declared once
(:mod:`srmeta.options`), agree with what the code takes, and a typo fails at load_config."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
import torch

from srmeta.config import ConfigError, load_config, validate_config
from srmeta.errors import ModelError, SrmetaError
from srmeta.models.descriptor import normalize_options
from srmeta.models.loading import load_model
from srmeta.models.registry import descriptors, registered_names
from srmeta.options import MODEL_OPTIONS, WEIGHTING_OPTIONS
from srmeta.weighting import _STRATEGIES, build_strategy, strategy_names

ROOT = Path(__file__).resolve().parents[1]


def test_every_architecture_and_strategy_has_an_option_model():
    assert set(MODEL_OPTIONS) == set(registered_names())
    assert set(WEIGHTING_OPTIONS) == set(strategy_names())


@pytest.mark.parametrize("descriptor", descriptors(), ids=lambda d: d.name)
def test_architecture_defaults_are_the_option_models(descriptor):
    """The descriptor checks options against the config's option model, and a network built
    directly from its class with no options is the one the defaults describe."""
    assert descriptor.options is MODEL_OPTIONS[descriptor.name]
    with torch.device("meta"):
        network = type(descriptor.build(descriptor.scales[0]))
    declared = {
        name: p.default
        for name, p in inspect.signature(network).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert normalize_options(declared) == dict(descriptor.default_options)


@pytest.mark.parametrize(
    ("arch", "options", "message"),
    [
        ("edsr", {"n_feats": 0}, "model 'edsr' option n_feats: Input should be greater than"),
        ("imdn", {"n_feats": 3}, "option n_feats: Input should be greater than or equal to 4"),
        ("pan", {"nf": 1}, "option nf: Input should be greater than or equal to 2"),
        ("repsr", {"kernel": 4}, "option kernel: kernel must be odd, not 4"),
        ("repsr", {"branches": ("expand", "fancy")}, "option branches.1: Input should be"),
        ("espcn", {"features": (8, 0)}, "option features.1: Input should be greater than"),
        ("fsrcnn", {"m": True}, "option m: Input should be a valid integer"),
    ],
)
def test_the_descriptor_checks_options_against_the_option_model(arch, options, message):
    with pytest.raises(ModelError, match=message) as exc:
        load_model(arch, 2, **options)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("name", sorted(_STRATEGIES))
def test_each_strategy_reads_its_options_from_the_option_model(name):
    """The class's option model is the config's, and a built strategy's state follows it:
    here, an unknown option is refused by the constructor itself."""
    assert _STRATEGIES[name].Options is WEIGHTING_OPTIONS[name]
    with pytest.raises(SrmetaError, match=f"weighting '{name}': typo: unknown option"):
        build_strategy(name, {"typo": 1}, scale=2)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.options.n_feat=3", "model.options.n_feat: unknown key"),
        ("model.options.n_feats=many", "model.options.n_feats: Input should be a valid integer"),
        ("model.arch=edsrr", "unknown architecture 'edsrr'"),
        ("train.weighting.options.gamma=2", "train.weighting.options.gamma: unknown key"),
        ("train.weighting.name=uniformm", "unknown weighting 'uniformm'"),
    ],
)
def test_a_typo_in_an_option_fails_at_load_config_with_its_path(override, message):
    with pytest.raises(ConfigError, match=r"^config: ") as err:
        load_config(ROOT / "configs" / "edsr_cpu_x4.yaml", [override])
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"betaa": 1}, "train.weighting.options.betaa: unknown key"),
        ({"inputs": ["hr", "lr_upp"]}, "train.weighting.options.inputs.1: Input should be"),
        ({"normalise": "pixel"}, "train.weighting.options.normalise: Input should be"),
        ({"every": 0}, "train.weighting.options.every: Input should be greater than"),
    ],
)
def test_weightnet_option_errors_name_the_option(options, message):
    data = load_config(ROOT / "configs" / "weightnet_urban_x4.yaml").model_dump(mode="json")
    data["train"]["weighting"]["options"] = options
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    assert message in str(err.value)


def test_every_shipped_config_and_experiment_grid_config_is_valid():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        load_config(path)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from meta_grid import ARMS, SETTINGS, Budget, arm_config, warm_config
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for setting in SETTINGS.values():
        validate_config(warm_config(setting, Budget(), 0, "runs/w"))
        for arm in ARMS:
            validate_config(arm_config(setting, arm, Budget(), 0, "runs/a", "runs/w"))
