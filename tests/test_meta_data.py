"""The meta-dataset: choosing its images, drawing its batches, and keeping them out of the pool.

The few-shot set is what the method's reward is measured against, so an image that is both
meta and pool, or a batch that differs between two runs of one seed, would leak or blur the
signal. Uses the real benchmark images under the data root (see conftest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from data_helpers import same_batch, write_png
from srmeta.config import ConfigError, MetaConfig, load_config
from srmeta.data.benchmarks import find_dataset
from srmeta.data.meta import MetaSet, resolve_meta_files
from srmeta.data.training import TrainingPatches
from srmeta.degrade import Degradation
from srmeta.errors import DatasetError
from srmeta.resize import imresize

BICUBIC = Degradation.parse("bicubic")


# ---------------------------------------------------------------- meta-dataset


def test_meta_by_names(data_root) -> None:
    files = resolve_meta_files(MetaConfig(dataset="Set5", names=["woman", "baby"]), data_root)
    assert [f.stem for f in files] == ["baby", "woman"]
    with pytest.raises(DatasetError) as err:
        resolve_meta_files(MetaConfig(dataset="Set5", names=["lena"]), data_root)
    message = str(err.value)
    assert "lena" in message and "available: baby, bird, butterfly, head, woman" in message


def test_meta_by_count_is_seeded_and_sorted(data_root) -> None:
    everything = sorted(find_dataset("Set14", data_root).files)
    for seed in (0, 1, 2):
        cfg = MetaConfig(dataset="Set14", count=4, seed=seed)
        files = resolve_meta_files(cfg, data_root)
        chosen = np.random.default_rng(seed).choice(len(everything), 4, replace=False)
        assert files == [everything[i] for i in sorted(chosen)]
        assert files == sorted(files) and resolve_meta_files(cfg, data_root) == files
    picks = {
        tuple(resolve_meta_files(MetaConfig(dataset="Set14", count=4, seed=s), data_root))
        for s in range(5)
    }
    assert len(picks) > 1
    with pytest.raises(DatasetError, match="exceeds"):
        resolve_meta_files(MetaConfig(dataset="Set5", count=6), data_root)
    assert len(resolve_meta_files(MetaConfig(dataset="Set5"), data_root)) == 5


def test_meta_by_folder_and_by_images(tmp_path, data_root) -> None:
    for name in ("c", "a", "b"):
        write_png(tmp_path / "meta" / f"{name}.png", np.full((8, 8, 3), 9, np.uint8))
    (tmp_path / "meta" / "notes.txt").write_text("not an image")
    files = resolve_meta_files(MetaConfig(folder=str(tmp_path / "meta")), None)
    assert [f.name for f in files] == ["a.png", "b.png", "c.png"]
    with pytest.raises(DatasetError):
        resolve_meta_files(MetaConfig(folder=str(tmp_path / "nothing")), None)
    set5 = find_dataset("Set5", data_root).folder
    chosen = [str(set5 / "woman.png"), str(set5 / "bird.png")]
    files = resolve_meta_files(MetaConfig(images=chosen), None)
    assert [f.stem for f in files] == ["woman", "bird"]  # the given order
    with pytest.raises(DatasetError, match="not found"):
        resolve_meta_files(MetaConfig(images=[str(tmp_path / "gone.png")]), None)


def test_meta_set_batches_are_deterministic(data_root) -> None:
    files = resolve_meta_files(MetaConfig(dataset="Set5", count=3, seed=0), data_root)

    def build(seed: int = 0) -> MetaSet:
        return MetaSet.from_files(
            files, degradation=BICUBIC, scale=4, patch_size=48, batch_size=4, seed=seed
        )

    meta, again = build(), build()
    assert meta.names == [f.stem for f in files] and len(meta) == 3
    batch = meta.batch(3)
    assert batch["lr"].shape == (4, 3, 12, 12) and batch["hr"].shape == (4, 3, 48, 48)
    assert batch["lr"].dtype == batch["hr"].dtype == torch.float32
    assert same_batch(batch, again.batch(3))
    assert same_batch(meta.batch(3, rank=1), again.batch(3, rank=1))
    assert not torch.equal(batch["hr"], meta.batch(4)["hr"])
    assert not torch.equal(batch["hr"], meta.batch(3, rank=1)["hr"])
    assert not torch.equal(batch["hr"], build(seed=1).batch(3)["hr"])
    # Each LR crop is the aligned crop of the whole image's LR: the pair stays consistent.
    lr8 = (batch["lr"] * 255).round().to(torch.uint8)
    hr8 = (batch["hr"] * 255).round().to(torch.uint8)
    assert (lr8.float() - imresize(hr8, 1 / 4).float()).abs().mean() < 3
    with pytest.raises(DatasetError, match="smaller"):
        MetaSet.from_files(
            files, degradation=BICUBIC, scale=4, patch_size=1024, batch_size=1, seed=0
        )


def test_meta_set_from_config(tmp_path, data_root) -> None:
    config = {
        "name": "t",
        "scale": 2,
        "data_root": str(data_root),
        "model": {"arch": "espcn"},
        "data": {"meta": {"dataset": "Set5", "names": ["bird"], "batch_size": 2}},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    meta = MetaSet.from_config(load_config(path, ["data.meta.patch_size=32"]))
    assert meta is not None and meta.names == ["bird"]
    assert meta.batch(0)["hr"].shape == (2, 3, 32, 32)
    assert meta.batch(0)["lr"].shape == (2, 3, 16, 16)


# ---------------------------------------------------------------- meta images held out


def _meta_config(
    tmp_path: Path, data_root: Path, meta: dict, train: dict | None = None
) -> TrainingPatches:
    config = {
        "name": "t",
        "scale": 4,
        "data_root": str(data_root),
        "model": {"arch": "espcn"},
        "data": {"train": {"patch_size": 48, "batch_size": 4, **(train or {})}, "meta": meta},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return TrainingPatches.from_config(load_config(path))


def test_meta_images_in_the_pool_are_held_out(tmp_path, data_root) -> None:
    data = _meta_config(tmp_path, data_root, {"dataset": "T91", "names": ["t1", "tt9"]})
    assert len(data.files) == len(data.images) == 89
    assert [p.stem for p in data.held_out] == ["t1", "tt9"]
    assert not {"t1", "tt9"} & {p.stem for p in data.files}
    assert data.corruption_record()["held_out"] == ["T91/t1", "T91/tt9"]
    # Compared as resolved paths: a roundabout spelling of the same file is still held out.
    folder = find_dataset("T91", data_root).folder
    roundabout = str(folder / ".." / folder.name / "t2.png")
    data = _meta_config(tmp_path, data_root, {"images": [roundabout]})
    assert len(data.files) == 90 and [p.stem for p in data.held_out] == ["t2"]
    # A meta set from another dataset leaves the pool whole.
    data = _meta_config(tmp_path, data_root, {"dataset": "Set5", "names": ["bird"]})
    assert len(data.files) == 91 and data.held_out == []


def test_train_exclude_holds_more_images_out_and_names_a_stem_the_pool_lacks(
    tmp_path, data_root
) -> None:
    def pool(train: dict) -> TrainingPatches:
        return _meta_config(tmp_path, data_root, {"dataset": "T91", "names": ["t1"]}, train)

    data = pool({"exclude": ["tt9", "t2"]})
    assert len(data.files) == 88
    assert sorted(p.stem for p in data.held_out) == ["t1", "t2", "tt9"]
    # Images hidden from every compared run leave the same pool: equal exclusions, equal pool.
    same = pool({"exclude": ["t2", "tt9"]})
    assert same.files == data.files
    with pytest.raises(DatasetError, match="not an image of the pool: t999"):
        pool({"exclude": ["t2", "t999"]})
    with pytest.raises(ConfigError, match="exclude lists an image twice"):
        pool({"exclude": ["t2", "t2"]})
