"""Real LR-HR pairs: finding, sizing, checking and registering them, and scoring on them.

Pairs are made here from benchmark images with a known LR (MATLAB bicubic, or a known
motion), so every result has an oracle: the benchmark protocol's own LR and scores, or the
motion that was applied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srmeta.config import PairsConfig
from srmeta.data.benchmarks import find_dataset, load_hr, mod_crop
from srmeta.data.pairs import PairDataset, find_pairs, load_pair, select_pairs
from srmeta.data.registration import Motion, estimate_motion, warp_onto
from srmeta.errors import DatasetError
from srmeta.evaluation import evaluate
from srmeta.metrics import psnr
from srmeta.resize import imresize

SCALE = 3


def _save(image: torch.Tensor, path: Path) -> None:
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)


def _hr(data_root: Path, name: str) -> torch.Tensor:
    return load_hr(next(f for f in find_dataset("Set5", data_root).files if f.stem == name))


def _inverse(motion: Motion) -> Motion:
    """The motion whose :func:`warp_onto` makes ``moved(x) = image(motion(x))``."""
    z = motion.zoom
    return Motion(-motion.dx / z, -motion.dy / z, 1 / z, 1.0)


@pytest.fixture
def set5_pairs(tmp_path: Path, data_root: Path) -> Path:
    """Set5 as pairs: LR = MATLAB bicubic / 3 of the mod-cropped HR (the benchmark's LR)."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    for path in find_dataset("Set5", data_root).files:
        hr = mod_crop(load_hr(path), SCALE)
        _save(hr, folder / f"{path.stem}H.png")
        _save(imresize(hr, 1 / SCALE), folder / f"{path.stem}L.png")
    return folder


def test_pairs_are_found_in_both_layouts(tmp_path: Path, set5_pairs: Path) -> None:
    pairs = find_pairs(set5_pairs)
    assert [p.name for p in pairs] == ["baby", "bird", "butterfly", "head", "woman"]
    assert all(p.lr.stem == p.name + "L" and p.hr.stem == p.name + "H" for p in pairs)
    lr, hr = tmp_path / "lr", tmp_path / "hr"
    lr.mkdir(), hr.mkdir()
    for p in pairs:
        (lr / f"{p.name}.png").write_bytes(p.lr.read_bytes())
        (hr / f"{p.name}.png").write_bytes(p.hr.read_bytes())
    assert [p.name for p in find_pairs(lr=lr, hr=hr)] == [p.name for p in pairs]
    assert [p.name for p in select_pairs(pairs, ["head", "baby"])] == ["baby", "head"]
    with pytest.raises(DatasetError, match="no pair named lena"):
        select_pairs(pairs, ["lena"])


def test_a_file_without_its_partner_is_named(tmp_path: Path, set5_pairs: Path) -> None:
    (set5_pairs / "birdH.png").unlink()
    with pytest.raises(DatasetError, match=r"birdL\.png has no HR partner"):
        find_pairs(set5_pairs)
    (set5_pairs / "stray.png").write_bytes((set5_pairs / "babyL.png").read_bytes())
    with pytest.raises(DatasetError, match=r"stray\.png is not named <name>L or <name>H"):
        find_pairs(set5_pairs)
    with pytest.raises(DatasetError, match="no image pairs"):
        find_pairs(tmp_path / "pairs" / "..")  # a folder with no images


def test_both_lr_sizes_give_the_benchmark_lr(tmp_path: Path, set5_pairs: Path, data_root):
    """An LR 1/3 of the HR is used as is; an HR-sized LR is shrunk with MATLAB bicubic:
    with LR = the HR itself, both give exactly the LR the benchmark protocol makes."""
    hr = _hr(data_root, "bird")
    small = load_pair(find_pairs(set5_pairs)[1], SCALE)
    same = tmp_path / "same"
    same.mkdir()
    _save(hr, same / "birdH.png")
    _save(hr, same / "birdL.png")
    large = load_pair(find_pairs(same)[0], SCALE)
    expected = imresize(mod_crop(hr, SCALE), 1 / SCALE)
    for pair in (small, large):
        assert torch.equal(pair.lr, expected) and torch.equal(pair.hr, mod_crop(hr, SCALE))
        assert not pair.registered and pair.motion.extent(pair.lr.shape[-2:]) < 0.1


def test_sizes_that_fit_no_scale_are_refused(tmp_path: Path, data_root: Path) -> None:
    hr = _hr(data_root, "bird")
    _save(hr, tmp_path / "1H.png")
    _save(imresize(hr, 1 / 2), tmp_path / "1L.png")
    with pytest.raises(DatasetError, match=r"1L\.png is 144x144 and 1H\.png is 288x288"):
        load_pair(find_pairs(tmp_path)[0], SCALE)


def test_pairs_of_different_scenes_are_refused(tmp_path: Path, data_root: Path) -> None:
    _save(mod_crop(_hr(data_root, "bird"), SCALE), tmp_path / "1H.png")
    baby = imresize(_hr(data_root, "baby"), size=(96, 96))
    _save(baby, tmp_path / "1L.png")
    with pytest.raises(DatasetError, match="do not show the same view"):
        load_pair(find_pairs(tmp_path)[0], SCALE)


@pytest.mark.parametrize(
    "motion", [Motion(1.3, -0.7, 1.0, 1), Motion(-2.4, 0.35, 1.012, 1), Motion(0.2, 0.1, 0.995, 1)]
)
def test_estimated_motion_is_the_applied_one(data_root: Path, motion: Motion) -> None:
    lr = imresize(_hr(data_root, "butterfly"), 1 / 2)  # 128 x 128
    moved = warp_onto(lr, _inverse(motion))  # moved(x) = lr(motion(x))
    found = estimate_motion(moved, lr)
    assert abs(found.dx - motion.dx) < 0.06 and abs(found.dy - motion.dy) < 0.06
    assert abs(found.zoom - motion.zoom) < 1e-3 and found.correlation > 0.99


def test_a_shifted_pair_is_registered_and_a_far_one_refused(tmp_path: Path, data_root):
    hr = mod_crop(_hr(data_root, "baby"), SCALE)
    true_lr = imresize(hr, 1 / SCALE)
    shifted = warp_onto(true_lr, _inverse(Motion(1.6, -1.1, 1.0, 1)))
    _save(hr, tmp_path / "aH.png")
    _save(shifted, tmp_path / "aL.png")
    pair = load_pair(find_pairs(tmp_path)[0], SCALE)
    assert pair.registered and abs(pair.motion.dx - 1.6) < 0.1
    m = (true_lr.shape[-1] - pair.lr.shape[-1]) // 2
    assert pair.hr.shape[-1] == pair.lr.shape[-1] * SCALE
    kept = true_lr[:, m:-m, m:-m]
    assert (
        psnr(pair.lr.double(), kept.double())
        > psnr(shifted[:, m:-m, m:-m].double(), kept.double()) + 5
    )
    far = warp_onto(true_lr, _inverse(Motion(12.0, 0.0, 1.0, 1)))
    _save(far, tmp_path / "aL.png")
    with pytest.raises(DatasetError, match=r"aL\.png is not aligned with aH\.png"):
        load_pair(find_pairs(tmp_path)[0], SCALE)


def test_scores_on_pairs_equal_the_benchmark_scores(set5_pairs: Path, data_root: Path) -> None:
    """Pairs whose LR is the benchmark LR score exactly as the benchmark set does."""
    pairs = PairDataset.from_config(PairsConfig(folder=str(set5_pairs)))
    on_pairs = evaluate("bicubic", [pairs], [SCALE]).images
    on_set5 = evaluate("bicubic", ["Set5"], [SCALE], data_root=data_root).images
    assert [r.image for r in on_pairs] == [r.image for r in on_set5]
    np.testing.assert_allclose([r.psnr for r in on_pairs], [r.psnr for r in on_set5], atol=1e-9)
    np.testing.assert_allclose([r.ssim for r in on_pairs], [r.ssim for r in on_set5], atol=1e-9)


def test_pairs_are_not_scored_with_another_degradation(set5_pairs: Path) -> None:
    pairs = PairDataset.from_config(PairsConfig(folder=str(set5_pairs)))
    with pytest.raises(Exception, match="pairs bring their own LR"):
        evaluate("bicubic", [pairs], [SCALE], degradation="blur:iso:1.0")


def test_a_flat_pair_has_no_motion_to_find() -> None:
    grey = torch.full((3, 40, 40), 128, dtype=torch.uint8)
    motion = estimate_motion(grey, grey.clone())
    assert (motion.dx, motion.dy, motion.zoom, motion.correlation) == (0.0, 0.0, 1.0, 1.0)
