"""Tests for srmeta.imageio: exact round trips, orientation, quantisation, errors, safe writes."""

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srmeta.errors import ImageError
from srmeta.imageio import (
    ImageData,
    from_tensor,
    image_format_for_path,
    read_image,
    write_image,
)

RNG = np.random.default_rng(1234)
H, W = 5, 7  # non-square, so a transposition would show


def _rand(shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16(path: Path, a: np.ndarray, orientation: int | None = None) -> None:
    """Write a 16-bit PNG by hand (filter 0) so the reader is checked against the PNG spec."""
    h, w, c = a.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))
    body = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        body += _chunk(b"eXIf", exif.tobytes().removeprefix(b"Exif\0\0"))
    body += _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _png16_header(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) straight from the IHDR chunk."""
    data = path.read_bytes()
    return data[24], data[25]


def _pil(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    ("shape", "mode"), [((H, W, 3), "RGB"), ((H, W), "L"), ((H, W, 4), "RGBA")]
)
def test_8bit_png_round_trip_is_exact(tmp_path: Path, shape: tuple[int, ...], mode: str) -> None:
    a = _rand(shape)
    Image.fromarray(a).save(tmp_path / "in.png")
    img = read_image(tmp_path / "in.png")
    assert (img.format, img.bit_depth, img.colour.dtype) == ("PNG", 8, np.uint8)
    assert img.is_gray == (mode == "L")
    assert (img.height, img.width) == (H, W)
    got = img.colour if img.alpha is None else np.dstack([img.colour, img.alpha])
    np.testing.assert_array_equal(got[..., 0] if mode == "L" else got, a)
    assert (img.alpha is not None) == (mode == "RGBA")

    write_image(tmp_path / "out.png", img)
    with Image.open(tmp_path / "out.png") as back:
        assert back.mode == mode
        np.testing.assert_array_equal(np.asarray(back), a)


def test_16bit_gray_png_round_trip_is_exact(tmp_path: Path) -> None:
    a = _rand((H, W), np.uint16)
    a[0, :3] = [1, 258, 65534]  # not multiples of 257: an 8-bit detour would change them
    Image.fromarray(a).save(tmp_path / "in.png")
    img = read_image(tmp_path / "in.png")
    assert img.colour.dtype == np.uint16 and img.bit_depth == 16 and img.is_gray
    np.testing.assert_array_equal(img.colour[..., 0], a)

    write_image(tmp_path / "out.png", img)
    assert _png16_header(tmp_path / "out.png") == (16, 0)
    np.testing.assert_array_equal(_pil(tmp_path / "out.png"), a)


@pytest.mark.parametrize(("planes", "colour_type"), [(3, 2), (4, 6), (2, 4)])
def test_16bit_colour_png_round_trip_is_exact(
    tmp_path: Path, planes: int, colour_type: int
) -> None:
    a = _rand((H, W, planes), np.uint16)
    a[0, 0, 0] = 1
    _png16(tmp_path / "in.png", a)
    img = read_image(tmp_path / "in.png")
    assert img.colour.dtype == np.uint16
    assert img.colour.shape == (H, W, 3 if planes >= 3 else 1)
    np.testing.assert_array_equal(
        np.dstack([img.colour, img.alpha]) if planes % 2 == 0 else img.colour, a
    )

    write_image(tmp_path / "out.png", img)
    assert _png16_header(tmp_path / "out.png") == (16, colour_type)
    again = read_image(tmp_path / "out.png")
    np.testing.assert_array_equal(again.colour, img.colour)
    np.testing.assert_array_equal(again.alpha, img.alpha)


def test_16bit_rgba_tiff_round_trip_is_exact(tmp_path: Path) -> None:
    img = ImageData(_rand((H, W, 3), np.uint16), _rand((H, W), np.uint16), "TIFF")
    write_image(tmp_path / "out.tif", img)
    with Image.open(tmp_path / "out.tif") as im:
        assert im.mode == "RGBA" and im.tag_v2[258] == (16, 16, 16, 16)
    back = read_image(tmp_path / "out.tif")
    np.testing.assert_array_equal(back.colour, img.colour)
    np.testing.assert_array_equal(back.alpha, img.alpha)


def test_16bit_gray_tiff_round_trip_is_exact(tmp_path: Path) -> None:
    img = ImageData(_rand((H, W, 1), np.uint16), None, "TIFF")
    write_image(tmp_path / "out.tiff", img)
    np.testing.assert_array_equal(_pil(tmp_path / "out.tiff"), img.colour[..., 0])
    np.testing.assert_array_equal(read_image(tmp_path / "out.tiff").colour, img.colour)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("a.bmp", {}),
        ("a.tif", {}),
        ("a.tif", {"compression": "tiff_lzw"}),
        ("a.webp", {"lossless": True}),
    ],
)
def test_lossless_formats_read_exactly(tmp_path: Path, name: str, options: dict) -> None:
    a = _rand((H, W, 3))
    Image.fromarray(a).save(tmp_path / name, **options)
    img = read_image(tmp_path / name)
    assert img.format == image_format_for_path(name)
    np.testing.assert_array_equal(img.colour, a)


def test_jpeg_reads_with_small_error(tmp_path: Path) -> None:
    y, x = np.mgrid[0:32, 0:48]
    a = np.dstack([x * 5, y * 7, (x + y) * 3]).astype(np.uint8)  # smooth: JPEG-friendly
    Image.fromarray(a).save(tmp_path / "a.jpg", quality=95)
    img = read_image(tmp_path / "a.jpg")
    assert img.format == "JPEG" and img.colour.shape == a.shape
    assert np.abs(img.colour.astype(int) - a).mean() < 2


def test_16bit_written_to_8bit_format_rounds_half_up(tmp_path: Path) -> None:
    v = np.array([0, 128, 129, 257 * 100 + 128, 257 * 100 + 129, 65535], np.uint16)
    write_image(tmp_path / "a.bmp", ImageData(v.reshape(1, 6, 1), None, "PNG"))
    np.testing.assert_array_equal(_pil(tmp_path / "a.bmp")[0], [0, 0, 1, 100, 101, 255])


def test_pillow_modes_map_to_gray_or_rgb_with_alpha(tmp_path: Path) -> None:
    palette = _rand((256, 3))
    index = _rand((H, W))
    pal = Image.fromarray(index, mode="P")
    pal.putpalette(palette.ravel().tolist())
    pal.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.alpha is None
    np.testing.assert_array_equal(img.colour, palette[index])

    pal.save(tmp_path / "pt.png", transparency=int(index[0, 0]))
    img = read_image(tmp_path / "pt.png")
    np.testing.assert_array_equal(img.alpha, np.where(index == index[0, 0], 0, 255))

    bits = _rand((H, W)) > 127
    Image.fromarray(bits).save(tmp_path / "b.png")  # mode "1"
    img = read_image(tmp_path / "b.png")
    assert img.is_gray
    np.testing.assert_array_equal(img.colour[..., 0], bits * 255)

    la = _rand((H, W, 2))
    Image.fromarray(la).save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    assert img.is_gray
    np.testing.assert_array_equal(np.dstack([img.colour, img.alpha]), la)

    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 0, 0, 255]]], np.uint8)
    Image.frombytes("CMYK", (3, 1), cmyk.tobytes()).save(tmp_path / "c.tif")
    img = read_image(tmp_path / "c.tif")
    assert img.colour.tolist() == [[[255, 255, 255], [0, 255, 255], [0, 0, 0]]]


# ------------------------------------------------------------------ EXIF orientation


def test_exif_orientation_6_rotates_clockwise(tmp_path: Path) -> None:
    a = _rand((H, W, 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be turned 90 degrees clockwise for display
    Image.fromarray(a).save(tmp_path / "a.png", exif=exif)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").colour, np.rot90(a, -1))

    y, x = np.mgrid[0:32, 0:48]
    smooth = np.dstack([x * 5, y * 7, (x + y) * 3]).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "a.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "a.jpg")
    assert img.colour.shape == (48, 32, 3)
    assert np.abs(img.colour.astype(int) - np.rot90(smooth, -1)).mean() < 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_orientation_matches_pillow_8bit(tmp_path: Path, orientation: int) -> None:
    a8 = _rand((H, W, 3))
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a8).save(tmp_path / "a8.png", exif=exif)
    _png16(tmp_path / "a16.png", a8.astype(np.uint16) * 257, orientation)
    want = read_image(tmp_path / "a8.png").colour.astype(np.uint16) * 257
    np.testing.assert_array_equal(read_image(tmp_path / "a16.png").colour, want)


# ------------------------------------------------------------------ tensors


def test_to_tensor_layout_and_range() -> None:
    c = np.zeros((H, W, 3), np.uint8)
    c[0, 1] = [255, 0, 51]
    img = ImageData(c, np.full((H, W), 255, np.uint8), "PNG")
    t = img.to_tensor()
    assert t.dtype == torch.float32 and t.shape == (3, H, W)
    assert t[:, 0, 1].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    a = img.alpha_tensor()
    assert a is not None and a.shape == (1, H, W) and a.dtype == torch.float32
    assert torch.all(a == 1)
    wide = ImageData(np.full((2, 2, 1), 65535, np.uint16), None, "PNG")
    assert wide.to_tensor().shape == (1, 2, 2) and torch.all(wide.to_tensor() == 1)
    assert wide.alpha_tensor() is None


def test_from_tensor_rounds_half_up_and_clamps() -> None:
    x = torch.tensor([0.5 / 255, 0.49 / 255, -0.3, 1.7, 1.0, 127.5 / 255], dtype=torch.float64)
    img = from_tensor(x.reshape(1, 1, 6), None)
    assert img.format == "PNG" and img.colour.dtype == np.uint8 and img.is_gray
    assert img.colour.ravel().tolist() == [1, 0, 0, 255, 255, 128]

    x16 = torch.tensor([0.5 / 65535, 0.49 / 65535, -1.0, 2.0, 258 / 65535], dtype=torch.float64)
    like = ImageData(np.zeros((1, 1, 3), np.uint16), None, "TIFF")
    img16 = from_tensor(x16.reshape(1, 1, 5), x16.reshape(1, 1, 5), like=like)
    assert img16.format == "TIFF" and img16.colour.dtype == np.uint16
    assert img16.colour.ravel().tolist() == [1, 0, 0, 65535, 258]
    assert img16.alpha is not None and img16.alpha.shape == (1, 5)


def test_from_tensor_inverts_to_tensor() -> None:
    img = ImageData(_rand((H, W, 3)), _rand((H, W)), "WEBP")
    back = from_tensor(img.to_tensor(), img.alpha_tensor(), like=img)
    np.testing.assert_array_equal(back.colour, img.colour)
    np.testing.assert_array_equal(back.alpha, img.alpha)
    assert back.format == "WEBP"


# ------------------------------------------------------------------ read errors


def _assert_image_error(path: Path, fragment: str, **kwargs: int) -> None:
    with pytest.raises(ImageError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert fragment in message


def _valid_file(path: Path) -> Path:
    Image.fromarray(_rand((64, 64, 3))).save(path, quality=90)
    return path


def test_read_errors_missing_directory_empty_and_junk(tmp_path: Path) -> None:
    _assert_image_error(tmp_path / "nope.png", "no such file")
    _assert_image_error(tmp_path, "directory")
    (tmp_path / "empty.png").write_bytes(b"")
    _assert_image_error(tmp_path / "empty.png", "empty")
    (tmp_path / "junk.png").write_bytes(RNG.bytes(1000))
    _assert_image_error(tmp_path / "junk.png", "not a supported image")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.gif")
    _assert_image_error(tmp_path / "a.gif", "not a supported image")


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.webp", "a.bmp", "a.tif"])
def test_truncated_files_are_rejected(tmp_path: Path, name: str) -> None:
    path = _valid_file(tmp_path / name)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_truncated_16bit_png_is_rejected(tmp_path: Path) -> None:
    _png16(tmp_path / "a.png", _rand((64, 64, 3), np.uint16))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    _assert_image_error(tmp_path / "a.png", "truncated")


def test_zero_size_image_is_rejected(tmp_path: Path) -> None:
    # Pillow refuses a zero width before our own check can; either way it is an ImageError.
    ihdr = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")
    (tmp_path / "zero.png").write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    _assert_image_error(tmp_path / "zero.png", "")


def test_pixel_limit_is_checked_and_explained(tmp_path: Path) -> None:
    path = _valid_file(tmp_path / "a.png")
    _assert_image_error(path, "64x64 = 4,096 pixels, over the limit of 4,095", max_pixels=4095)
    _assert_image_error(path, "--max-pixels", max_pixels=100)
    assert read_image(path, max_pixels=4096).width == 64


def test_pillow_bomb_guard_becomes_image_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _valid_file(tmp_path / "a.png")  # 4,096 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # Pillow would only warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path).width == 64  # our limit decides, no warning leaks
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses outright
    _assert_image_error(path, "pixels")


# ------------------------------------------------------------------ writes


def test_no_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    img = ImageData(_rand((H, W, 3)), None, "PNG")
    with pytest.raises(ImageError, match="already exists; use --force"):
        write_image(target, img)
    assert target.read_bytes() == b"precious"
    write_image(target, img, force=True)
    np.testing.assert_array_equal(_pil(target), img.colour)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_creates_parents_and_refuses_directories(tmp_path: Path) -> None:
    img = ImageData(_rand((H, W, 1)), None, "PNG")
    write_image(tmp_path / "a" / "b" / "out.png", img)
    np.testing.assert_array_equal(_pil(tmp_path / "a" / "b" / "out.png"), img.colour[..., 0])
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageError, match="is a directory"):
        write_image(tmp_path / "d.png", img, force=True)
    with pytest.raises(ImageError, match="unknown image extension"):
        write_image(tmp_path / "out.gif", img)


@pytest.mark.parametrize("name", ["a.jpg", "a.jpeg", "a.bmp"])
def test_alpha_into_format_without_alpha_raises(tmp_path: Path, name: str) -> None:
    img = ImageData(_rand((H, W, 3)), _rand((H, W)), "PNG")
    with pytest.raises(ImageError, match="cannot store an alpha channel") as info:
        write_image(tmp_path / name, img)
    assert str(info.value).startswith(f"{tmp_path / name}: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [OSError("disk full"), RuntimeError("encoder bug")])
def test_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    old = tmp_path / "old.png"
    old.write_bytes(b"original")

    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"half an image")  # type: ignore[attr-defined]
        raise error

    monkeypatch.setattr(Image.Image, "save", broken_save)
    img = ImageData(_rand((H, W, 3)), None, "PNG")
    for target, force in [(tmp_path / "new.png", False), (old, True)]:
        with pytest.raises((ImageError, RuntimeError)):
            write_image(target, img, force=force)
    assert [p.name for p in tmp_path.iterdir()] == ["old.png"]
    assert old.read_bytes() == b"original"


def test_jpeg_and_webp_writes_are_close(tmp_path: Path) -> None:
    y, x = np.mgrid[0:32, 0:48]
    a = np.dstack([x * 5, y * 7, (x + y) * 3]).astype(np.uint8)
    for name in ["a.jpg", "a.webp"]:
        write_image(tmp_path / name, ImageData(a, None, "PNG"), quality=95)
        assert np.abs(_pil(tmp_path / name).astype(int) - a).mean() < 3
