"""Reading and writing image files, safely and without losing precision.

Super-resolution is judged pixel by pixel, so images must come in and go out exactly: grey
stays grey, alpha is kept, 16-bit stays 16-bit, and EXIF orientation is applied so that the
pixels match what a viewer shows. Every failure a user can cause (missing, empty, truncated,
over-large or existing files) becomes a one-line :class:`~srmeta.errors.ImageError`.

Pillow reduces 16-bit colour PNG and TIFF to 8 bits, so those (and only those) are decoded
and encoded with the optional ``pypng`` and ``tifffile`` packages, imported on first use.
"""

from __future__ import annotations

import importlib
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, TiffImagePlugin, UnidentifiedImageError, features

from srmeta.atomic import atomic_open, check_writable
from srmeta.errors import ImageError

DEFAULT_MAX_PIXELS: int = 150_000_000
"""Largest width*height read by default: a 150-megapixel photo or scan still fits, while a
float32 RGB copy of it already takes 1.8 GB, so anything larger is far more likely a
decompression bomb or a mistake. It is below Pillow's own hard limit (2 * MAX_IMAGE_PIXELS,
about 179M), so with Pillow's defaults our limit is the one that applies; a program that
allows more (a larger ``--max-pixels``) must also lift ``PIL.Image.MAX_IMAGE_PIXELS``."""

_EXTENSIONS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WEBP",
               ".tif": "TIFF", ".tiff": "TIFF"}  # fmt: skip
_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF")
# Pillow writes BMP alpha in a form that readers, Pillow included, ignore.
_NO_ALPHA = ("JPEG", "BMP")
_EXIF_ORIENTATION = 0x0112
# What a damaged file makes Pillow's decoders (and pypng/tifffile) raise.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


def _fail(path: str | os.PathLike[str], reason: str) -> ImageError:
    """Build the one-line "<path>: <reason>" error the CLI prints."""
    shown = str(path).replace("\r", "\\r").replace("\n", "\\n")
    return ImageError(f"{shown}: {' '.join(reason.split())}")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


@dataclass(frozen=True)
class ImageData:
    """Decoded pixels at their native bit depth, plus the format they came from.

    Colour and alpha are kept apart because SR models see only colour; alpha is resized
    separately and re-attached when writing.
    """

    colour: np.ndarray  # H x W x C, C in {1, 3}; uint8 or uint16
    alpha: np.ndarray | None  # H x W, same dtype as colour
    format: str  # Pillow format name of the source
    lossless: bool = False  # a lossless WebP source: written back lossless
    # What the output keeps of the source: "icc_profile" (bytes), "exif" (bytes, its
    # orientation removed since reading applied it) and "dpi" (x, y).
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = self.colour
        if c.ndim != 3 or c.shape[2] not in (1, 3) or c.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"colour must be H x W x 1|3 uint8/uint16, got {c.shape} {c.dtype}")
        a = self.alpha
        if a is not None and (a.shape != c.shape[:2] or a.dtype != c.dtype):
            raise ValueError(f"alpha must be {c.shape[:2]} {c.dtype}, got {a.shape}")
        if self.format not in _FORMATS:
            raise ValueError(f"format must be one of {_FORMATS}, got {self.format!r}")

    @property
    def bit_depth(self) -> int:
        return 8 * self.colour.itemsize

    @property
    def is_gray(self) -> bool:
        return self.colour.shape[2] == 1

    @property
    def height(self) -> int:
        return self.colour.shape[0]

    @property
    def width(self) -> int:
        return self.colour.shape[1]

    def _scaled(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / np.float32(2**self.bit_depth - 1))

    def to_tensor(self) -> torch.Tensor:
        """Colour as float32 C x H x W in [0, 1], the layout and range models expect."""
        return self._scaled(np.ascontiguousarray(self.colour.transpose(2, 0, 1)))

    def alpha_tensor(self) -> torch.Tensor | None:
        """Alpha as float32 1 x H x W in [0, 1], or None when the image has none."""
        return None if self.alpha is None else self._scaled(self.alpha[None])

    def colour_uint8(self) -> np.ndarray:
        """Colour as 8-bit H x W x C (16-bit rounded half up), what metrics are defined on."""
        return self.colour if self.bit_depth == 8 else _to_8bit(self.colour)


def image_format_for_path(path: str | os.PathLike[str]) -> str:
    """The Pillow format name for a path's extension; the extension decides what is written."""
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        known = ", ".join(_EXTENSIONS)
        raise _fail(path, f"unknown image extension {suffix or '(none)'!r}; use one of {known}")
    return _EXTENSIONS[suffix]


def read_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Decode a PNG, JPEG, BMP, WebP or TIFF file fully (first frame), EXIF orientation applied.

    The header size is checked against ``max_pixels`` before any pixel is decoded, and the
    whole file is decoded here so that truncation fails now rather than as a grey band later.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise _fail(p, "no such file") from None
    except OSError as e:
        raise _fail(p, f"cannot read ({_reason(e)})") from e
    if stat.S_ISDIR(st.st_mode):
        raise _fail(p, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(p, "not a regular file")
    if st.st_size == 0:
        raise _fail(p, "file is empty (0 bytes)")
    # Our limit, checked below from the header, replaces Pillow's warning; Pillow's hard error
    # (twice its limit) can still fire first and becomes an ImageError as well.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(p, formats=_FORMATS)
        except UnidentifiedImageError:
            raise _fail(p, "not a supported image (PNG, JPEG, BMP, WebP or TIFF)") from None
        except Image.DecompressionBombError as e:
            hint = "use --max-pixels to raise the limit if the file is trusted"
            if Image.MAX_IMAGE_PIXELS and max_pixels > 2 * Image.MAX_IMAGE_PIXELS:
                hint = "PIL.Image.MAX_IMAGE_PIXELS must be raised as well"
            raise _fail(p, f"too many pixels for Pillow's bomb guard ({e}); {hint}") from None
        except OSError as e:  # errno set: the file system refused; unset: Pillow did
            what = "cannot read" if e.errno is not None else "corrupt or truncated image"
            raise _fail(p, f"{what} ({_reason(e)})") from e
        with im:
            fmt = "JPEG" if im.format == "MPO" else str(im.format)
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format != "MPO":  # MPO: a photo plus previews; the photo
                raise _fail(p, f"has {frames} frames (an animation or a multi-page file);"
                            " srmeta upscales single images")  # fmt: skip
            w, h = im.size
            if w <= 0 or h <= 0:
                raise _fail(p, f"image has zero size ({w}x{h})")
            if w * h > max_pixels:
                raise _fail(
                    p,
                    f"image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,}; "
                    "use --max-pixels to raise the limit if the file is trusted",
                )
            try:
                colour, alpha = _decode(p, im)
            except _DECODE_ERRORS as e:
                raise _fail(p, f"corrupt or truncated {fmt} file ({_reason(e)})") from e
            metadata = _metadata(im)  # after decoding: reading EXIF may load the image
    lossless = fmt == "WEBP" and _webp_is_lossless(p)
    return ImageData(colour, alpha, fmt, lossless=lossless, metadata=metadata)


_EXIF_ORIENTATION_TAG = 0x0112
# What each format's Pillow writer takes of the kept metadata (TIFF: no EXIF, whose tags
# would clash with the file's own).
_METADATA_KEYS = {"PNG": ("icc_profile", "exif", "dpi"), "JPEG": ("icc_profile", "exif", "dpi"),
                  "WEBP": ("icc_profile", "exif"), "TIFF": ("icc_profile", "dpi"),
                  "BMP": ("dpi",)}  # fmt: skip


def _metadata(im: Image.Image) -> dict[str, Any]:
    """The colour profile, EXIF (orientation removed) and DPI of an opened image."""
    kept: dict[str, Any] = {}
    if im.info.get("icc_profile"):
        kept["icc_profile"] = im.info["icc_profile"]
    exif = Image.Exif()  # a copy: the image's own EXIF object must stay as it is
    exif.load(im.getexif().tobytes())
    exif.pop(_EXIF_ORIENTATION_TAG, None)
    if len(exif) and im.format != "TIFF":  # a TIFF's tags are its own layout, not EXIF
        kept["exif"] = exif.tobytes()
    if im.info.get("dpi"):
        kept["dpi"] = tuple(float(v) for v in im.info["dpi"])
    return kept


def _webp_is_lossless(p: Path) -> bool:
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


def _decode(p: Path, im: ImageFile.ImageFile) -> tuple[np.ndarray, np.ndarray | None]:
    wide = _reduced_16bit(im)  # must be asked before load(), which clears the tile list
    im.load()  # full decode; raises on truncation (LOAD_TRUNCATED_IMAGES stays off)
    if not wide:
        ImageOps.exif_transpose(im, in_place=True)
        return _pillow_arrays(p, im)
    colour, alpha = _read_png16(p) if im.format == "PNG" else _read_tiff16(p)
    orient = _ORIENT.get(im.getexif().get(_EXIF_ORIENTATION, 1), lambda a: a)
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
            raise _fail(p, "32-bit integer samples outside 0..65535 are not supported")
        return a.astype(np.uint16)[..., None], None
    if im.mode == "F":
        raise _fail(p, "floating-point images are not supported")
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


def _optional(module: str, p: Path, what: str) -> ModuleType:
    """Import a codec only when a file needs it, with an actionable error if it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = {"png": "pypng"}.get(module, module)
        raise _fail(p, f"{what} needs the {package!r} package: pip install {package}") from None


def _read_png16(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """16-bit colour or grey+alpha PNG via pypng (Pillow reduces those to 8 bits)."""
    png = _optional("png", p, "16-bit colour PNG")
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
    tifffile = _optional("tifffile", p, "16-bit colour TIFF")
    try:
        with tifffile.TiffFile(p) as tif:
            page = tif.pages[0]
            a, axes = page.asarray(), page.axes
    except Exception as e:  # tifffile raises many types on damaged or exotic files
        raise OSError(f"tifffile: {_reason(e)}") from e
    if axes.startswith("S"):
        a = np.moveaxis(a, 0, -1)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype.itemsize != 2 or a.dtype.kind != "u":
        raise _fail(p, f"unsupported 16-bit TIFF layout {axes} {a.shape} {a.dtype}")
    a = a.astype(np.uint16)
    return (a[..., :3].copy(), a[..., 3].copy()) if a.shape[2] == 4 else (a, None)


def quantise(x: torch.Tensor, bit_depth: int) -> np.ndarray:
    """Float [0, 1] to uint8 or uint16 (clamped; halves rounded up, as MATLAB).

    In float64, where ``x * 255`` is exact for float32 input, so rounding is MATLAB's; one
    copy, then in place: on a fast network's output the temporaries cost more than the
    arithmetic.
    """
    x = x.detach().to("cpu")
    if torch.isnan(x).any():
        raise ValueError("cannot quantise a tensor that contains NaN")
    peak, dtype = (255.0, torch.uint8) if bit_depth == 8 else (65535.0, torch.int32)
    scaled = x.to(torch.float64, copy=True).clamp_(0, 1).mul_(peak).add_(0.5).floor_()
    out = scaled.to(dtype).numpy()
    return out if bit_depth == 8 else out.astype(np.uint16)


def from_tensor(
    colour: torch.Tensor,
    alpha: torch.Tensor | None = None,
    like: ImageData | None = None,
    bit_depth: int = 8,
) -> ImageData:
    """Quantise float [0, 1] tensors (C x H x W, C in {1, 3}; alpha 1 x H x W or H x W).

    Values are clamped and rounded half up, as MATLAB and :mod:`srmeta.pixels` do, so saved
    results match the reference pipelines. ``like`` (usually the input) supplies bit depth
    and format, so a 16-bit input gives a 16-bit output.
    """
    depth = like.bit_depth if like is not None else bit_depth
    if depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {depth}")
    if colour.ndim != 3 or colour.shape[0] not in (1, 3):
        raise ValueError(f"colour must be C x H x W with C in (1, 3), got {tuple(colour.shape)}")
    a = None
    if alpha is not None:
        alpha = alpha[0] if alpha.ndim == 3 and alpha.shape[0] == 1 else alpha
        if tuple(alpha.shape) != tuple(colour.shape[1:]):
            raise ValueError(f"alpha must be H x W = {tuple(colour.shape[1:])}")
        a = quantise(alpha, depth)
    c = np.ascontiguousarray(quantise(colour, depth).transpose(1, 2, 0))
    return ImageData(c, a, like.format if like is not None else "PNG")


def write_image(
    path: str | os.PathLike[str], image: ImageData, force: bool = False, quality: int = 95
) -> None:
    """Write atomically in the format named by the extension; never clobber without ``force``.

    A crash or error leaves either the old file or the complete new one, never a partial
    file. 16-bit is kept for PNG and TIFF and rounded to 8 bits for other formats; JPEG and
    WebP use ``quality`` (JPEG without chroma subsampling, to keep SR detail).
    """
    p = Path(path)
    fmt = image_format_for_path(p)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    check_writable(p, force, ImageError)
    if image.alpha is not None and fmt in _NO_ALPHA:
        raise _fail(p, f"{fmt} cannot store an alpha channel; write PNG, WebP or TIFF instead")
    encode = _encoder(p, fmt, image, quality)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _fail(p, f"cannot create directory {p.parent} ({_reason(e)})") from e
    _atomic_write(p, encode, force)


def _encoder(p: Path, fmt: str, image: ImageData, quality: int) -> Callable[[BinaryIO], None]:
    colour, alpha = image.colour, image.alpha
    wide = image.bit_depth == 16 and fmt in ("PNG", "TIFF")
    if wide and (alpha is not None or not image.is_gray):  # beyond Pillow: pypng / tifffile
        pack = _write_png16 if fmt == "PNG" else _write_tiff16
        module = _optional("png" if fmt == "PNG" else "tifffile", p, f"16-bit colour {fmt}")
        return lambda f: pack(module, f, colour, alpha)
    if image.bit_depth == 16 and not wide:
        colour = _to_8bit(colour)
        alpha = None if alpha is None else _to_8bit(alpha)
    planes = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=2)
    pil = Image.fromarray(np.ascontiguousarray(planes[..., 0] if planes.shape[2] == 1 else planes))
    options: dict[str, object] = {
        "JPEG": {"quality": quality, "subsampling": 0},
        "WEBP": {"lossless": True} if image.lossless else {"quality": quality},
        "TIFF": {"compression": "tiff_adobe_deflate"} if features.check("libtiff") else {},
    }.get(fmt, {})
    keys = _METADATA_KEYS.get(fmt, ())
    options.update({k: v for k, v in image.metadata.items() if k in keys})
    return lambda f: pil.save(f, format=fmt, **options)


def _to_8bit(a: np.ndarray) -> np.ndarray:
    """Round 16-bit to 8-bit, half up: floor(v / 257 + 0.5) in exact integer arithmetic."""
    return ((a.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)


def _write_png16(
    png: ModuleType, f: BinaryIO, colour: np.ndarray, alpha: np.ndarray | None
) -> None:
    h, w, c = colour.shape
    planes = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=2)
    rows = planes.astype(">u2").reshape(h, -1)
    writer = png.Writer(w, h, greyscale=c == 1, alpha=alpha is not None, bitdepth=16)
    writer.write_packed(f, (row.tobytes() for row in rows))


def _write_tiff16(
    tifffile: ModuleType, f: BinaryIO, colour: np.ndarray, alpha: np.ndarray | None
) -> None:
    if colour.shape[2] == 1:  # Pillow cannot open 16-bit grey+alpha TIFF; store it as RGBA
        colour = np.repeat(colour, 3, axis=2)
    planes = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=2)
    extra = ["unassalpha"] if alpha is not None else None
    tifffile.imwrite(
        f, planes, photometric="rgb", planarconfig="contig", extrasamples=extra,
        compression="zlib", metadata=None,
    )  # fmt: skip


def _atomic_write(p: Path, encode: Callable[[BinaryIO], None], force: bool) -> None:
    """Encode through :func:`srmeta.atomic.atomic_open`; OS failures become ImageError."""
    try:
        with atomic_open(p, force, ImageError) as f:
            encode(f)
    except OSError as e:
        raise _fail(p, f"cannot write ({_reason(e)})") from e
