"""Step-indexed training patches, the step loader, meta-dataset selection and meta batches.

Uses the real T91 under the data root (see conftest), so decoding and sizes are those a run
sees; tiny synthetic images in ``tmp_path`` cover augmentation and edge cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from srmeta.config import ConfigError, MetaConfig, load_config
from srmeta.data.benchmarks import find_dataset
from srmeta.data.meta import MetaSet, resolve_meta_files
from srmeta.data.training import TrainingPatches, make_loader
from srmeta.degrade import Degradation
from srmeta.errors import DatasetError
from srmeta.resize import imresize

BICUBIC = Degradation.parse("bicubic")
SCALE, PATCH, BATCH = 4, 48, 8


@pytest.fixture(scope="module")
def t91(data_root: Path) -> list[Path]:
    folder = data_root / "T91"
    if not folder.is_dir():
        pytest.fail(f"T91 not found under {data_root}; set SRMETA_DATA to the benchmark data")
    files = list(find_dataset("T91", data_root).files)
    assert len(files) == 91
    return files


def _patches(files, **kw) -> TrainingPatches:
    args = {
        "scale": SCALE,
        "patch_size": PATCH,
        "batch_size": BATCH,
        "degradation": BICUBIC,
        "augment": True,
        "seed": 0,
    }
    args.update(kw)
    return TrainingPatches(files, **args)


@pytest.fixture(scope="module")
def patches(t91) -> TrainingPatches:
    return _patches(t91)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


# ---------------------------------------------------------------- training patches


def test_batch_shapes_dtypes_and_ranges(patches) -> None:
    assert len(patches.images) == 91 and not patches.skipped  # all of T91 is >= 48 px
    batch = patches[0]
    assert set(batch) == {"lr", "hr", "index"}
    lr, hr, index = batch["lr"], batch["hr"], batch["index"]
    p = PATCH // SCALE
    assert lr.shape == (BATCH, 3, p, p) and lr.dtype == torch.float32
    assert hr.shape == (BATCH, 3, PATCH, PATCH) and hr.dtype == torch.float32
    assert index.shape == (BATCH,) and index.dtype == torch.int64
    for x in (lr, hr):
        assert x.min() >= 0 and x.max() <= 1
        assert torch.allclose(x * 255, (x * 255).round(), atol=1e-4)  # 8-bit levels
    assert index.tolist() == list(range(BATCH))
    assert patches[3]["index"].tolist() == list(range(3 * BATCH, 4 * BATCH))
    assert len(patches) == 2**31 - 1
    with pytest.raises(IndexError):
        patches[-1]


def test_same_step_same_batch_across_instances(t91, patches) -> None:
    other = _patches(t91)
    for step in (0, 7, 123456):
        assert _same(patches[step], other[step])
    assert not torch.equal(patches[0]["hr"], patches[1]["hr"])
    assert not torch.equal(patches[0]["lr"], patches[1]["lr"])
    assert not torch.equal(patches[5]["hr"], _patches(t91, seed=1)[5]["hr"])


def test_loader_order_is_independent_of_workers_and_resumes_exactly(patches) -> None:
    expected = [patches[s] for s in range(2, 6)]
    for workers in (0, 2):
        got = list(make_loader(patches, 2, 6, workers))
        assert len(got) == 4
        assert all(_same(a, b) for a, b in zip(got, expected, strict=True))
    # An uninterrupted run over 0..5 sees, from step 2 on, what a run resumed at 2 sees.
    full = list(make_loader(patches, 0, 6, 0))
    assert all(_same(a, b) for a, b in zip(full[2:], expected, strict=True))
    assert list(make_loader(patches, 6, 6, 0)) == []
    with pytest.raises(ValueError):
        make_loader(patches, 7, 6, 0)


def test_ranks_get_different_shards_of_each_step(t91) -> None:
    ranks = [_patches(t91, rank=r, world_size=2) for r in (0, 1)]
    b0, b1 = ranks[0][5], ranks[1][5]
    for b in (b0, b1):
        assert b["hr"].shape[0] == b["lr"].shape[0] == b["index"].shape[0] == BATCH // 2
    assert not torch.equal(b0["hr"], b1["hr"])
    assert b0["index"].tolist() == list(range(5 * BATCH, 5 * BATCH + 4))
    assert b1["index"].tolist() == list(range(5 * BATCH + 4, 6 * BATCH))
    # The shards are slices of the global batch: two ranks together see what one process sees,
    # so a DDP run matches a single-process run with the same global batch.
    single = _patches(t91)[5]
    for key in ("lr", "hr", "index"):
        assert torch.equal(torch.cat([b0[key], b1[key]]), single[key])
    with pytest.raises(ConfigError):
        _patches(t91[:3], batch_size=5, world_size=2)
    with pytest.raises(ConfigError):
        _patches(t91[:3], rank=2, world_size=2)
    with pytest.raises(ConfigError):
        _patches(t91[:3], patch_size=50)


def test_lr_is_matlab_bicubic_of_the_returned_hr(patches) -> None:
    for step in (0, 9):
        batch = patches[step]
        hr8 = (batch["hr"] * 255).round().to(torch.uint8)
        lr8 = (batch["lr"] * 255).round().to(torch.uint8)
        assert torch.equal(lr8, imresize(hr8, 1 / SCALE))
        assert torch.equal(lr8, BICUBIC.apply(hr8, SCALE, index=int(batch["index"][0])))


def test_random_degradation_uses_the_returned_index(t91) -> None:
    degradation = Degradation.parse("blur:iso:0.5-2 noise:0-10 seed:3")
    data = _patches(t91[:10], degradation=degradation, batch_size=4)
    batch = data[2]
    hr8 = (batch["hr"] * 255).round().to(torch.uint8)
    lr8 = (batch["lr"] * 255).round().to(torch.uint8)
    for b in range(4):
        index = int(batch["index"][b])
        assert torch.equal(lr8[b], degradation.apply(hr8[b], SCALE, index=index))
    assert _same(batch, _patches(t91[:10], degradation=degradation, batch_size=4)[2])


def test_augmentation_yields_all_eight_dihedral_variants(tmp_path) -> None:
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3) * 5  # no symmetry at all
    path = _png(tmp_path / "tiny.png", image)
    chw = image.transpose(2, 0, 1)
    variants = set()
    for k in range(4):
        for flip in (False, True):
            v = np.rot90(chw, k, axes=(1, 2))
            variants.add(np.ascontiguousarray(v[:, :, ::-1] if flip else v).tobytes())
    assert len(variants) == 8
    kw = {"scale": 2, "patch_size": 4, "batch_size": 8, "seed": 0}
    seen = set()
    data = _patches([path], **kw)
    for step in range(16):
        for hr in (data[step]["hr"] * 255).round().to(torch.uint8):
            seen.add(hr.numpy().tobytes())
    assert seen == variants
    plain = _patches([path], augment=False, **kw)
    assert {hr.numpy().tobytes() for hr in (plain[0]["hr"] * 255).round().to(torch.uint8)} == {
        chw.tobytes()
    }


def test_gray_images_are_replicated_and_small_ones_skipped(tmp_path) -> None:
    gray = _png(tmp_path / "gray.png", (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64))
    small = _png(tmp_path / "small.png", np.zeros((64, 40, 3), np.uint8))
    data = _patches([gray, small], patch_size=48, batch_size=2)
    assert data.files == [gray] and data.skipped == [small]
    hr = data[0]["hr"]
    assert hr.shape[1] == 3 and torch.equal(hr[:, 0], hr[:, 1]) and torch.equal(hr[:, 0], hr[:, 2])
    with pytest.raises(DatasetError, match="no training image"):
        _patches([small], patch_size=48)


def test_from_config_builds_the_configured_pipeline(tmp_path, data_root) -> None:
    config = {
        "name": "t",
        "scale": 4,
        "data_root": str(data_root),
        "model": {"arch": "espcn"},
        "data": {"train": {"patch_size": 48, "batch_size": 4}},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    cfg = load_config(path)
    data = TrainingPatches.from_config(cfg)
    assert len(data.files) == 91 and data.per_rank == 4
    assert MetaSet.from_config(cfg) is None


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
        _png(tmp_path / "meta" / f"{name}.png", np.full((8, 8, 3), 9, np.uint8))
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
        return MetaSet(files, degradation=BICUBIC, scale=4, patch_size=48, batch_size=4, seed=seed)

    meta, again = build(), build()
    assert meta.names == [f.stem for f in files] and len(meta) == 3
    batch = meta.batch(3)
    assert batch["lr"].shape == (4, 3, 12, 12) and batch["hr"].shape == (4, 3, 48, 48)
    assert batch["lr"].dtype == batch["hr"].dtype == torch.float32
    assert _same(batch, again.batch(3))
    assert _same(meta.batch(3, rank=1), again.batch(3, rank=1))
    assert not torch.equal(batch["hr"], meta.batch(4)["hr"])
    assert not torch.equal(batch["hr"], meta.batch(3, rank=1)["hr"])
    assert not torch.equal(batch["hr"], build(seed=1).batch(3)["hr"])
    # Each LR crop is the aligned crop of the whole image's LR: the pair stays consistent.
    lr8 = (batch["lr"] * 255).round().to(torch.uint8)
    hr8 = (batch["hr"] * 255).round().to(torch.uint8)
    assert (lr8.float() - imresize(hr8, 1 / 4).float()).abs().mean() < 3
    with pytest.raises(DatasetError, match="smaller"):
        MetaSet(files, degradation=BICUBIC, scale=4, patch_size=1024, batch_size=1, seed=0)


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
