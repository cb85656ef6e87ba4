"""docs/contributing.md stays true: the files it names exist, and every architecture,
weighting strategy and command module is registered where it says."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import srmeta
import srmeta.cli
import srmeta.models
import srmeta.weighting
from srmeta.cli import COMMANDS
from srmeta.models.registry import registered_names
from srmeta.weighting import _STRATEGIES, WeightingStrategy

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
NOT_ARCHITECTURES = {
    "bundled",
    "catalog",
    "descriptor",
    "detection",
    "files",
    "imagewide",
    "layers",
    "loading",
    "polyphase",
    "registry",
}


def test_every_path_the_guide_names_exists():
    named = set(re.findall(r"`((?:src|tests|docs|configs)/[\w/.]+)`", GUIDE))
    assert len(named) >= 15
    assert not [p for p in named if "<" not in p and not (ROOT / p).exists()]


def test_every_layer_module_the_guide_lists_is_a_package_member():
    table = GUIDE.split("## Layers", 1)[1].split("## ", 1)[0]
    listed = {m.strip("/") for m in re.findall(r"`([\w/]+)`", table) if "." not in m}
    members = {m.name for m in pkgutil.iter_modules(srmeta.__path__)} - {"__main__"}
    assert members <= listed | {"cli"}, sorted(members - listed)


def test_every_architecture_module_is_registered():
    modules = {m.name for m in pkgutil.iter_modules(srmeta.models.__path__)}
    assert modules - NOT_ARCHITECTURES == set(registered_names())


def test_every_strategy_class_is_registered():
    found = set()
    for info in pkgutil.iter_modules(srmeta.weighting.__path__):
        module = importlib.import_module(f"srmeta.weighting.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            named = cls.__dict__.get("name")
            if issubclass(cls, WeightingStrategy) and isinstance(named, str) and named != "base":
                found.add(cls)
    found.add(srmeta.weighting.Uniform)
    assert found == set(_STRATEGIES.values())


def test_every_command_module_is_a_command():
    modules = {m.name for m in pkgutil.iter_modules(srmeta.cli.__path__)}
    assert modules == set(COMMANDS)
    for name in COMMANDS:
        module = importlib.import_module(f"srmeta.cli.{name}")
        assert callable(module.add_arguments) and callable(module.run)
