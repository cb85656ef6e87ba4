"""The classic SISR degradation model ``I_low = (I_high ⊗ κ)↓s + n``, optionally then JPEG.

A :class:`Degradation` is a frozen, validated description (parsed from a short string such
as ``"blur:iso:1.2 down:bicubic noise:5"`` or from YAML) so that it can name cache folders
(:meth:`Degradation.key`) and be logged next to results. Any parameter may be a range
``[low, high]``; image ``i`` of a pool draws its own values from ``rng_for(seed, i)``, so a
whole degraded data set follows from the spec alone and every image can be rebuilt on its own.
The fields' types and the short-string tokens are :mod:`srmeta.degradespec`.

The default spec (``""`` or ``"bicubic"``) on uint8 input is MATLAB's ``imresize(HR, 1/s)``
bit for bit, which is what published benchmark tables use.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml
from PIL import Image
from pydantic import model_validator

from srmeta import yamlio
from srmeta.degradespec import Blur, IntRange, Range, Spec, fmt_range, parse_tokens
from srmeta.errors import DegradationError
from srmeta.kernels import anisotropic_kernel, convolve, isotropic_kernel, load_kernel
from srmeta.pixels import to_uint8
from srmeta.resize import imresize


@dataclass(frozen=True, eq=False)
class DegradationSample:
    """Concrete values drawn for one image; ``kernel`` is float64 summing to 1 (or None)."""

    kernel: np.ndarray | None
    sigma_x: float | None = None
    sigma_y: float | None = None
    angle: float | None = None
    noise: float = 0.0
    jpeg: int | None = None


def rng_for(seed: int, index: int) -> np.random.Generator:
    """The generator for image ``index`` of a pool degraded with ``seed``.

    ``SeedSequence([seed, index])`` gives statistically independent streams per image that do
    not depend on pool size, iteration order or worker count, so image ``i`` can be rebuilt
    alone. Parameters are drawn first (:meth:`Degradation.sample`), then the noise field.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Pillow JPEG round trip in memory of a uint8 ``C x H x W`` (C = 1 or 3), default 4:2:0."""
    channels = x.shape[0]
    if channels not in (1, 3):
        raise DegradationError(f"jpeg needs 1 or 3 channels, got {channels}")
    mode = "L" if channels == 1 else "RGB"
    arr = np.ascontiguousarray(x[0].cpu().numpy() if channels == 1 else x.cpu().permute(1, 2, 0))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))  # L or RGB by shape
    with Image.open(buf) as out:
        dec = np.array(out.convert(mode)).reshape(x.shape[1], x.shape[2], channels)
    return torch.from_numpy(dec).permute(2, 0, 1).to(x.device)


def is_spec_file(spec: str) -> bool:
    """Whether ``--degradation`` names a YAML file (``.yaml`` / ``.yml``) or is a short string."""
    return spec.strip().lower().endswith((".yaml", ".yml"))


def read_spec_file(spec: str) -> dict[str, Any]:
    """The mapping of fields in a degradation YAML file; unreadable or not a mapping is a
    one-line DegradationError."""
    try:
        data = yamlio.safe_load(Path(spec.strip()).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DegradationError(f"cannot read degradation file {spec}: {first}") from None
    if not isinstance(data, dict):
        raise DegradationError(f"degradation file {spec} must hold a mapping of fields")
    return data


def _draw(rng: np.random.Generator, r: tuple[float, float]) -> float:
    """Uniform in ``[low, high]``; always one draw so the stream layout ignores fixed values."""
    return float(r[0] + (r[1] - r[0]) * rng.random())


class Degradation(Spec):
    """``I_low = (I_high ⊗ κ)↓s + n`` then optional JPEG; see the module docstring.

    ``down="direct"`` keeps pixel ``[0::s, 0::s]`` of the blurred image (USRNet / DPSR's
    s-fold sampler): the top-left pixel of each s x s block, i.e. a phase shift of
    ``(s - 1) / 2`` HR pixels against bicubic, whose samples sit at block centres.
    ``noise`` is the Gaussian sigma in 8-bit levels (0 = none); ``jpeg`` a quality in 1..100.
    """

    blur: Blur | None = None
    down: Literal["bicubic", "direct"] = "bicubic"
    noise: Range = (0.0, 0.0)
    jpeg: IntRange | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> Degradation:
        if self.noise[0] < 0:
            raise ValueError(f"noise sigma must be >= 0, got {self.noise[0]}")
        if self.jpeg is not None and not (self.jpeg[0] >= 1 and self.jpeg[1] <= 100):
            raise ValueError(f"jpeg quality must lie in 1..100, got {self.jpeg}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        return self

    @classmethod
    def parse(cls, text: str) -> Degradation:
        """Parse ``"blur:iso:1.2 down:bicubic noise:0-10 jpeg:30-95 seed:3"`` (any order).

        Tokens: ``blur:iso:S[:SIZE]``, ``blur:aniso:SX,SY,ANGLE[:SIZE]``, ``blur:file:PATH``
        (no whitespace in PATH; use YAML for such paths), ``down:bicubic|direct`` (or the bare
        word), ``noise:S``, ``jpeg:Q``, ``seed:N``. Numbers may be ranges ``A-B``.
        """
        return cls(**parse_tokens(text))

    def _tokens(self) -> list[tuple[str, str]]:
        """(field, value) pairs of the canonical form; defaults other than ``down`` left out."""
        out = []
        if (b := self.blur) is not None:
            vals = b.path if b.kind == "file" else ",".join(fmt_range(r) for r in b.values)
            out.append(("blur", f"{b.kind}:{vals}" + (f":{b.size}" if b.size else "")))
        out.append(("down", self.down))
        if self.noise != (0.0, 0.0):
            out.append(("noise", fmt_range(self.noise)))
        if self.jpeg is not None:
            out.append(("jpeg", fmt_range(self.jpeg)))
        if self.seed:
            out.append(("seed", str(self.seed)))
        return out

    def to_string(self) -> str:
        """Canonical string form; ``Degradation.parse(d.to_string()) == d``."""
        return " ".join(f"{k}:{v}" for k, v in self._tokens())

    @classmethod
    def from_spec(cls, spec: str) -> Degradation:
        """A short string, or the path of a YAML file (``.yaml`` / ``.yml``) holding the fields."""
        if not is_spec_file(spec):
            return cls.parse(spec)
        return cls.from_dict(read_spec_file(spec))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Degradation:
        """Validate a mapping (e.g. ``yaml.safe_load`` output); errors are DegradationError."""
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-safe mapping (ranges as lists) that :meth:`from_dict` reads back."""
        return self.model_dump(mode="json")

    def key(self) -> str:
        """12 hex chars of sha256 over the canonical JSON, for cache folder names.

        A file kernel contributes its content digest, so editing the file changes the key.
        """
        data = self.to_dict()
        if self.blur is not None and self.blur.kind == "file":
            kernel = load_kernel(self.blur.path or "")
            data["kernel_sha256"] = hashlib.sha256(kernel.tobytes()).hexdigest()
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        """Readable, filesystem-safe label, e.g. ``iso1.2_bicubic_noise5``; ``bicubic`` default."""
        parts = []
        for k, v in self._tokens():
            if k == "blur" and self.blur is not None and self.blur.kind == "file":
                v = "file-" + Path(self.blur.path or "").stem
            parts.append(v.replace(":", "") if k in ("blur", "down") else k + v)
        return re.sub(r"[^A-Za-z0-9.,_+-]", "-", "_".join(parts))

    @property
    def is_plain_bicubic(self) -> bool:
        """No blur, noise or JPEG: the benchmark LR (MATLAB ``imresize`` on uint8)."""
        plain = self.blur is None and self.jpeg is None and self.noise == (0.0, 0.0)
        return plain and self.down == "bicubic"

    def sample(self, rng: np.random.Generator) -> DegradationSample:
        """Draw one image's parameters: blur values, then noise sigma, then JPEG quality."""
        kernel, sx, sy, angle = None, None, None, None
        b = self.blur
        if b is not None and b.kind == "file":
            kernel = load_kernel(b.path or "")
        elif b is not None and b.kind == "iso":
            sx = sy = _draw(rng, b.values[0])
            kernel = isotropic_kernel(sx, b.kernel_size)
        elif b is not None:
            sx, sy, angle = (_draw(rng, r) for r in b.values)
            kernel = anisotropic_kernel(sx, sy, angle, b.kernel_size)
        noise = _draw(rng, self.noise) if self.noise != (0.0, 0.0) else 0.0
        jpeg = None
        if self.jpeg is not None:
            jpeg = int(self.jpeg[0] + rng.integers(0, self.jpeg[1] - self.jpeg[0] + 1))
        return DegradationSample(
            kernel=kernel, sigma_x=sx, sigma_y=sy, angle=angle, noise=noise, jpeg=jpeg
        )

    def apply(
        self, hr: torch.Tensor, scale: int, index: int = 0, quantize: bool = True
    ) -> torch.Tensor:
        """Degrade ``C x H x W`` or ``B x C x H x W``; batch element ``b`` is image ``index + b``.

        uint8 in -> uint8 out. Float in is taken as [0, 1] and returned in [0, 1] in its dtype:
        rounded to 8-bit levels when ``quantize`` (or JPEG is on), otherwise left unrounded and
        unclamped (clamping would bias the noise near black and white). Work is float64 on
        the 0..255 scale so noise sigmas are in 8-bit levels. Output is ``ceil(H/s) x ceil(W/s)``.
        """
        if hr.dim() not in (3, 4):
            raise ValueError(f"expected C x H x W or B x C x H x W, got shape {tuple(hr.shape)}")
        if isinstance(scale, bool) or int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        scale = int(scale)
        is_uint8 = hr.dtype == torch.uint8
        if not (is_uint8 or hr.is_floating_point()):
            raise TypeError(f"degrade takes uint8 or floating point tensors, not {hr.dtype}")
        if is_uint8 and self.is_plain_bicubic:
            return imresize(hr, 1 / scale)  # MATLAB's uint8 path: per-pass rounding.
        batch = hr if hr.dim() == 4 else hr[None]
        outs = [self._apply_one(img, scale, index + b, quantize) for b, img in enumerate(batch)]
        out = torch.stack(outs)
        return out if hr.dim() == 4 else out[0]

    def _apply_one(self, img: torch.Tensor, scale: int, index: int, quantize: bool) -> torch.Tensor:
        rng = rng_for(self.seed, index)
        s = self.sample(rng)
        x = img.to(torch.float64)
        if img.dtype != torch.uint8:
            x = x * 255.0
        if s.kernel is not None:
            x = convolve(x, s.kernel)
        x = imresize(x, 1 / scale) if self.down == "bicubic" else x[..., ::scale, ::scale]
        if s.noise > 0:
            noise = torch.from_numpy(rng.standard_normal(tuple(x.shape))).to(x.device)
            x = x + s.noise * noise
        if img.dtype == torch.uint8 or quantize or s.jpeg is not None:
            x = to_uint8(x)
            if s.jpeg is not None:
                x = jpeg_roundtrip(x, s.jpeg)
            if img.dtype == torch.uint8:
                return x
            x = x.to(torch.float64)
        return (x / 255.0).to(img.dtype)
