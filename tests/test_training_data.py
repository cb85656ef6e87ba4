"""Step-indexed training patches, the step loader, the training pool and corrupted targets.

Uses the real T91 under the data root (see conftest), so decoding and sizes are those a run
sees; tiny synthetic images in ``tmp_path`` cover augmentation and edge cases.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from data_helpers import same_batch, write_png
from srmeta.config import ConfigError, CorruptConfig, load_config
from srmeta.data.benchmarks import dataset_info, find_dataset
from srmeta.data.corrupt import CORRUPT_STREAM, DIRECTIONS, shift_image
from srmeta.data.meta import MetaSet
from srmeta.data.training import TrainingPatches, dihedral, make_loader
from srmeta.degrade import Degradation, rng_for
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


# ---------------------------------------------------------------- training patches


def test_batch_shapes_dtypes_and_ranges(patches) -> None:
    assert len(patches.images) == 91 and not patches.skipped  # all of T91 is >= 48 px
    batch = patches[0]
    assert set(batch) == {"lr", "hr", "index", "corrupt"}
    assert batch["corrupt"].dtype == torch.bool and not batch["corrupt"].any()
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
        assert same_batch(patches[step], other[step])
    assert not torch.equal(patches[0]["hr"], patches[1]["hr"])
    assert not torch.equal(patches[0]["lr"], patches[1]["lr"])
    assert not torch.equal(patches[5]["hr"], _patches(t91, seed=1)[5]["hr"])


def test_loader_order_is_independent_of_workers_and_resumes_exactly(patches) -> None:
    expected = [patches[s] for s in range(2, 6)]
    for workers in (0, 2):
        got = list(make_loader(patches, 2, 6, workers))
        assert len(got) == 4
        assert all(same_batch(a, b) for a, b in zip(got, expected, strict=True))
    # An uninterrupted run over 0..5 sees, from step 2 on, what a run resumed at 2 sees.
    full = list(make_loader(patches, 0, 6, 0))
    assert all(same_batch(a, b) for a, b in zip(full[2:], expected, strict=True))
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
    assert same_batch(batch, _patches(t91[:10], degradation=degradation, batch_size=4)[2])


def test_augmentation_yields_all_eight_dihedral_variants(tmp_path) -> None:
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3) * 5  # no symmetry at all
    path = write_png(tmp_path / "tiny.png", image)
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
    ramp = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    gray = write_png(tmp_path / "gray.png", ramp)
    small = write_png(tmp_path / "small.png", np.zeros((64, 40, 3), np.uint8))
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


# ---------------------------------------------------------------- the 590-image training pool


def test_general100_and_bsds400_complete_the_590_image_pool(data_root) -> None:
    general, bsds = find_dataset("General100", data_root), find_dataset("BSDS400", data_root)
    assert len(general) == 100 and {f.suffix for f in general.files} == {".png"}
    assert len(bsds) == 399 and {f.suffix for f in bsds.files} == {".jpg"}
    for name, count in (("T91", 91), ("General100", 100), ("BSDS400", 399)):
        info = dataset_info(name)
        assert info is not None and info.images == count and info.role == "train"
    assert 91 + len(general) + len(bsds) == 590
    # BSDS400 is BSDS500 train + test, never val (= BSD100), and lacks Set5 woman's source.
    stems = {f.stem for f in bsds.files}
    assert not stems & {f.stem for f in find_dataset("BSD100", data_root).files}
    assert "302003" not in stems
    assert TrainingPatches(bsds.files[:2], 4, 48, 2, BICUBIC, True, seed=0).images[0].shape[0] == 3


# ---------------------------------------------------------------- corrupted targets

NOISY_SHIFT = CorruptConfig(fraction=0.5, shift=(2, 4), noise=15, seed=0)


@pytest.fixture(scope="module")
def corrupted(t91) -> TrainingPatches:
    return _patches(t91, corrupt=NOISY_SHIFT)


def _u8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.uint8)


def test_corruption_count_and_choice_follow_the_seed(t91, corrupted) -> None:
    # round(0.5 * 91) = round(45.5) = 46 and round(0.5 * 5) = 2 (halves to even);
    # round(0.34 * 10) = 3.
    assert sum(corrupted.corrupted) == 46 and len(corrupted.corrupted) == 91
    assert sum(_patches(t91[:10], corrupt=CorruptConfig(fraction=0.34, jpeg=50)).corrupted) == 3
    assert sum(_patches(t91[:5], corrupt=CorruptConfig(fraction=0.5, jpeg=50)).corrupted) == 2
    # The documented draw: 46 of 91 without replacement from SeedSequence([seed, STREAM]).
    rng = np.random.default_rng(np.random.SeedSequence([0, CORRUPT_STREAM]))
    chosen = set(rng.choice(91, 46, replace=False).tolist())
    assert [i for i, flag in enumerate(corrupted.corrupted) if flag] == sorted(chosen)
    again = _patches(t91, corrupt=NOISY_SHIFT)
    assert again.corrupted == corrupted.corrupted
    assert again.corruption_params == corrupted.corruption_params
    for step in (0, 5, 999):
        assert same_batch(again[step], corrupted[step])
    small = [
        _patches(t91[:20], corrupt=CorruptConfig(fraction=0.5, jpeg=50, seed=s)) for s in (0, 1)
    ]
    assert small[0].corrupted != small[1].corrupted
    assert sum(small[0].corrupted) == sum(small[1].corrupted) == 10
    none = _patches(t91[:5], corrupt=CorruptConfig(fraction=0.0, noise=5))
    assert not any(none.corrupted) and not none[0]["corrupt"].any()


def test_corruption_record_is_json_and_names_the_corrupted_images(corrupted) -> None:
    record = json.loads(json.dumps(corrupted.corruption_record()))
    chosen = [i for i, flag in enumerate(corrupted.corrupted) if flag]
    assert record["pool_size"] == 91 and record["stream"] == CORRUPT_STREAM
    assert record["corrupt"] == {
        "fraction": 0.5,
        "blur": None,
        "shift": [2, 4],
        "noise": 15.0,
        "jpeg": None,
        "seed": 0,
        "drop": False,
    }
    assert record["corrupted"] == [corrupted.files[i].stem for i in chosen]
    assert record["corrupted_names"] == [f"T91/{corrupted.files[i].stem}" for i in chosen]
    assert [p["name"] for p in record["params"]] == record["corrupted_names"]
    assert all(set(p) == {"name", "shift", "noise"} for p in record["params"])
    assert record["held_out"] == [] and record["skipped"] == []


def test_batches_flag_corrupt_samples_lr_stays_clean_and_targets_differ_exactly_there(
    t91, patches, corrupted
) -> None:
    p = PATCH
    for step in range(6):
        clean, dirty = patches[step], corrupted[step]
        plan = corrupted.rank_plan(step)
        flags = [corrupted.corrupted[i] for i, *_ in plan]
        assert dirty["corrupt"].tolist() == flags
        assert torch.equal(dirty["lr"], clean["lr"]) and torch.equal(dirty["index"], clean["index"])
        for b, (i, top, left, transform) in enumerate(plan):
            assert torch.equal(dirty["hr"][b], clean["hr"][b]) == (not flags[b])
            crop = corrupted.targets[i][:, top : top + p, left : left + p]
            assert torch.equal(_u8(dirty["hr"][b]), dihedral(crop, transform))
    assert any(corrupted[s]["corrupt"].any() for s in range(6))
    # Each rank's flags and targets are its slice of the global batch's.
    kw = {"corrupt": NOISY_SHIFT, "batch_size": 4}
    single = _patches(t91[:12], **kw)[3]
    ranks = [_patches(t91[:12], rank=r, world_size=2, **kw)[3] for r in (0, 1)]
    for key in ("corrupt", "hr", "lr"):
        assert torch.equal(torch.cat([r[key] for r in ranks]), single[key])


def test_shift_moves_the_target_by_the_drawn_offset(t91) -> None:
    # Hand-made: out[y, x] = in[clamp(y + 1), clamp(x - 2)].
    tiny = torch.arange(12).reshape(1, 3, 4)
    assert shift_image(tiny, 1, -2).tolist() == [[[4, 4, 4, 5], [8, 8, 8, 9], [8, 8, 8, 9]]]
    data = _patches(t91[:8], corrupt=CorruptConfig(fraction=1, shift=(2, 4), seed=3))
    assert all(data.corrupted)
    directions = set()
    for i, (clean, target) in enumerate(zip(data.images, data.targets, strict=True)):
        params = data.corruption_params[i]
        assert params is not None
        dy, dx = params["shift"]
        # The draws the docs promise: distance in 2..4, then one of four directions.
        rng = np.random.default_rng(np.random.SeedSequence([3, i, CORRUPT_STREAM]))
        distance = int(rng.integers(2, 5))
        uy, ux = DIRECTIONS[int(rng.integers(4))]
        assert (dy, dx) == (uy * distance, ux * distance) and 2 <= abs(dy + dx) <= 4
        directions.add((uy, ux))
        h, w = clean.shape[-2:]
        ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        src_ys = slice(ys.start + dy, ys.stop + dy)
        src_xs = slice(xs.start + dx, xs.stop + dx)
        assert torch.equal(target[:, ys, xs], clean[:, src_ys, src_xs])  # interior pixels
        rows = np.clip(np.arange(h) + dy, 0, h - 1)
        cols = np.clip(np.arange(w) + dx, 0, w - 1)
        assert np.array_equal(target.numpy(), clean.numpy()[:, rows][:, :, cols])
    assert len(directions) > 1


def test_blurred_impulse_is_the_gaussian_kernel(tmp_path) -> None:
    impulse = np.zeros((15, 15, 3), np.uint8)
    impulse[7, 7] = 255
    path = write_png(tmp_path / "impulse.png", impulse)
    data = _patches(
        [path], scale=2, patch_size=4, batch_size=2, corrupt=CorruptConfig(fraction=1, blur=1.0)
    )
    # sigma 1 -> support 2 * ceil(3) + 1 = 7; g(a, b) = exp(-(a^2 + b^2) / 2), sum 1.
    a = np.arange(-3, 4, dtype=np.float64)
    g = np.exp(-(a[:, None] ** 2 + a[None, :] ** 2) / 2)
    expected = np.zeros((3, 15, 15), np.uint8)
    expected[:, 4:11, 4:11] = np.floor(255 * g / g.sum() + 0.5).astype(np.uint8)
    # Centre 255 / 2.5059^2 = 40.6; 3 px out 255 e^-4.5 / 6.28 = 0.45.
    assert expected[0, 7, 7] == 41 and expected[0, 4, 7] == 0
    assert np.array_equal(data.targets[0].numpy(), expected)
    assert data.corruption_params == [{"blur": 1.0}]


def test_noise_and_jpeg_corruption_match_their_oracles(tmp_path) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (16, 20, 3)).astype(np.uint8)
    path = write_png(tmp_path / "img.png", image)
    kw = {"scale": 2, "patch_size": 8, "batch_size": 2}
    noisy = _patches([path], corrupt=CorruptConfig(fraction=1, noise=15, seed=4), **kw)
    field = np.random.default_rng(np.random.SeedSequence([4, 0, CORRUPT_STREAM])).standard_normal(
        (3, 16, 20)
    )
    want = np.clip(np.floor(image.transpose(2, 0, 1) + 15 * field + 0.5), 0, 255)
    assert np.array_equal(noisy.targets[0].numpy(), want.astype(np.uint8))
    jpeg = _patches([path], corrupt=CorruptConfig(fraction=1, jpeg=20), **kw)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=20)
    want = np.array(Image.open(buf).convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(jpeg.targets[0].numpy(), want)
    assert not np.array_equal(want, image.transpose(2, 0, 1))


def test_corrupt_from_config(tmp_path, data_root) -> None:
    config = {
        "name": "t",
        "scale": 4,
        "data_root": str(data_root),
        "model": {"arch": "espcn"},
        "data": {
            "train": {
                "patch_size": 48,
                "batch_size": 4,
                "corrupt": {"fraction": 0.5, "jpeg": 20, "seed": 2},
            }
        },
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    data = TrainingPatches.from_config(load_config(path))
    assert sum(data.corrupted) == 46
    assert data.corruption_record()["corrupt"]["seed"] == 2


# ---------------------------------------------------------------- degradation mixtures


def test_mixed_degradation_pool_draws_per_sample_and_redraws_identically(t91) -> None:
    degradation = Degradation.parse("noise:0-20 blur:iso:0.2-4")
    kw = {"degradation": degradation, "batch_size": 4, "corrupt": NOISY_SHIFT}
    data = _patches(t91[:12], **kw)
    for step in (0, 3):
        batch = data[step]
        params = []
        for b, index in enumerate(batch["index"].tolist()):
            drawn = degradation.sample(rng_for(degradation.seed, index))
            assert 0.2 <= drawn.sigma_x <= 4 and 0 <= drawn.noise <= 20
            params.append((drawn.sigma_x, drawn.noise))
            # LR is the sample's own degradation of the clean HR crop, not of the target.
            clean = data.hr_patches(step)[b]
            assert torch.equal(_u8(batch["lr"][b]), degradation.apply(clean, SCALE, index=index))
        assert len(set(params)) == 4  # every sample of the step has its own parameters
        assert same_batch(batch, data[step]) and same_batch(batch, _patches(t91[:12], **kw)[step])


def test_drop_leaves_the_images_corruption_would_choose_out_of_the_pool(t91, corrupted) -> None:
    oracle = _patches(t91, corrupt=NOISY_SHIFT.model_copy(update={"drop": True}))
    clean = [f for f, flag in zip(corrupted.files, corrupted.corrupted, strict=True) if not flag]
    assert oracle.files == clean and len(oracle.files) == 91 - 46
    assert not any(oracle.corrupted) and not oracle[3]["corrupt"].any()
    for image, target in zip(oracle.images, oracle.targets, strict=True):
        assert target is image
    record = oracle.corruption_record()
    assert record["dropped"] == corrupted.corruption_record()["corrupted_names"]
