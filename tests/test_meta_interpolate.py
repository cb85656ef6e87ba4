"""The weight interpolation of two finished grid arms (benchmarks/meta_interpolate.py),
checked against torch.lerp, with the base model's descriptor kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

from meta_interpolate import interpolate  # noqa: E402


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    gen = torch.Generator().manual_seed(0)
    shapes = {"head.weight": (4, 3, 3, 3), "head.bias": (4,)}
    a = {k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    b = {k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    save_file(a, str(tmp_path / "a.safetensors"), metadata={"srmeta.arch": "edsr"})
    save_file(b, str(tmp_path / "b.safetensors"), metadata={"srmeta.arch": "other"})
    return tmp_path / "a.safetensors", tmp_path / "b.safetensors"


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_interpolated_weights_are_lerp_and_keep_the_base_descriptor(tmp_path, alpha):
    a, b = _pair(tmp_path)
    target = tmp_path / "out" / "mix.safetensors"
    interpolate(a, b, alpha, target)
    got, wa, wb = load_file(str(target)), load_file(str(a)), load_file(str(b))
    for key in wa:
        torch.testing.assert_close(got[key], torch.lerp(wa[key], wb[key], alpha))
    with safe_open(str(target), "pt") as f:
        assert f.metadata() == {"srmeta.arch": "edsr"}


def test_models_with_different_tensors_are_refused(tmp_path):
    a, _ = _pair(tmp_path)
    save_file({"x": torch.zeros(1)}, str(tmp_path / "c.safetensors"))
    with pytest.raises(SystemExit, match="different tensors"):
        interpolate(a, tmp_path / "c.safetensors", 0.5, tmp_path / "mix.safetensors")
    assert not (tmp_path / "mix.safetensors").exists()
