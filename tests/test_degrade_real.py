"""Tests for the realistic (Real-ESRGAN-like) degradation: spec, determinism, sizes, each
stage against an independent oracle, and its use from configs and ``srmeta eval``."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.special
import torch
import yaml
from PIL import Image

from run_configs import write_run_config
from srmeta.cli import main
from srmeta.config import ConfigError, build_degradation, load_config
from srmeta.data.benchmarks import load_hr, mod_crop
from srmeta.degradations import degradation_from_dict, parse_degradation
from srmeta.degrade import Degradation
from srmeta.degrade_real import RealisticDegradation
from srmeta.errors import DegradationError
from srmeta.kernels import (
    anisotropic_kernel,
    convolve,
    convolve_fast,
    generalized_kernel,
    plateau_kernel,
    sinc_kernel,
)
from srmeta.resize import imresize

OFF = {"first": None, "second": None, "final": {"sinc_prob": 0, "jpeg": None}}
"""Every stage off; the final resize (always run) is then all there is."""


def _only(**fields) -> RealisticDegradation:
    """Every stage off except ``fields`` (merged over :data:`OFF`, final modes bicubic)."""
    data = {"kind": "realistic", **OFF, **fields}
    data["final"] = {"modes": "bicubic", **OFF["final"], **fields.get("final", {})}
    return RealisticDegradation.from_dict(data)


def _round(**stages) -> dict:
    return {"blur": None, "resize": None, "noise": None, "jpeg": None, **stages}


@pytest.fixture(scope="module")
def butterfly(data_root) -> torch.Tensor:
    return load_hr(data_root / "Set5" / "HR" / "butterfly.png")


@pytest.fixture(scope="module")
def patches(data_root) -> torch.Tensor:
    """16 HR patches of 48 x 48 from Set5 / Set14 (small: the chain runs per sample)."""
    files = sorted((data_root / "Set14" / "HR").glob("*.png"))[:8]
    images = [load_hr(f).expand(3, -1, -1) for f in files]
    return torch.stack([im[:, 40 * k : 40 * k + 48, 60:108] for im in images for k in (1, 2)])


def _pil_jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray(x.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=quality)
    return torch.from_numpy(np.array(Image.open(buf).convert("RGB"))).permute(2, 0, 1)


# ---------------------------------------------------------------- spec


def test_default_spec_and_its_written_forms():
    d = parse_degradation("realistic")
    assert isinstance(d, RealisticDegradation) and d == RealisticDegradation()
    assert d.to_string() == "realistic" and d.name == "realistic"
    assert d.key() == "6c7aa58fbabe"  # a change here invalidates every cached realistic LR
    assert d.first is not None and d.second is not None
    assert d.first.jpeg == (20, 95) and d.final.jpeg == (20, 95)
    assert d.second.blur is not None and d.second.blur.prob == 0.8
    assert d.second.blur.sigma == (0.2, 1.5) and d.first.blur is not None
    assert d.first.blur.sigma == (0.2, 3.0) and d.first.blur.prob == 1.0
    assert RealisticDegradation.from_dict(d.to_dict()) == d


@pytest.mark.parametrize(
    "text",
    [
        "realistic seed:3",
        "realistic second:off final.jpeg:50-95",
        "realistic first.blur.kernels:iso=1,plateau_aniso=0.5 first.noise:off",
        "realistic final.modes:area,bicubic final.sinc_prob:0 second.blur.prob:0.5 seed:9",
        "realistic first.resize.scale:0.5-1 first.resize.up:0 second.jpeg:30",
    ],
)
def test_string_round_trip(text):
    d = parse_degradation(text)
    again = parse_degradation(d.to_string())
    assert again == d and again.key() == d.key() and again.to_string() == d.to_string()
    assert d.key() != RealisticDegradation().key()


def test_partial_mappings_keep_the_defaults_of_their_place():
    d = build_degradation({"kind": "realistic", "second": {"blur": {"prob": 0.5}}, "seed": 3})
    assert isinstance(d, RealisticDegradation) and d.second is not None
    assert d.second.blur is not None and d.second.blur.prob == 0.5
    assert d.second.blur.sigma == (0.2, 1.5)  # the second round's, not the class default
    assert d.second.noise is not None and d.second.noise.sigma == (1.0, 25.0)
    assert d.to_string() == "realistic second.blur.prob:0.5 seed:3"
    assert d.name == "realistic_seed3_custom"
    only_iso = build_degradation({"kind": "realistic", "first": {"blur": {"kernels": {"iso": 1}}}})
    assert isinstance(only_iso, RealisticDegradation) and only_iso.first is not None
    assert only_iso.first.blur is not None and dict(only_iso.first.blur.kernels) == {"iso": 1.0}


def test_classic_degradations_are_read_as_before(tmp_path):
    for text in ["", "bicubic", "blur:iso:1.2 noise:0-5 jpeg:30-95 seed:7"]:
        d = parse_degradation(text)
        assert isinstance(d, Degradation) and d == Degradation.parse(text)
    fields = {"blur": {"kind": "iso", "sigma": 1.5}, "noise": 3}
    classic = degradation_from_dict({"kind": "classic", **fields})
    assert (
        classic == Degradation.from_dict(fields)
        and classic.key() == Degradation.from_dict(fields).key()
    )
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump({"kind": "realistic", "seed": 4, "second": None}))
    assert parse_degradation(str(path)) == RealisticDegradation(seed=4, second=None)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"first": {"blurr": {}}}, ["unknown field", "first.blurr"]),
        ({"final": {"jpg": 50}}, ["unknown field", "final.jpg"]),
        ({"first": {"blur": {"prob": 1.5}}}, ["first.blur.prob"]),
        ({"first": {"blur": {"size": [8, 21]}}}, ["odd"]),
        ({"final": {"jpeg": [0, 50]}}, ["1..100"]),
        ({"second": {"resize": {"scale": [1.2, 2]}}}, ["low <= 1"]),
        ({"first": {"blur": {"kernels": {"box": 1}}}}, ["first.blur.kernels.box"]),
        ({"seed": -1}, ["seed"]),
    ],
)
def test_bad_fields_are_one_line_errors_naming_them(data, words):
    with pytest.raises(DegradationError) as err:
        RealisticDegradation.from_dict({"kind": "realistic", **data})
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


@pytest.mark.parametrize(
    "text", ["realistic foo", "realistic first.jpeg:", "realistic seed:3 seed:4", "realistic a:b"]
)
def test_bad_tokens_are_errors(text):
    with pytest.raises(DegradationError):
        parse_degradation(text)


def test_unknown_kind_is_an_error():
    with pytest.raises(DegradationError, match="unknown degradation kind 'real'"):
        degradation_from_dict({"kind": "real"})


# ---------------------------------------------------------------- applying


def test_same_index_same_lr_other_index_or_seed_other_lr(butterfly):
    hr = butterfly[:, :96, :96]
    d = RealisticDegradation()
    first = d.apply(hr, 4, index=5)
    assert torch.equal(first, d.apply(hr, 4, index=5))
    assert torch.equal(first, parse_degradation(d.to_string()).apply(hr, 4, index=5))
    assert not torch.equal(first, d.apply(hr, 4, index=6))
    assert not torch.equal(first, RealisticDegradation(seed=1).apply(hr, 4, index=5))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_size_and_dtype_for_odd_sizes(data_root, scale):
    hr = load_hr(data_root / "Set5" / "HR" / "woman.png")[:, 5:106, 7:84]  # 101 x 77
    hr = mod_crop(hr, scale)
    d = RealisticDegradation()
    for index in range(6):  # several draws: up, down and keep, every mode
        lr = d.apply(hr, scale, index=index)
        assert lr.dtype == torch.uint8
        assert lr.shape == (3, hr.shape[1] // scale, hr.shape[2] // scale)
    gray = load_hr(data_root / "Set14" / "HR" / "bridge.png")[:, :99, :99]
    assert d.apply(mod_crop(gray, scale), scale).shape == (1, 99 // scale, 99 // scale)


def test_float_input_gives_float_on_8bit_levels(butterfly):
    hr = butterfly[:, :64, :64]
    d = RealisticDegradation()
    lr = d.apply(hr.to(torch.float64) / 255.0, 4, index=2)
    assert lr.dtype == torch.float64 and lr.shape == (3, 16, 16)
    assert torch.equal(lr, d.apply(hr, 4, index=2).to(torch.float64) / 255.0)


def test_batch_equals_per_sample(patches):
    d = RealisticDegradation(seed=2)
    batch = d.apply(patches, 4, index=100)
    single = torch.stack([d.apply(p, 4, index=100 + b) for b, p in enumerate(patches)])
    assert batch.shape == (16, 3, 12, 12) and torch.equal(batch, single)


# ---------------------------------------------------------------- stages vs oracles


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_final_bicubic_alone_is_matlab_imresize(butterfly, scale):
    hr = mod_crop(butterfly, scale)
    assert torch.equal(_only().apply(hr, scale, index=3), imresize(hr, 1 / scale))


def test_gaussian_noise_alone_has_its_sigma(butterfly):
    noise = {"gaussian_prob": 1, "sigma": 10, "gray_prob": 0}
    d = _only(first=_round(noise=noise))
    lr = d.apply(butterfly, 1, index=0).to(torch.float64)
    inside = (butterfly > 60) & (butterfly < 195)  # 6 sigma away from clipping
    residual = (lr - butterfly.to(torch.float64))[inside]
    # rounding to 8 bits adds 1/12 to the variance
    assert residual.std().item() == pytest.approx(math.sqrt(100 + 1 / 12), rel=0.03)
    assert abs(residual.mean().item()) < 0.2
    gray = _only(first=_round(noise={**noise, "gray_prob": 1})).apply(butterfly, 1, index=0)
    diff = gray.to(torch.int16) - butterfly.to(torch.int16)
    both = inside.all(0)
    for c in (1, 2):  # one field on every channel; float32 sums may round a tie apart
        gap = (diff[0][both] - diff[c][both]).abs()
        assert gap.max() <= 1 and (gap == 0).float().mean() > 0.999


def test_poisson_noise_variance_follows_brightness(butterfly):
    noise = {"gaussian_prob": 0, "poisson": 1, "gray_prob": 0}
    lr = _only(first=_round(noise=noise)).apply(butterfly, 1, index=0).to(torch.float64)
    hr = butterfly.to(torch.float64)
    levels = len(torch.unique(butterfly))
    vals = 2 ** math.ceil(math.log2(levels))
    inside = (hr > 40) & (hr < 215)
    residual = (lr - hr)[inside]
    expected = (hr[inside] * 255 / vals).mean().item() + 1 / 12  # Var = 255 x / vals
    assert residual.var().item() == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("quality", [20, 57, 95])
def test_round_jpeg_alone_is_a_pil_round_trip(butterfly, quality):
    lr = _only(first=_round(jpeg=quality)).apply(butterfly, 1, index=1)
    assert torch.equal(lr, _pil_jpeg(butterfly, quality))


def test_final_jpeg_follows_the_final_resize(butterfly):
    lr = _only(final={"jpeg": 40}).apply(butterfly, 4, index=1)
    assert torch.equal(lr, _pil_jpeg(imresize(butterfly, 1 / 4), 40))


def test_noise_and_jpeg_chances_skip_the_stage_or_apply_it_whole(butterfly):
    noise = {"gaussian_prob": 1, "sigma": 10}
    never = _only(first=_round(noise={**noise, "prob": 0}, jpeg=30, jpeg_prob=0))
    always = _only(first=_round(noise={**noise, "prob": 1}))
    for index in range(4):
        assert torch.equal(never.apply(butterfly, 1, index=index), butterfly)
        assert not torch.equal(always.apply(butterfly, 1, index=index), butterfly)
    final_never = _only(final={"jpeg": 40, "jpeg_prob": 0}).apply(butterfly, 4, index=1)
    assert torch.equal(final_never, imresize(butterfly, 1 / 4))


def test_a_chance_of_one_half_applies_to_about_half_the_images(butterfly):
    d = _only(first=_round(jpeg=30, jpeg_prob=0.5))
    hr = butterfly[:, :32, :32]
    changed = sum(not torch.equal(d.apply(hr, 1, index=i), hr) for i in range(400))
    assert 200 - 4 * 10 <= changed <= 200 + 4 * 10  # binomial(400, 1/2): sd 10


def test_a_certain_chance_draws_nothing_so_older_chains_keep_their_images(butterfly):
    given = "realistic seed:4 first.noise.prob:1 first.jpeg_prob:1 final.jpeg_prob:1"
    assert torch.equal(
        RealisticDegradation.parse("realistic seed:4").apply(butterfly, 4, index=2),
        RealisticDegradation.parse(given).apply(butterfly, 4, index=2),
    )
    half = RealisticDegradation.parse("realistic seed:4 first.noise.prob:0.5 final.jpeg_prob:0.3")
    assert "first.noise.prob:0.5" in half.to_string() and "final.jpeg_prob:0.3" in half.to_string()
    assert RealisticDegradation.parse(half.to_string()) == half


@pytest.mark.parametrize("scale", [2, 4])
def test_final_area_resize_is_the_block_mean(butterfly, scale):
    lr = _only(final={"modes": "area"}).apply(butterfly, scale, index=0)
    side = 256 // scale
    blocks = butterfly.to(torch.float64).reshape(3, side, scale, side, scale).mean(dim=(2, 4))
    assert torch.equal(lr, torch.floor(blocks + 0.5).to(torch.uint8))


def test_round_resize_factors_apply_to_hr_then_to_the_lr_size(butterfly):
    """Round 1 resizes relative to the HR, round 2 relative to the final LR size."""
    resize = {"up": 0, "down": 1, "keep": 0, "scale": [0.5, 1], "modes": "area"}
    d = _only(first=_round(resize=resize), second=_round(resize={**resize, "up": 1, "down": 0}))
    rng = np.random.default_rng(np.random.SeedSequence([0, 7]))
    s = d.sample(rng)
    first, second = s.rounds
    assert first is not None and first.resize is not None and 0.5 <= first.resize.factor <= 1
    assert second is not None and second.resize is not None and second.resize.factor >= 1
    assert d.apply(butterfly, 4, index=7).shape == (3, 64, 64)


def test_iso_blur_alone_is_a_mirror_convolution(butterfly):
    blur = {"kernels": {"iso": 1}, "sigma": 1.7, "size": [9, 9], "sinc_prob": 0}
    lr = _only(first=_round(blur=blur)).apply(butterfly, 1, index=0)
    r = np.arange(9) - 4.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.7**2))
    g /= g.sum()
    hr = butterfly.numpy().astype(np.float64)
    ref = np.stack([ndi.convolve(c, g, mode="mirror") for c in hr])
    ref = np.floor(np.clip(ref, 0, 255) + 0.5)
    diff = np.abs(lr.numpy().astype(np.float64) - ref)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float32 work: rare half-level ties


def test_final_sinc_alone_is_a_mirror_convolution_with_the_jinc(butterfly):
    cutoff = 1.3
    d = _only(final={"sinc_prob": 1, "cutoff": cutoff, "sinc_size": [11, 11]})
    lr = d.apply(butterfly, 1, index=0)
    r = np.arange(21) - 10.0
    dist = np.hypot(r[:, None], r[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        k = cutoff * scipy.special.j1(cutoff * dist) / (2 * np.pi * dist)
    k[10, 10] = cutoff**2 / (4 * np.pi)
    k[np.maximum(np.abs(r[:, None]), np.abs(r[None, :])) > 5] = 0  # 11 x 11 padded to 21
    k /= k.sum()
    hr = butterfly.numpy().astype(np.float64)
    ref = np.floor(np.clip(np.stack([ndi.convolve(c, k, mode="mirror") for c in hr]), 0, 255) + 0.5)
    diff = np.abs(lr.numpy().astype(np.float64) - ref)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999


def test_kernel_families_against_their_formulas():
    q_free = anisotropic_kernel(2.0, 1.0, 30.0, 15)
    assert np.allclose(generalized_kernel(2.0, 1.0, 30.0, 1.0, 15), q_free, rtol=0, atol=1e-15)
    r = np.arange(15) - 7.0
    q = r[:, None] ** 2 / 1.5**2 + r[None, :] ** 2 / 1.5**2  # isotropic sigma 1.5
    for beta in (0.5, 2.0):
        ref = np.exp(-0.5 * q**beta)
        assert np.allclose(generalized_kernel(1.5, 1.5, 0.0, beta, 15), ref / ref.sum())
        ref = 1 / (1 + q**beta)
        assert np.allclose(plateau_kernel(1.5, 1.5, 0.0, beta, 15), ref / ref.sum())
    assert sinc_kernel(math.pi, 7).sum() == pytest.approx(1.0)


def test_fast_convolution_matches_the_exact_one():
    x = torch.rand(3, 40, 33, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for kernel in (plateau_kernel(2.0, 1.0, 30.0, 1.5, 21), sinc_kernel(1.0, 13)):
        fast = convolve_fast((x * 255).float(), kernel).to(torch.float64)
        assert torch.allclose(fast, convolve(x * 255, kernel), atol=1e-3)


# ---------------------------------------------------------------- config and command line


def test_training_runs_on_realistic_degradation(tmp_path, data_root):
    from srmeta.training.loop import train

    path = write_run_config(
        tmp_path,
        data_root,
        "real",
        train__steps=2,
        train__log_every=1,
        train__checkpoint_every=2,
        data__train__degradation="realistic seed:3",
    )
    cfg = load_config(path)
    assert cfg.train_degradation() == RealisticDegradation(seed=3)
    assert train(cfg, progress=False).step == 2


def test_config_takes_a_realistic_mapping_and_names_unknown_keys(tmp_path, data_root):
    mapping = {"kind": "realistic", "seed": 5, "second": None}
    path = write_run_config(tmp_path, data_root, "map", data__train__degradation=mapping)
    assert load_config(path).train_degradation() == RealisticDegradation(seed=5, second=None)
    bad = {"kind": "realistic", "final": {"jpg": 50}}
    path = write_run_config(tmp_path, data_root, "bad", data__train__degradation=bad)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message and "final.jpg" in message and "data.train.degradation" in message


def test_eval_command_takes_realistic(data_root, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["eval", "--model", "bicubic", "--datasets", "Set5", "--scales", "4"]
    argv += ["--degradation", "realistic", "--data-root", str(data_root), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["degradation"] == "realistic"
    assert summary["summary"][0]["psnr"] < 28.0  # well below the clean bicubic 28.43 dB
    capsys.readouterr()
