"""How image files map onto arrays: Pillow modes, the 16-bit codecs and the kept metadata.

The parts of :mod:`srmeta.imageio` that know about file layouts: any Pillow mode becomes grey
or RGB (plus alpha) at 8 or 16 bits; EXIF orientation is applied; the colour profile, EXIF
and DPI are kept for writing back. Pillow reduces 16-bit colour PNG and TIFF to 8 bits, so
those (and only those) are decoded and encoded with the optional ``pypng`` and ``tifffile``
packages, imported on first use.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, TiffImagePlugin

from srmeta.errors import ImageError

EXIF_ORIENTATION = 0x0112


def fail(path: str | os.PathLike[str], reason: str) -> ImageError:
    """Build the one-line "<path>: <reason>" error the CLI prints."""
    shown = str(path).replace("\r", "\\r").replace("\n", "\\n")
    return ImageError(f"{shown}: {' '.join(reason.split())}")


def error_reason(exc: BaseException) -> str:
    """What went wrong, in words: the OS's message, the exception's, or its type's name."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# What each format's Pillow writer takes of the kept metadata (TIFF: no EXIF, whose tags
# would clash with the file's own).
METADATA_KEYS = {
    "PNG": ("icc_profile", "exif", "dpi"),
    "JPEG": ("icc_profile", "exif", "dpi"),
    "WEBP": ("icc_profile", "exif"),
    "TIFF": ("icc_profile", "dpi"),
    "BMP": ("dpi",),
}


def read_metadata(im: Image.Image) -> dict[str, Any]:
    """The colour profile, EXIF (orientation removed) and DPI of an opened image."""
    kept: dict[str, Any] = {}
    if im.info.get("icc_profile"):
        kept["icc_profile"] = im.info["icc_profile"]
    exif = Image.Exif()  # a copy: the image's own EXIF object must stay as it is
    exif.load(im.getexif().tobytes())
    exif.pop(EXIF_ORIENTATION, None)
    if len(exif) and im.format != "TIFF":  # a TIFF's tags are its own layout, not EXIF
        kept["exif"] = exif.tobytes()
    if im.info.get("dpi"):
        kept["dpi"] = tuple(float(v) for v in im.info["dpi"])
    return kept


def webp_is_lossless(p: Path) -> bool:
    """Whether a WebP file holds the lossless (VP8L) bitstream: RIFF chunks scanned for it."""
    with open(p, "rb") as handle:
        data = handle.read(1 << 16)
    offset = 12  # "RIFF", size, "WEBP"
    while offset + 8 <= len(data):
        tag, size = (
            data[offset : offset + 4],
            int.from_bytes(data[offset + 4 : offset + 8], "little"),
        )
        if tag == b"VP8L":
            return True
        if tag == b"VP8 ":
            return False
        offset += 8 + size + (size & 1)
    return False


def decode(p: Path, im: ImageFile.ImageFile) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour (``H x W x C``) and alpha (or None) of an opened file, fully decoded at 8 or 16
    bits with the EXIF orientation applied."""
    wide = _reduced_16bit(im)  # must be asked before load(), which clears the tile list
    im.load()  # full decode; raises on truncation (LOAD_TRUNCATED_IMAGES stays off)
    if not wide:
        ImageOps.exif_transpose(im, in_place=True)
        return _pillow_arrays(p, im)
    colour, alpha = _read_png16(p) if im.format == "PNG" else _read_tiff16(p)
    orient = _ORIENT.get(im.getexif().get(EXIF_ORIENTATION, 1), lambda a: a)
    return (
        np.ascontiguousarray(orient(colour)),
        None if alpha is None else np.ascontiguousarray(orient(alpha)),
    )


def _reduced_16bit(im: ImageFile.ImageFile) -> bool:
    """True when Pillow would reduce 16-bit samples to 8 bits (colour, or grey with alpha)."""
    if im.mode not in ("RGB", "RGBA", "LA"):
        return False
    if im.format == "TIFF" and isinstance(im, TiffImagePlugin.TiffImageFile):
        bits = im.tag_v2.get(258, 8)  # BitsPerSample
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return im.format == "PNG" and any(";16" in str(tile[3]) for tile in im.tile)


# EXIF orientation -> the numpy view ImageOps.exif_transpose would produce (rows, cols first).
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _pillow_arrays(p: Path, im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Map any Pillow mode onto grey/RGB (+ alpha) at 8 or 16 bits."""
    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.asarray(im)
        if a.min(initial=0) < 0 or a.max(initial=0) > 65535:
            raise fail(p, "32-bit integer samples outside 0..65535 are not supported")
        return a.astype(np.uint16)[..., None], None
    if im.mode == "F":
        raise fail(p, "floating-point images are not supported")
    has_alpha = im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        im.mode in ("1", "L", "P", "RGB") and im.info.get("transparency") is not None
    )
    gray = im.mode in ("1", "L", "LA", "La")
    target = ("LA" if has_alpha else "L") if gray else ("RGBA" if has_alpha else "RGB")
    a = np.asarray(im if im.mode == target else im.convert(target))
    if a.ndim == 2:
        return a[..., None], None
    if not has_alpha:
        return a, None
    return np.ascontiguousarray(a[..., :-1]), np.ascontiguousarray(a[..., -1])


def optional_codec(module: str, p: Path, what: str) -> ModuleType:
    """Import a codec only when a file needs it, with an actionable error if it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = {"png": "pypng"}.get(module, module)
        raise fail(p, f"{what} needs the {package!r} package: pip install {package}") from None


def _read_png16(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """16-bit colour or grey+alpha PNG via pypng (Pillow reduces those to 8 bits)."""
    png = optional_codec("png", p, "16-bit colour PNG")
    try:
        w, h, flat, info = png.Reader(filename=str(p)).read_flat()
    except png.Error as e:
        raise OSError(str(e)) from e
    planes = info["planes"]
    a = np.frombuffer(flat, dtype=np.uint16).reshape(h, w, planes)
    if info["alpha"]:
        return a[..., :-1].copy(), a[..., -1].copy()
    key = info.get("transparent")  # tRNS colour key -> real alpha, as Pillow does for 8 bits
    if key is not None:
        return a.copy(), np.where((a == np.array(key)).all(axis=2), 0, 65535).astype(np.uint16)
    return a.copy(), None


def _read_tiff16(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """16-bit colour TIFF via tifffile (Pillow reduces it to 8 bits)."""
    tifffile = optional_codec("tifffile", p, "16-bit colour TIFF")
    try:
        with tifffile.TiffFile(p) as tif:
            page = tif.pages[0]
            a, axes = page.asarray(), page.axes
    except Exception as e:  # tifffile raises many types on damaged or exotic files
        raise OSError(f"tifffile: {error_reason(e)}") from e
    if axes.startswith("S"):
        a = np.moveaxis(a, 0, -1)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype.itemsize != 2 or a.dtype.kind != "u":
        raise fail(p, f"unsupported 16-bit TIFF layout {axes} {a.shape} {a.dtype}")
    a = a.astype(np.uint16)
    return (a[..., :3].copy(), a[..., 3].copy()) if a.shape[2] == 4 else (a, None)


def to_8bit(a: np.ndarray) -> np.ndarray:
    """Round 16-bit to 8-bit, half up: floor(v / 257 + 0.5) in exact integer arithmetic."""
    return ((a.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)


def write_png16(png: ModuleType, f: BinaryIO, colour: np.ndarray, alpha: np.ndarray | None) -> None:
    h, w, c = colour.shape
    planes = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=2)
    rows = planes.astype(">u2").reshape(h, -1)
    writer = png.Writer(w, h, greyscale=c == 1, alpha=alpha is not None, bitdepth=16)
    writer.write_packed(f, (row.tobytes() for row in rows))


def write_tiff16(
    tifffile: ModuleType, f: BinaryIO, colour: np.ndarray, alpha: np.ndarray | None
) -> None:
    if colour.shape[2] == 1:  # Pillow cannot open 16-bit grey+alpha TIFF; store it as RGBA
        colour = np.repeat(colour, 3, axis=2)
    planes = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=2)
    extra = ["unassalpha"] if alpha is not None else None
    tifffile.imwrite(
        f,
        planes,
        photometric="rgb",
        planarconfig="contig",
        extrasamples=extra,
        compression="zlib",
        metadata=None,
    )
