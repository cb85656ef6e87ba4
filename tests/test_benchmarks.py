"""Dataset registry, data root resolution, layouts and mod-crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from srmeta.data.benchmarks import find_dataset, load_hr, mod_crop, resolve_data_root
from srmeta.errors import DatasetError


def _png(path, size=(8, 6), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 128).save(path)


def test_registered_sets_are_found_with_their_sizes(data_root):
    sizes = {"Set5": 5, "Set14": 14, "BSD100": 100, "B100": 100, "Urban100": 100, "T91": 91}
    for name, count in sizes.items():
        dataset = find_dataset(name, data_root)
        assert len(dataset) == count
    assert find_dataset("b100", data_root).name == "BSD100"


def test_both_layouts_and_plain_folders(tmp_path):
    _png(tmp_path / "Set5" / "HR" / "a.png")
    _png(tmp_path / "Set14" / "b.png")
    assert find_dataset("Set5", tmp_path).files == (tmp_path / "Set5" / "HR" / "a.png",)
    assert find_dataset("Set14", tmp_path).files == (tmp_path / "Set14" / "b.png",)
    mine = find_dataset(str(tmp_path / "Set14"))
    assert mine.name == "Set14" and len(mine) == 1


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SRMETA_DATA", str(tmp_path))
    assert resolve_data_root() == tmp_path
    assert resolve_data_root(tmp_path / "other") == tmp_path / "other"
    monkeypatch.delenv("SRMETA_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_root() == tmp_path / "cache" / "srmeta" / "data"


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        find_dataset("Urban100", tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "Urban100" / "HR") in message
    assert "SRMETA_DATA" in message and "SelfExSR" in message
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        find_dataset("nope", tmp_path)


def test_mod_crop_cuts_right_and_bottom():
    image = torch.arange(7 * 10).view(1, 7, 10)
    cropped = mod_crop(image, 3)
    assert cropped.shape == (1, 6, 9)
    assert torch.equal(cropped, image[:, :6, :9])


def test_load_hr_keeps_gray_single_channel_and_rounds_16_bit(tmp_path, data_root):
    bridge = load_hr(find_dataset("Set14", data_root).folder / "bridge.png")
    assert bridge.shape[0] == 1 and bridge.dtype == torch.uint8
    values = np.array([[0, 128, 257 * 100 + 128, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert load_hr(tmp_path / "deep.png").flatten().tolist() == [0, 0, 100, 255]
