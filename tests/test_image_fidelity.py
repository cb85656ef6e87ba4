"""Images come back as what went in: mode, alpha, bit depth, orientation, frames, codec, profile.

A PIL image or a file can carry more than its pixels; an upscaler that drops any of it
returns something that looks right and is not. The oracle is the input's own mode and
metadata, read back with Pillow.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import srmeta
from cli_errors import error_line, png
from srmeta.cli import main

# --- PIL images keep their mode, alpha and orientation, as files do --------------------


def _pil_rgb(h=6, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_a_palette_image_with_transparency_keeps_its_alpha(model_file):
    rgba = np.concatenate([_pil_rgb(), np.full((6, 5, 1), 255, np.uint8)], axis=2)
    rgba[0, 0, 3] = 0
    paletted = Image.fromarray(rgba).convert("P")
    paletted.info["transparency"] = paletted.getpixel((0, 0))
    out = srmeta.upscale(paletted, model=model_file)
    assert out.mode == "RGBA" and out.size == (10, 12)
    assert np.asarray(out)[..., 3].min() < 255  # the transparent pixel is still there


@pytest.mark.parametrize("mode", ["1", "I", "F"])
def test_one_bit_32_bit_and_float_images_come_back_in_their_mode(model_file, mode):
    grey = _pil_rgb()[..., 0]
    if mode == "1":
        image = Image.fromarray(grey > 127).convert("1")
    elif mode == "I":
        image = Image.fromarray(grey.astype(np.int32) * 257, mode="I")
    else:
        image = Image.fromarray(grey.astype(np.float32) / 255.0, mode="F")
    out = srmeta.upscale(image, model=model_file)
    assert out.mode == mode and out.size == (10, 12)


def test_exif_orientation_of_a_pil_image_is_applied_as_for_files(model_file, tmp_path):
    upright = Image.fromarray(_pil_rgb(6, 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: displayed after a 90-degree clockwise turn
    path = tmp_path / "turned.jpg"
    upright.rotate(90, expand=True).save(path, exif=exif, quality=100)
    with Image.open(path) as pil:
        from_pil = srmeta.upscale(pil, model=model_file)
    from_file = Image.open(srmeta.upscale(path, model=model_file, out=tmp_path / "o.png"))
    assert from_pil.size == from_file.size == (8, 12)


def test_a_multi_frame_file_is_refused_rather_than_cut_to_its_first_frame(
    model_file, tmp_path, capsys
):
    frames = [Image.fromarray(_pil_rgb(seed=s)) for s in range(3)]
    path = tmp_path / "pages.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert main(["upscale", str(path), "--model", str(model_file)]) == 2
    assert "3 frames" in error_line(capsys)
    assert not (tmp_path / "pages_x2.tif").exists()
    with Image.open(path) as pil, pytest.raises(srmeta.SrmetaError, match="3 frames"):
        srmeta.upscale(pil, model=model_file)


def test_a_lossless_webp_stays_lossless(model_file, tmp_path):
    path = tmp_path / "art.webp"
    Image.fromarray(_pil_rgb(16, 16)).save(path, lossless=True)
    out = srmeta.upscale(path, model=model_file)
    with open(out, "rb") as handle:
        header = handle.read(40)
    assert b"VP8L" in header  # the lossless bitstream, not VP8 (lossy)


def test_a_16_bit_pil_image_comes_back_16_bit():
    image = Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 997)
    assert image.mode == "I;16"
    out = srmeta.upscale(image, scale=2, model="bicubic")
    assert out.mode == "I;16" and out.size == (16, 16)


def test_a_truncated_lazily_opened_pil_image_is_a_clean_error(tmp_path):
    path = tmp_path / "big.png"
    png(path, 64, 64)
    path.write_bytes(path.read_bytes()[:2000])
    with Image.open(path) as image, pytest.raises(srmeta.SrmetaError, match="truncated"):
        srmeta.upscale(image, scale=2, model="bicubic")


# --- outputs keep the input's colour profile, EXIF and DPI ---------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_exif_and_dpi_are_kept_with_orientation_reset(model_file, tmp_path, suffix):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: applied on reading, so the output must not say it again
    exif[0x010F] = "ParkingCam"  # Make
    path = tmp_path / f"shot{suffix}"
    save = {"icc_profile": icc, "exif": exif.tobytes()}
    if suffix != ".webp":
        save["dpi"] = (300, 300)
    Image.fromarray(_pil_rgb(8, 6)).save(path, **save)
    out = srmeta.upscale(path, model=model_file)
    with Image.open(out) as result:
        assert result.info.get("icc_profile") == icc
        kept = result.getexif()
        if suffix != ".tif":  # TIFF keeps profile and DPI only: its tags are the file's own
            assert kept.get(0x010F) == "ParkingCam"
        assert kept.get(0x0112, 1) == 1
        if suffix != ".webp":
            assert tuple(round(v) for v in result.info["dpi"]) == (300, 300)
        assert result.size == (16, 12)  # stored 6 x 8, shown turned: 8 x 6, then x2
