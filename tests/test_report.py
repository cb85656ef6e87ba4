"""Reports: weight maps of a tiny Weight-Net run, frequency bands, and `srmeta weights`."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from PIL import Image

from run_configs import write_run_config
from srmeta.cli import main
from srmeta.config import load_config
from srmeta.errors import SrmetaError
from srmeta.report import (
    band_counts,
    band_errors,
    band_table,
    save_weight_figure,
    spearman,
    weight_maps,
    weight_share_on_structure,
    weight_statistics,
)
from srmeta.training.loop import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_root):
    """A 6-step ESPCN run weighted by Weight-Net, checkpointed at steps 3 and 6."""
    tmp = tmp_path_factory.mktemp("report-run")
    path = write_run_config(
        tmp,
        data_root,
        "wn",
        seed=1,
        model__options={"features": [8, 4]},
        data__meta={"dataset": "Set5", "names": ["bird"], "batch_size": 1},
        train__steps=6,
        train__checkpoint_every=3,
        train__log_every=3,
        train__weighting={"name": "weightnet", "options": {"lr": 1e-2}},
    )
    return train(load_config(path), progress=False).run_dir


@pytest.fixture(scope="module")
def maps(run_dir, data_root):
    image = data_root / "Set5" / "HR" / "butterfly.png"
    return weight_maps(run_dir, [image, "Set5:baby"], data_root=data_root, crop=48)


def test_weight_maps_match_the_image_and_are_normalised(maps):
    assert [m.name for m in maps] == ["butterfly", "baby"]
    for m in maps:
        assert m.hr.shape == (3, 48, 48) and 0 <= float(m.hr.min()) <= float(m.hr.max()) <= 1
        for field in (m.weights, m.reward, m.error):
            assert field is not None and field.shape == (48, 48)
            assert torch.isfinite(field).all()
        assert float(m.weights.mean()) == pytest.approx(1.0, abs=1e-5)
        assert float(m.weights.min()) > 0 and float(m.error.min()) >= 0
        assert float(m.reward.abs().max()) > 0  # a real jvp, not a placeholder
    stats = weight_statistics(maps)
    assert [s["image"] for s in stats] == ["butterfly", "baby"]
    for s in stats:
        assert s["weight_mean"] == pytest.approx(1.0, abs=1e-5)
        assert s["weight_min"] <= s["weight_mean"] <= s["weight_max"]
        for key in ("error", "structure", "reward"):
            assert -1 <= s[f"spearman_weight_{key}"] <= 1
        assert 0 < s["weight_share_top20_structure"] < 1


def test_weight_share_on_structure_by_hand():
    structure = torch.tensor([[0.0, 5.0], [1.0, 3.0], [2.0, 4.0]])  # top 2 of 6: 5 and 4
    weights = torch.tensor([[1.0, 2.0], [1.0, 1.0], [1.0, 4.0]])
    assert weight_share_on_structure(weights, structure, fraction=1 / 3) == 6.0 / 10.0
    assert weight_share_on_structure(torch.ones(3, 2), structure, fraction=0.5) == 0.5


def test_weight_figure_is_a_png_and_is_not_overwritten(maps, tmp_path):
    path = tmp_path / "maps.png"
    save_weight_figure(maps, path, title="wn")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 400
        image.verify()
    before = path.read_bytes()
    with pytest.raises(SrmetaError, match="--force"):
        save_weight_figure(maps[:1], path)
    assert path.read_bytes() == before
    save_weight_figure(maps[:1], path, force=True)
    assert path.read_bytes() != before


def test_a_rule_based_weighting_needs_no_checkpoint(run_dir, data_root, tmp_path):
    """Without checkpoints the shipped weights serve; a non-meta strategy has no reward."""
    plain = tmp_path / "gw"
    plain.mkdir()
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["train"]["weighting"] = {"name": "gradient_weighted", "options": {}}
    (plain / "config.yaml").write_text(yaml.safe_dump(cfg))
    (plain / "model_last.safetensors").write_bytes(
        (run_dir / "model_last.safetensors").read_bytes()
    )
    maps = weight_maps(plain, ["Set5:bird"], data_root=data_root, crop=32)
    assert maps[0].reward is None and maps[0].weights.shape == (32, 32)
    assert float(maps[0].weights.mean()) == pytest.approx(1.0, abs=1e-5)
    assert weight_statistics(maps)[0]["spearman_weight_reward"] is None
    save_weight_figure(maps, tmp_path / "gw.png")
    with Image.open(tmp_path / "gw.png") as image:
        image.verify()


def test_run_errors_are_one_line(run_dir, tmp_path, data_root):
    with pytest.raises(SrmetaError, match="not a training run"):
        weight_maps(tmp_path / "nope", ["Set5:bird"], data_root=data_root)
    with pytest.raises(SrmetaError, match="no such image"):
        weight_maps(run_dir, [tmp_path / "missing.png"], data_root=data_root)
    with pytest.raises(SrmetaError, match="no image 'nope'"):
        weight_maps(run_dir, ["Set5:nope"], data_root=data_root)
    bare = tmp_path / "bare"  # a run whose checkpoints are gone
    bare.mkdir()
    (bare / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    (bare / "model_last.safetensors").write_bytes((run_dir / "model_last.safetensors").read_bytes())
    with pytest.raises(SrmetaError, match="no checkpoint"):
        weight_maps(bare, ["Set5:bird"], data_root=data_root, crop=32)


def test_spearman_matches_a_hand_computed_case():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    y = torch.tensor([5.0, 6.0, 7.0, 8.0, 7.0])  # ranks 1, 2, 3.5, 5, 3.5
    # centred ranks (-2, -1, 0, 1, 2) and (-2, -1, 0.5, 2, 0.5): 8 / sqrt(10 * 9.5)
    assert spearman(x, y) == pytest.approx(8 / math.sqrt(95), abs=1e-12)
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, torch.ones(5)))


def test_a_sinusoidal_error_lands_in_its_band():
    h, w, bands = 48, 64, 8
    cols = torch.arange(w, dtype=torch.float64)
    for k in (3, 10, 20, 31):  # radius 2k/w: bands 0, 2, 5, 7
        error = torch.sin(2 * math.pi * k * cols / w).expand(3, h, w)
        values = band_errors(error, torch.zeros_like(error), bands)
        energy = [v * n for v, n in zip(values, band_counts(h, w, bands), strict=True)]
        expected = min(int(2 * k / w * bands), bands - 1)
        assert energy[expected] / sum(energy) > 1 - 1e-9
    zero = torch.rand(3, h, w)
    assert band_errors(zero, zero.clone(), bands) == [0.0] * bands


@pytest.mark.parametrize("shape", [(3, 37, 50), (1, 64, 64), (17, 9)])
def test_band_energies_add_up_to_the_error_energy(shape):
    gen = torch.Generator().manual_seed(0)
    sr, hr = torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)
    values = band_errors(sr, hr, bands=6)
    h, w = shape[-2:]
    total = sum(v * n for v, n in zip(values, band_counts(h, w, 6), strict=True))
    error = (sr.double() - hr.double()).reshape(-1, h, w)
    assert total == pytest.approx(float((error**2).sum(dim=(-2, -1)).mean()), rel=1e-6)


def test_band_table_is_markdown():
    table = band_table({"a": [1.0, 2.5e-4], "bicubic": [3.0, float("nan")]})
    lines = table.splitlines()
    assert lines[0] == "| model | |f| 0.00-0.50 | |f| 0.50-1.00+ |"
    assert lines[2] == "| a | 1.000e+00 | 2.500e-04 |" and lines[3].endswith("| n/a |")


def test_weights_command_writes_its_files(run_dir, data_root, tmp_path, capsys):
    out = tmp_path / "report"
    argv = [
        "weights",
        "--run",
        str(run_dir),
        "--images",
        "Set5:head",
        "--out",
        str(out),
        "--crop",
        "64",
        "--data-root",
        str(data_root),
    ]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "wn head: weight std" in stdout and "| bicubic |" in stdout
    with Image.open(out / "weight_maps_wn.png") as image:
        image.verify()
    with Image.open(out / "frequency_bands.png") as image:
        image.verify()
    assert (out / "frequency_bands.md").read_text().count("\n") == 4  # header, rule, 2 rows
    stats = json.loads((out / "weight_stats.json").read_text())
    assert stats["wn"][0]["image"] == "head"
    assert main(argv) == 2  # existing outputs are refused before any work
    assert "--force" in capsys.readouterr().err
