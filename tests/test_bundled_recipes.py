"""Each shipped model against the recipe the docs give for it, and the bundling script.

A bundled file records the recipe hash of the run that trained it; ``configs/`` must still
hold that recipe (data, seed, steps, every option), so editing a config without retraining
and rebundling its model fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from run_configs import write_run_config
from srmeta.config import load_config
from srmeta.models.bundled import SCALES, shipped_file, shipped_models
from srmeta.models.descriptor import normalize_options
from srmeta.models.files import (
    RECIPE_HASH_KEY,
    read_model_file,
    save_model_file,
    weights_digest,
)
from srmeta.models.loading import load_model
from srmeta.run_hash import recipe_hash
from srmeta.training.loop import train

REPO = Path(__file__).resolve().parents[1]
RECIPES = {
    "srmeta-fast": "configs/fast_x{}.yaml",
    "srmeta": "configs/bundled_x{}.yaml",
    "srmeta-real-fast": "configs/real_fast_x{}.yaml",
    "srmeta-real": "configs/real_x{}.yaml",
}
SHIPPED = shipped_models()


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def test_the_two_clean_families_ship_every_scale():
    assert {(f, s) for f in ("srmeta", "srmeta-fast") for s in SCALES} <= set(SHIPPED)


@pytest.mark.parametrize(("family", "scale"), SHIPPED)
def test_every_bundled_model_was_trained_by_its_config(family, scale):
    shipped = shipped_file(family, scale)
    cfg = load_config(REPO / RECIPES[family].format(scale))
    stored = _metadata(shipped)
    assert stored.get(RECIPE_HASH_KEY) == recipe_hash(cfg), f"{shipped.name} vs its config"
    assert int(stored["srmeta.step"]) == cfg.train.steps
    _, spec = read_model_file(shipped)
    assert spec.arch == cfg.model.arch and spec.scale == cfg.scale == scale
    for key, value in normalize_options(cfg.model.options).items():
        assert spec.options[key] == value, key


def test_recipe_hash_ignores_where_a_run_lives_but_not_what_it_learns(tmp_path):
    base = load_config(REPO / "configs/bundled_x4.yaml")
    moved = load_config(
        REPO / "configs/bundled_x4.yaml",
        ["name=elsewhere", f"output_dir={tmp_path}", f"data_root={tmp_path}"],
    )
    assert recipe_hash(moved) == recipe_hash(base)
    for change in ("seed=1", "train.steps=100", "data.train.datasets=[T91]", "scale=2"):
        changed = load_config(REPO / "configs/bundled_x4.yaml", [change])
        assert recipe_hash(changed) != recipe_hash(base), change


def test_weights_digest_follows_the_network_not_the_notes(tmp_path):
    torch.manual_seed(0)
    model = load_model("srmeta-fast-x2")
    options = read_model_file(shipped_file("srmeta-fast", 2))[1].options
    first = save_model_file(tmp_path / "a.safetensors", model, "repsr", 2, options, {"n": "1"})
    second = save_model_file(tmp_path / "b.safetensors", model, "repsr", 2, options, {"n": "2"})
    assert first.read_bytes() != second.read_bytes()
    assert (
        weights_digest(first)
        == weights_digest(second)
        == weights_digest(shipped_file("srmeta-fast", 2))
    )
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-6
    changed = save_model_file(tmp_path / "c.safetensors", model, "repsr", 2, options)
    assert weights_digest(changed) != weights_digest(first)


def test_bundling_a_run_ships_its_collapsed_weights_and_recipe(tmp_path, data_root):
    config = write_run_config(
        tmp_path,
        data_root,
        "fast",
        model={"arch": "repsr", "options": {"features": 4, "blocks": 2, "expand": 8}},
        train__steps=4,
        train__ema=0.5,
    )
    run = train(load_config(config), progress=False).run_dir
    out = tmp_path / "bundled.safetensors"
    command = [sys.executable, str(REPO / "scripts/bundle_model.py"), str(run), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    stored = _metadata(out)
    assert stored[RECIPE_HASH_KEY] == recipe_hash(load_config(run / "config.yaml"))
    assert stored[RECIPE_HASH_KEY] == _metadata(run / "model_last.safetensors")[RECIPE_HASH_KEY]
    assert json.loads(stored["srmeta.options"])["deploy"] is True
    trained, shipped = load_model(run / "model_last.safetensors"), load_model(out)
    assert not trained.deploy and shipped.deploy
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert (trained(x) - shipped(x)).abs().max() < 1e-5
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert again.returncode != 0 and "exists" in again.stderr  # no silent overwrite
    assert again.stderr.count("\n") == 1
