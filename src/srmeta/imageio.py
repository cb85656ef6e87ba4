"""Reading and writing image files, safely and without losing precision.

Super-resolution is judged pixel by pixel, so images must come in and go out exactly: grey
stays grey, alpha is kept, 16-bit stays 16-bit, and EXIF orientation is applied so that the
pixels match what a viewer shows. Every failure a user can cause (missing, empty, truncated,
over-large or existing files) becomes a one-line :class:`~srmeta.errors.ImageError`.

How file layouts map onto arrays (Pillow modes, the 16-bit PNG/TIFF codecs Pillow lacks,
the metadata kept) lives in :mod:`srmeta.imageformats`.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError, features

from srmeta.atomic import atomic_open, check_writable
from srmeta.errors import ImageError
from srmeta.imageformats import (
    METADATA_KEYS,
    decode,
    error_reason,
    fail,
    optional_codec,
    read_metadata,
    to_8bit,
    webp_is_lossless,
    write_png16,
    write_tiff16,
)

DEFAULT_MAX_PIXELS: int = 150_000_000
"""Largest width*height read by default: a 150-megapixel photo or scan still fits, while a
float32 RGB copy of it already takes 1.8 GB, so anything larger is far more likely a
decompression bomb or a mistake. It is below Pillow's own hard limit (2 * MAX_IMAGE_PIXELS,
about 179M), so with Pillow's defaults our limit is the one that applies; a program that
allows more (a larger ``--max-pixels``) must also lift ``PIL.Image.MAX_IMAGE_PIXELS``."""

_EXTENSIONS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF")
# Pillow writes BMP alpha in a form that readers, Pillow included, ignore.
_NO_ALPHA = ("JPEG", "BMP")
# What a damaged file makes Pillow's decoders (and pypng/tifffile) raise.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


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
        return self.colour if self.bit_depth == 8 else to_8bit(self.colour)


def image_format_for_path(path: str | os.PathLike[str]) -> str:
    """The Pillow format name for a path's extension; the extension decides what is written."""
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        known = ", ".join(_EXTENSIONS)
        raise fail(path, f"unknown image extension {suffix or '(none)'!r}; use one of {known}")
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
        raise fail(p, "no such file") from None
    except OSError as e:
        raise fail(p, f"cannot read ({error_reason(e)})") from e
    if stat.S_ISDIR(st.st_mode):
        raise fail(p, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise fail(p, "not a regular file")
    if st.st_size == 0:
        raise fail(p, "file is empty (0 bytes)")
    # Our limit, checked below from the header, replaces Pillow's warning; Pillow's hard error
    # (twice its limit) can still fire first and becomes an ImageError as well.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(p, formats=_FORMATS)
        except UnidentifiedImageError:
            raise fail(p, "not a supported image (PNG, JPEG, BMP, WebP or TIFF)") from None
        except Image.DecompressionBombError as e:
            hint = "use --max-pixels to raise the limit if the file is trusted"
            if Image.MAX_IMAGE_PIXELS and max_pixels > 2 * Image.MAX_IMAGE_PIXELS:
                hint = "PIL.Image.MAX_IMAGE_PIXELS must be raised as well"
            raise fail(p, f"too many pixels for Pillow's bomb guard ({e}); {hint}") from None
        except OSError as e:  # errno set: the file system refused; unset: Pillow did
            what = "cannot read" if e.errno is not None else "corrupt or truncated image"
            raise fail(p, f"{what} ({error_reason(e)})") from e
        with im:
            fmt = "JPEG" if im.format == "MPO" else str(im.format)
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format != "MPO":  # MPO: a photo plus previews; the photo
                raise fail(
                    p,
                    f"has {frames} frames (an animation or a multi-page file);"
                    " srmeta upscales single images",
                )
            w, h = im.size
            if w <= 0 or h <= 0:
                raise fail(p, f"image has zero size ({w}x{h})")
            if w * h > max_pixels:
                raise fail(
                    p,
                    f"image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,}; "
                    "use --max-pixels to raise the limit if the file is trusted",
                )
            try:
                colour, alpha = decode(p, im)
            except _DECODE_ERRORS as e:
                raise fail(p, f"corrupt or truncated {fmt} file ({error_reason(e)})") from e
            metadata = read_metadata(im)  # after decoding: reading EXIF may load the image
    lossless = fmt == "WEBP" and webp_is_lossless(p)
    return ImageData(colour, alpha, fmt, lossless=lossless, metadata=metadata)


def to_bit_depth(x: torch.Tensor, bit_depth: int) -> np.ndarray:
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
        a = to_bit_depth(alpha, depth)
    c = np.ascontiguousarray(to_bit_depth(colour, depth).transpose(1, 2, 0))
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
        raise fail(p, f"{fmt} cannot store an alpha channel; write PNG, WebP or TIFF instead")
    encode = _encoder(p, fmt, image, quality)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise fail(p, f"cannot create directory {p.parent} ({error_reason(e)})") from e
    _atomic_write(p, encode, force)


def _encoder(p: Path, fmt: str, image: ImageData, quality: int) -> Callable[[BinaryIO], None]:
    colour, alpha = image.colour, image.alpha
    wide = image.bit_depth == 16 and fmt in ("PNG", "TIFF")
    if wide and (alpha is not None or not image.is_gray):  # beyond Pillow: pypng / tifffile
        pack = write_png16 if fmt == "PNG" else write_tiff16
        module = optional_codec("png" if fmt == "PNG" else "tifffile", p, f"16-bit colour {fmt}")
        return lambda f: pack(module, f, colour, alpha)
    if image.bit_depth == 16 and not wide:
        colour = to_8bit(colour)
        alpha = None if alpha is None else to_8bit(alpha)
    planes = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=2)
    pil = Image.fromarray(np.ascontiguousarray(planes[..., 0] if planes.shape[2] == 1 else planes))
    options: dict[str, object] = {
        "JPEG": {"quality": quality, "subsampling": 0},
        "WEBP": {"lossless": True} if image.lossless else {"quality": quality},
        "TIFF": {"compression": "tiff_adobe_deflate"} if features.check("libtiff") else {},
    }.get(fmt, {})
    keys = METADATA_KEYS.get(fmt, ())
    options.update({k: v for k, v in image.metadata.items() if k in keys})
    return lambda f: pil.save(f, format=fmt, **options)


def _atomic_write(p: Path, encode: Callable[[BinaryIO], None], force: bool) -> None:
    """Encode through :func:`srmeta.atomic.atomic_open`; OS failures become ImageError."""
    try:
        with atomic_open(p, force, ImageError) as f:
            encode(f)
    except OSError as e:
        raise fail(p, f"cannot write ({error_reason(e)})") from e
