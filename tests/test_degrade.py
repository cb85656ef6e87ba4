"""Tests for srmeta.degrade: spec parsing, kernels, seeding, and the degradation pipeline."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import yaml

from srmeta.degrade import Degradation, rng_for
from srmeta.degradespec import Blur
from srmeta.errors import DegradationError
from srmeta.kernels import anisotropic_kernel, convolve, isotropic_kernel, load_kernel
from srmeta.resize import imresize


def _img(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)


# ---------------------------------------------------------------- spec parsing


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bicubic",
        "direct",
        "blur:iso:1.2 down:bicubic noise:5",
        "noise:0-10 blur:iso:0.2-2.0 jpeg:30-95 seed:7",
        "blur:aniso:0.5-4,0.5-4,-90-90 down:direct",
        "blur:aniso:2,1,-30:15 noise:2.5",
        "blur:iso:1e-3-2.5:7 jpeg:75",
        "blur:file:/tmp/some_kernel.npy down:direct",
    ],
)
def test_parse_to_string_round_trip(text: str) -> None:
    d = Degradation.parse(text)
    canon = d.to_string()
    assert Degradation.parse(canon) == d
    assert Degradation.parse(canon).to_string() == canon
    assert hash(d) == hash(Degradation.parse(canon))


def test_parse_values_and_defaults() -> None:
    d = Degradation.parse("noise:0-10 blur:aniso:1,2,-45-45 jpeg:30-95 down:direct seed:3")
    assert d.noise == (0.0, 10.0)
    assert d.jpeg == (30, 95)
    assert d.seed == 3 and d.down == "direct"
    assert d.blur == Blur(kind="aniso", sigma_x=1, sigma_y=2, angle=[-45, 45])
    default = Degradation.parse("")
    assert default == Degradation() == Degradation.parse("bicubic")
    assert default.name == "bicubic" and default.is_plain_bicubic
    assert default.to_string() == "down:bicubic"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("blur:iso:1 frobnicate:3", "frobnicate"),
        ("noise:abc", "abc"),
        ("noise:1.2.3", "1.2.3"),
        ("blur:gauss:1", "gauss"),
        ("blur:aniso:1,2", "aniso"),
        ("noise:5 noise:6", "noise"),
        ("noise:-3", "noise"),
        ("noise:10-2", "noise"),
        ("jpeg:0", "jpeg"),
        ("jpeg:50.5", "jpeg"),
        ("jpeg:30-101", "jpeg"),
        ("blur:iso:0", "sigma"),
        ("blur:iso:1:4", "size"),
        ("down:nearest", "nearest"),
        ("seed:-1", "seed"),
    ],
)
def test_parse_errors_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(DegradationError) as info:
        Degradation.parse(text)
    msg = str(info.value)
    assert "\n" not in msg
    assert needle in msg


def test_yaml_round_trip_and_extra_key() -> None:
    d = Degradation.parse("blur:aniso:0.5-3,1,0-180 noise:0-15 jpeg:40-90 seed:11")
    text = yaml.safe_dump(d.to_dict())
    assert Degradation.model_validate(yaml.safe_load(text)) == d
    assert Degradation.from_dict(yaml.safe_load(yaml.safe_dump(d.model_dump(mode="json")))) == d
    loaded = Degradation.model_validate(
        yaml.safe_load("blur: {kind: iso, sigma: [1, 2]}\nnoise: 3")
    )
    assert loaded == Degradation.parse("blur:iso:1-2 noise:3")
    for bad, needle in [
        ("noise: 3\ncolour: red", "colour"),
        ("blur: {kind: iso, sigma: 1, sharpness: 2}", "sharpness"),
        ("blur: {kind: iso, sigma_x: 1}", "iso"),
        ("noise: [1, 2, 3]", "noise"),
    ]:
        with pytest.raises(DegradationError) as info:
            Degradation.model_validate(yaml.safe_load(bad))
        assert "\n" not in str(info.value) and needle in str(info.value)
    with pytest.raises(DegradationError, match="unknown field 'colour'"):
        Degradation(noise=1, colour="red")


def test_key_and_name() -> None:
    a = Degradation.parse("blur:iso:1.2 noise:5")
    assert a.key() == Degradation.parse("noise:5 blur:iso:1.2 down:bicubic").key()
    assert len(a.key()) == 12 and all(c in "0123456789abcdef" for c in a.key())
    assert a.key() != Degradation.parse("blur:iso:1.2 noise:5 seed:1").key()
    assert a.key() != Degradation().key()
    assert Degradation().name == "bicubic"
    assert a.name == "iso1.2_bicubic_noise5"
    with pytest.raises(Exception, match="frozen"):
        a.seed = 3  # type: ignore[misc]


# ---------------------------------------------------------------- kernels


def test_isotropic_kernel_brute_force() -> None:
    sigma, size = 1.7, 11
    ref = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            y, x = i - size // 2, j - size // 2
            ref[i, j] = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    ref /= ref.sum()
    k = isotropic_kernel(sigma, size)
    np.testing.assert_allclose(k, ref, rtol=1e-12, atol=0)
    assert k.dtype == np.float64 and abs(k.sum() - 1) < 1e-12


def test_anisotropic_kernel_properties() -> None:
    np.testing.assert_allclose(
        anisotropic_kernel(1.3, 1.3, 37.0, 9), isotropic_kernel(1.3, 9), rtol=1e-10, atol=1e-15
    )
    k0 = anisotropic_kernel(3.0, 0.8, 0.0, 15)
    np.testing.assert_allclose(anisotropic_kernel(3.0, 0.8, 90.0, 15), k0.T, atol=1e-15)
    # At angle 0 sigma_x spreads along columns (horizontal).
    assert k0[7, 10] > k0[10, 7]
    for k in (k0, anisotropic_kernel(2.0, 0.5, 30.0, 13)):
        assert abs(k.sum() - 1) < 1e-12 and (k >= 0).all()
    k30 = anisotropic_kernel(2.0, 0.5, 30.0, 13)
    assert not np.allclose(k30, k30.T)  # genuinely asymmetric across the diagonal


def test_default_kernel_size() -> None:
    assert Blur(kind="iso", sigma=1.2).kernel_size == 2 * 4 + 1
    assert Blur(kind="iso", sigma=[0.2, 3.0]).kernel_size == 19
    assert Blur(kind="iso", sigma=0.1).kernel_size == 3
    assert Blur(kind="aniso", sigma_x=1, sigma_y=4).kernel_size == 25
    assert Blur(kind="iso", sigma=1, size=21).kernel_size == 21


def test_load_kernel_formats(tmp_path) -> None:
    k = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    np.save(tmp_path / "k.npy", k)
    np.savetxt(tmp_path / "k.txt", k)
    from PIL import Image

    Image.fromarray(k.astype(np.uint8), "L").save(tmp_path / "k.png")
    for name in ("k.npy", "k.txt", "k.png"):
        np.testing.assert_allclose(load_kernel(tmp_path / name), k / k.sum(), rtol=1e-12)
    bad = {
        "nan.npy": np.array([[1.0, np.nan]]),
        "neg.npy": np.array([[1.0, -2.0]]),
        "zero.npy": np.zeros((3, 3)),
        "three.npy": np.ones((2, 2, 2)),
    }
    for name, arr in bad.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(DegradationError) as info:
            load_kernel(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "ragged.txt").write_text("1 2 3\n4 5\n")
    Image.new("RGB", (3, 3)).save(tmp_path / "rgb.png")
    for name in ("ragged.txt", "rgb.png", "missing.npy"):
        with pytest.raises(DegradationError, match=name.split(".")[0]):
            load_kernel(tmp_path / name)


# ---------------------------------------------------------------- sampling and seeding


def test_range_sampling_per_index() -> None:
    d = Degradation.parse("blur:aniso:0.5-4,1-2,-90-90 noise:0-10 jpeg:30-95 seed:5")
    samples = [d.sample(rng_for(d.seed, i)) for i in range(20)]
    for s in samples:
        assert 0.5 <= s.sigma_x <= 4 and 1 <= s.sigma_y <= 2 and -90 <= s.angle <= 90
        assert 0 <= s.noise <= 10 and 30 <= s.jpeg <= 95 and isinstance(s.jpeg, int)
        assert s.kernel.shape == (25, 25) and abs(s.kernel.sum() - 1) < 1e-12
    assert len({s.sigma_x for s in samples}) == 20
    assert len({s.noise for s in samples}) == 20
    assert len({s.jpeg for s in samples}) > 5
    again = d.sample(rng_for(5, 3))
    assert (again.sigma_x, again.angle, again.noise, again.jpeg) == (
        samples[3].sigma_x,
        samples[3].angle,
        samples[3].noise,
        samples[3].jpeg,
    )
    np.testing.assert_array_equal(again.kernel, samples[3].kernel)
    fixed = Degradation.parse("blur:iso:1.5 noise:4 jpeg:80").sample(rng_for(0, 9))
    assert (fixed.sigma_x, fixed.noise, fixed.jpeg) == (1.5, 4.0, 80)


def test_blur_noise_deterministic() -> None:
    hr = _img((3, 32, 30))
    d = Degradation.parse("blur:iso:0.5-2 noise:0-10 seed:1")
    a, b = d.apply(hr, 2, index=4), d.apply(hr, 2, index=4)
    assert a.dtype == torch.uint8 and a.shape == (3, 16, 15)
    assert torch.equal(a, b)
    assert not torch.equal(a, d.apply(hr, 2, index=5))
    assert not torch.equal(a, Degradation.parse("blur:iso:0.5-2 noise:0-10 seed:2").apply(hr, 2, 4))
    batch = d.apply(torch.stack([hr, hr, hr]), 2, index=3)
    assert torch.equal(batch[1], a) and not torch.equal(batch[0], a)


# ---------------------------------------------------------------- pipeline


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_plain_bicubic_is_matlab_uint8_path(scale: int) -> None:
    hr = _img((2, 3, 37, 41), seed=scale)
    out = Degradation.parse("bicubic").apply(hr, scale)
    assert out.dtype == torch.uint8
    assert torch.equal(out, imresize(hr, 1 / scale))
    assert out.shape[-2:] == (-(-37 // scale), -(-41 // scale))


def test_float_bicubic_and_direct_shapes() -> None:
    hr = _img((1, 25, 23)).double() / 255
    out = Degradation().apply(hr, 4, quantize=False)
    assert out.dtype == torch.float64 and out.shape == (1, 7, 6)
    torch.testing.assert_close(out, imresize(hr * 255, 0.25) / 255)
    q = Degradation().apply(hr.float(), 4)
    assert q.dtype == torch.float32
    torch.testing.assert_close(torch.round(q.double() * 255), q.double() * 255, rtol=0, atol=1e-4)


def test_direct_sampling_unblurred() -> None:
    hr = _img((3, 35, 29))
    out = Degradation.parse("down:direct").apply(hr, 3)
    assert out.shape == (3, 12, 10)
    assert torch.equal(out, hr[..., ::3, ::3])


def test_delta_kernel_is_identity(tmp_path) -> None:
    path = tmp_path / "delta.npy"
    np.save(path, np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]))
    hr = _img((3, 20, 17))
    d = Degradation.parse(f"blur:file:{path} down:direct")
    assert torch.equal(d.apply(hr, 1), hr)
    assert torch.equal(d.apply(hr, 2), hr[..., ::2, ::2])


def test_convolution_orientation(tmp_path) -> None:
    kernel = np.array([[1.0, 2, 0, 0], [0, 3, 0, 0], [0, 0, 0, 4], [5, 0, 0, 0], [0, 0, 6, 0]])
    kernel /= kernel.sum()
    path = tmp_path / "asym.npy"
    np.save(path, kernel)
    d = Degradation.parse(f"blur:file:{path} down:direct")
    # A single bright pixel reproduces the kernel itself (true convolution, not correlation).
    impulse = torch.zeros(1, 15, 15, dtype=torch.float64)
    impulse[0, 7, 7] = 1.0
    out = d.apply(impulse, 1, quantize=False)[0].numpy()
    np.testing.assert_allclose(out[5:10, 5:9], kernel, atol=1e-15)
    assert abs(out.sum() - 1) < 1e-12
    # Against scipy on a random image, borders included (reflect without edge repeat).
    img = np.random.default_rng(0).random((2, 13, 11))
    got = d.apply(torch.from_numpy(img), 1, quantize=False).numpy()
    for c in range(2):
        np.testing.assert_allclose(got[c], ndi.convolve(img[c], kernel, mode="mirror"), atol=1e-12)
    # Gaussian path agrees with scipy too, on a tiny image where the pad exceeds the size.
    g = Degradation.parse("blur:aniso:3,0.7,25 down:direct")
    k = g.sample(rng_for(0, 0)).kernel
    small = np.random.default_rng(1).random((1, 6, 5))
    got = g.apply(torch.from_numpy(small), 1, quantize=False)[0].numpy()
    np.testing.assert_allclose(got, ndi.convolve(small[0], k, mode="mirror"), atol=1e-12)


def test_noise_statistics() -> None:
    flat = torch.full((1, 256, 256), 0.5, dtype=torch.float64)
    out = Degradation.parse("noise:10 down:direct").apply(flat, 1, quantize=False)
    assert out.dtype == torch.float64
    std = (out - 0.5).std().item()
    assert abs(std - 10 / 255) < 0.05 * 10 / 255
    assert abs((out - 0.5).mean().item()) < 3 * (10 / 255) / 256
    # Noise is drawn per channel, independently.
    rgb = Degradation.parse("noise:10").apply(torch.full((3, 16, 16), 0.5), 1, quantize=False)
    assert not torch.equal(rgb[0], rgb[1])


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg(channels: int) -> None:
    hr = torch.from_numpy(ndi.gaussian_filter(_img((channels, 48, 40)).numpy(), (0, 2, 2)))
    hr = hr.to(torch.uint8)
    plain = Degradation.parse("blur:iso:1").apply(hr, 2)
    d = Degradation.parse("blur:iso:1 jpeg:20")
    out = d.apply(hr, 2)
    assert out.dtype == torch.uint8 and out.shape == (channels, 24, 20)
    assert not torch.equal(out, plain)
    assert torch.equal(out, d.apply(hr, 2))
    as_float = d.apply(hr.double() / 255, 2, quantize=False)
    assert as_float.dtype == torch.float64
    assert torch.equal((as_float * 255).round().to(torch.uint8), out)


def test_apply_rejects_bad_input() -> None:
    d = Degradation()
    with pytest.raises(ValueError):
        d.apply(torch.zeros(8, 8), 2)
    with pytest.raises(ValueError):
        d.apply(torch.zeros(1, 8, 8), 0)
    with pytest.raises(TypeError):
        d.apply(torch.zeros(1, 8, 8, dtype=torch.int32), 2)
    with pytest.raises(DegradationError, match="channels"):
        Degradation.parse("jpeg:50").apply(torch.zeros(2, 8, 8, dtype=torch.uint8), 2)


def test_from_spec_reads_yaml_files_and_strings(tmp_path):
    spec = tmp_path / "deg.yaml"
    spec.write_text("blur: {kind: iso, sigma: [0.5, 2.0]}\nnoise: 5\nseed: 7\n")
    from_file = Degradation.from_spec(str(spec))
    assert from_file == Degradation.parse("blur:iso:0.5-2 noise:5 seed:7")
    assert Degradation.from_spec("noise:5") == Degradation.parse("noise:5")
    spec.write_text("blur: {kind: iso, sigma: 1}\ncolour: 3\n")
    with pytest.raises(DegradationError, match="colour"):
        Degradation.from_spec(str(spec))
    with pytest.raises(DegradationError, match="cannot read"):
        Degradation.from_spec(str(tmp_path / "missing.yml"))


def test_separable_kernels_take_two_1d_passes_with_the_same_result() -> None:
    """A rank-1 kernel is convolved as column then row; the result equals the 2-D sum."""
    from srmeta.kernels import _separable

    rng = np.random.default_rng(3)
    img = rng.random((2, 17, 23)) * 255
    for sigma in (0.2, 0.7, 1.5, 2.9, 4.0):
        k = isotropic_kernel(sigma, 2 * int(np.ceil(3 * sigma)) + 1)
        assert _separable(k) is not None, sigma
        got = convolve(torch.from_numpy(img), k).numpy()
        for c in range(2):
            want = ndi.convolve(img[c], k, mode="mirror")
            np.testing.assert_allclose(got[c], want, rtol=0, atol=1e-10)
    assert _separable(anisotropic_kernel(3.5, 0.8, 30, 23)) is None
