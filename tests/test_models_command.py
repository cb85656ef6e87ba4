"""``srmeta models``: the catalogue of what --model accepts, against independent sources
(the models themselves, loaded and counted; the registry; detection of the official files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srmeta.cli import main
from srmeta.models.bundled import shipped_models
from srmeta.models.descriptor import model_info
from srmeta.models.files import read_model_file
from srmeta.models.loading import load_model
from srmeta.models.registry import registered_names

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers" / "torch"
OFFICIAL = {  # file in ../shared/peers/torch -> the architecture it must be detected as
    "IMDN_x4.pth": "imdn",
    "PAN_x2.pth": "pan",
    "CARN-M.pth": "carn_m",
    "RFDN_AIM_x4.pth": "rfdn",
    "RLFN_NTIRE2022_x4.pth": "rlfn",
}


def _catalogue(capsys) -> dict:
    assert main(["models", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bundled_entries_are_the_shipped_files_as_they_load(capsys):
    listed = {m["name"]: m for m in _catalogue(capsys)["bundled"]}
    shipped = shipped_models()
    assert sorted(listed) == sorted(f"{f}-x{s}" for f, s in shipped)
    for name, entry in listed.items():
        model = load_model(name)
        info = model_info(model)
        assert info is not None
        assert (entry["arch"], entry["scale"]) == (info.arch, info.scale)
        assert entry["colour_space"] == info.colour_space
        assert entry["parameters"] == sum(p.numel() for p in model.state_dict().values())


def test_every_architecture_is_listed_with_its_checkpoint_families(capsys):
    listed = _catalogue(capsys)["architectures"]
    assert sorted(a["name"] for a in listed) == registered_names()
    families = {a["name"] for a in listed if a["checkpoints"]}
    assert families == set(OFFICIAL.values())


@pytest.mark.parametrize(("file", "arch"), sorted(OFFICIAL.items()))
def test_each_listed_family_is_what_its_official_file_is_detected_as(file, arch):
    path = PEERS / file
    assert path.is_file(), f"{path} not found; set SRMETA_PEERS"
    assert read_model_file(path)[1].arch == arch


def test_the_text_listing_names_every_architecture(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for name in registered_names():
        assert f"\n  {name} " in text
    assert "default:" in text
