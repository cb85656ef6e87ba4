"""The public API is the functions, whatever submodules were imported before."""

from __future__ import annotations

import importlib
import inspect

import srmeta.evaluation
import srmeta.training.loop  # noqa: F401


def test_api_names_are_functions_not_submodules():
    srmeta = importlib.import_module("srmeta")
    for name in ("evaluate", "train", "load_model", "load_config"):
        assert inspect.isfunction(getattr(srmeta, name)), name
