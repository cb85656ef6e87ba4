"""A randomised *realistic* degradation for blind real-world SR, after Real-ESRGAN's
second-order model (Wang et al., 2021).

The classic model (:mod:`srmeta.degrade`) blurs, downsamples and adds noise once; real
photos have been through several such steps (camera, editing, resizing, re-upload), each
with its own blur, resampling, sensor or shot noise and JPEG. Training on one clean step
leaves a network that fails on such images, so this chain runs two rounds of

    blur (Gaussian-family or sinc) -> random resize -> Gaussian / Poisson noise -> JPEG

(the second round's blur only with a chance), then the final resize to ``H/s x W/s`` and,
in random order, a sinc filter (ringing) and a last JPEG. The fields, their defaults and the
``realistic`` short string are :mod:`srmeta.realspec`.

As for :class:`~srmeta.degrade.Degradation`, image ``i`` draws every choice from
``rng_for(seed, i)``: the LR is a pure function of (spec, image, index), so a training
batch or a cached LR image can be rebuilt alone. Work is float32 on the 0..255 scale (the
chain is random by design; float64 would only cost time), and uint8 stays uint8 as long as
no stage has touched it, so with every stage off but a bicubic final resize the output is
MATLAB's ``imresize`` on uint8 bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from srmeta.degrade import jpeg_roundtrip, rng_for
from srmeta.errors import DegradationError
from srmeta.kernels import (
    anisotropic_kernel,
    convolve_fast,
    generalized_kernel,
    isotropic_kernel,
    plateau_kernel,
    sinc_kernel,
)
from srmeta.pixels import to_uint8
from srmeta.realspec import (
    BlurStage,
    FinalStage,
    NoiseStage,
    RealisticSpec,
    ResizeMode,
    ResizeStage,
    RoundStage,
    diff_tokens,
    parse_realistic_tokens,
)
from srmeta.resize import imresize

_GRAY = (0.299, 0.587, 0.114)  # luma of Real-ESRGAN's gray noise (ITU-R BT.601)
FINAL_SINC_SIZE = 21  # final sinc kernels are zero-padded to this size, as Real-ESRGAN
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class ResizeDraw:
    """A drawn resize: factor (1 = keep) and mode."""

    factor: float
    mode: ResizeMode


@dataclass(frozen=True)
class NoiseDraw:
    """Drawn noise: ``gaussian`` sigma in 8-bit levels, or ``poisson`` scale; gray or colour."""

    kind: str
    strength: float
    gray: bool


@dataclass(frozen=True, eq=False)
class RoundDraw:
    """One round's drawn values; None where the stage is off or its chance did not come up."""

    kernel: np.ndarray | None
    resize: ResizeDraw | None
    noise: NoiseDraw | None
    jpeg: int | None


@dataclass(frozen=True, eq=False)
class RealisticSample:
    """Everything drawn for one image except the noise fields (drawn while applying)."""

    rounds: tuple[RoundDraw | None, RoundDraw | None]
    final_mode: ResizeMode
    sinc: np.ndarray | None
    sinc_first: bool
    jpeg: int | None


def _uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    """Uniform in ``[low, high]``; always one draw, so fixed values keep the stream layout."""
    return float(r[0] + (r[1] - r[0]) * rng.random())


def _odd(rng: np.random.Generator, r: tuple[int, int]) -> int:
    """An odd size, uniform over the odd values of ``[low, high]`` (both odd)."""
    return int(r[0] + 2 * rng.integers(0, (r[1] - r[0]) // 2 + 1))


def _quality(rng: np.random.Generator, r: tuple[int, int]) -> int:
    return int(r[0] + rng.integers(0, r[1] - r[0] + 1))


def _kept(rng: np.random.Generator, value: T, prob: float) -> T | None:
    """``value`` with chance ``prob``, else None. It is drawn before the chance either way,
    and a certain event draws nothing, so chains written before a stage had a chance keep
    their random stream, and their images, bit for bit."""
    return value if prob >= 1.0 or rng.random() < prob else None


def _choice(rng: np.random.Generator, weights: Iterable[tuple[str, float]]) -> str:
    """A name drawn with chances proportional to its weight (weights sum > 0)."""
    names, values = zip(*weights, strict=True)
    p = np.array(values, dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def draw_kernel(rng: np.random.Generator, blur: BlurStage) -> np.ndarray:
    """A blur kernel: sinc with chance ``sinc_prob`` (cut-off in ``[π/3, π]``, or
    ``[π/5, π]`` for sizes from 13, where a low cut-off still fits its ringing), otherwise
    the Gaussian-family kind drawn from the weights."""
    size = _odd(rng, blur.size)
    if rng.random() < blur.sinc_prob:
        low = math.pi / 3 if size < 13 else math.pi / 5
        return sinc_kernel(_uniform(rng, (low, math.pi)), size)
    kind = _choice(rng, blur.kernels.items())
    sx = _uniform(rng, blur.sigma)
    sy = _uniform(rng, blur.sigma) if kind.endswith("aniso") else sx
    angle = _uniform(rng, (-90.0, 90.0)) if kind.endswith("aniso") else 0.0
    if kind.startswith("generalized"):
        return generalized_kernel(sx, sy, angle, _uniform(rng, blur.beta_generalized), size)
    if kind.startswith("plateau"):
        return plateau_kernel(sx, sy, angle, _uniform(rng, blur.beta_plateau), size)
    return isotropic_kernel(sx, size) if kind == "iso" else anisotropic_kernel(sx, sy, angle, size)


def draw_resize(rng: np.random.Generator, resize: ResizeStage) -> ResizeDraw:
    """Up / down / keep by the weights, the factor uniform on that side of 1, a mode."""
    direction = _choice(rng, [("up", resize.up), ("down", resize.down), ("keep", resize.keep)])
    if direction == "up":
        factor = _uniform(rng, (1.0, resize.scale[1]))
    elif direction == "down":
        factor = _uniform(rng, (resize.scale[0], 1.0))
    else:
        factor = 1.0
    return ResizeDraw(factor, resize.modes[int(rng.integers(len(resize.modes)))])


def draw_noise(rng: np.random.Generator, noise: NoiseStage) -> NoiseDraw:
    """Gaussian or Poisson, its strength, gray or colour."""
    if rng.random() < noise.gaussian_prob:
        kind, strength = "gaussian", _uniform(rng, noise.sigma)
    else:
        kind, strength = "poisson", _uniform(rng, noise.poisson)
    return NoiseDraw(kind, strength, bool(rng.random() < noise.gray_prob))


def draw_round(rng: np.random.Generator, stage: RoundStage) -> RoundDraw:
    """A round's values in stage order; a blur whose chance fails is None."""
    kernel = None
    if stage.blur is not None and rng.random() < stage.blur.prob:
        kernel = draw_kernel(rng, stage.blur)
    resize = draw_resize(rng, stage.resize) if stage.resize is not None else None
    noise = None
    if stage.noise is not None:
        noise = _kept(rng, draw_noise(rng, stage.noise), stage.noise.prob)
    jpeg = None
    if stage.jpeg is not None:
        jpeg = _kept(rng, _quality(rng, stage.jpeg), stage.jpeg_prob)
    return RoundDraw(kernel, resize, noise, jpeg)


def draw_final(rng: np.random.Generator, final: FinalStage) -> tuple[Any, ...]:
    """Final mode, sinc kernel (zero-padded to 21 so every size has one support) or None,
    sinc-before-JPEG, JPEG quality."""
    mode = final.modes[int(rng.integers(len(final.modes)))]
    sinc = None
    if rng.random() < final.sinc_prob:
        kernel = sinc_kernel(_uniform(rng, final.cutoff), _odd(rng, final.sinc_size))
        pad = max(0, (FINAL_SINC_SIZE - kernel.shape[0]) // 2)
        sinc = np.pad(kernel, pad)
    sinc_first = bool(rng.random() < 0.5)
    jpeg = None
    if final.jpeg is not None:
        jpeg = _kept(rng, _quality(rng, final.jpeg), final.jpeg_prob)
    return mode, sinc, sinc_first, jpeg


# ---------------------------------------------------------------- applying


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32) if x.dtype == torch.uint8 else x


def resize_to(x: torch.Tensor, size: tuple[int, int], mode: ResizeMode) -> torch.Tensor:
    """``C x H x W`` (uint8 or float 0..255) to ``size``; bicubic keeps uint8 (MATLAB's uint8
    path), area and bilinear give float32. A same-size resize returns ``x`` untouched."""
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "bicubic":
        return imresize(x, size=size)
    out = F.interpolate(_as_float(x)[None], size=size, mode=mode, **_corners(mode))
    return out[0]


def _corners(mode: ResizeMode) -> dict[str, Any]:
    # area takes neither argument; bilinear without antialias, as camera / web resizers
    return {"align_corners": False, "antialias": False} if mode == "bilinear" else {}


def add_noise(x: torch.Tensor, noise: NoiseDraw, rng: np.random.Generator) -> torch.Tensor:
    """Noise on the 0..255 scale, clamped to [0, 255] as a sensor saturates.

    Poisson (shot) noise follows Real-ESRGAN: the image's distinct 8-bit levels, rounded up
    to a power of two, stand for the photon count at full scale, so the noise variance grows
    with brightness; ``strength`` scales the noise.
    """
    x = _as_float(x)
    channels = 1 if noise.gray else x.shape[0]
    if noise.kind == "gaussian":
        field = rng.standard_normal((channels, *x.shape[1:]), dtype=np.float32)
        return (x + noise.strength * torch.from_numpy(field)).clamp(0, 255)
    unit = x.clamp(0, 255) / 255.0
    base = _gray(unit) if noise.gray and x.shape[0] == 3 else unit
    levels = int((torch.bincount(to_uint8(x).flatten(), minlength=256) > 0).sum())
    vals = 2.0 ** math.ceil(math.log2(max(levels, 1)))
    counts = rng.poisson(base.numpy().astype(np.float64) * vals).astype(np.float32)
    shot = (torch.from_numpy(counts) / vals - base) * 255.0
    return (x + noise.strength * shot).clamp(0, 255)


def _gray(unit: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_GRAY, dtype=unit.dtype).view(3, 1, 1)
    return (unit * w).sum(0, keepdim=True)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Round to 8 bits (saturating) and JPEG round trip: always uint8 out."""
    return jpeg_roundtrip(x if x.dtype == torch.uint8 else to_uint8(x), quality)


def blur(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Mirror-padded convolution (:func:`srmeta.kernels.convolve_fast`), float32 out."""
    return convolve_fast(_as_float(x), kernel)


def run_round(
    x: torch.Tensor, draw: RoundDraw, base: tuple[int, int], rng: np.random.Generator
) -> torch.Tensor:
    """One round. The resize factor applies to ``base``: the HR size in the first round,
    the final LR size in the second (as Real-ESRGAN), so the second round never strays far
    from the size it must end at, whatever the first did."""
    if draw.kernel is not None:
        x = blur(x, draw.kernel)
    if draw.resize is not None:
        size = (
            max(1, round(base[0] * draw.resize.factor)),
            max(1, round(base[1] * draw.resize.factor)),
        )
        x = resize_to(x, size, draw.resize.mode)
    if draw.noise is not None:
        x = add_noise(x, draw.noise, rng)
    if draw.jpeg is not None:
        x = jpeg(x, draw.jpeg)
    return x


class RealisticDegradation(RealisticSpec):
    """Real-ESRGAN-like second-order degradation; see the module docstring.

    Same interface as :class:`~srmeta.degrade.Degradation`: :meth:`apply` on uint8 (or
    float in [0, 1]) ``C x H x W`` or ``B x C x H x W``, :meth:`to_string`, :meth:`key`,
    :attr:`name`.
    """

    @classmethod
    def parse(cls, text: str) -> RealisticDegradation:
        """``"realistic"``, ``"realistic seed:3"``, ``"realistic second:off final.jpeg:50-95"``:
        the word, then ``field.path:value`` tokens
        (:func:`~srmeta.realspec.parse_realistic_tokens`)."""
        return cls(**parse_realistic_tokens(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RealisticDegradation:
        """Validate a mapping (``kind: realistic`` optional); errors are DegradationError."""
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-safe mapping, every field written out, that :meth:`from_dict` reads back."""
        return self.model_dump(mode="json")

    def to_string(self) -> str:
        """Canonical short string: ``realistic`` and the fields that differ from the defaults;
        ``parse(d.to_string()) == d``."""
        return " ".join(["realistic", *(f"{k}:{v}" for k, v in diff_tokens(self))])

    def key(self) -> str:
        """12 hex chars of sha256 over the canonical JSON (every field), for cache folders."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        """Short filesystem-safe label: ``realistic``, ``realistic_seed3``, plus ``_custom``
        when other fields differ from the defaults (the key tells those apart)."""
        tokens = diff_tokens(self)
        parts = ["realistic"] + [f"seed{v}" for k, v in tokens if k == "seed"]
        return "_".join(parts + (["custom"] if any(k != "seed" for k, _ in tokens) else []))

    def sample(self, rng: np.random.Generator) -> RealisticSample:
        """Draw one image's values (rounds in order, then the final step)."""
        rounds = tuple(
            draw_round(rng, r) if r is not None else None for r in (self.first, self.second)
        )
        mode, sinc, sinc_first, quality = draw_final(rng, self.final)
        return RealisticSample((rounds[0], rounds[1]), mode, sinc, sinc_first, quality)

    def apply(
        self, hr: torch.Tensor, scale: int, index: int = 0, quantize: bool = True
    ) -> torch.Tensor:
        """Degrade ``C x H x W`` or ``B x C x H x W``; batch element ``b`` is image ``index + b``.

        uint8 in -> uint8 out; float in [0, 1] -> the same dtype in [0, 1]. The LR is always
        on 8-bit levels (``quantize`` is accepted for the common interface): JPEG is part of
        the chain, and real LR images are 8-bit files. Output is ``ceil(H/s) x ceil(W/s)``.
        """
        if hr.dim() not in (3, 4):
            raise ValueError(f"expected C x H x W or B x C x H x W, got shape {tuple(hr.shape)}")
        if isinstance(scale, bool) or int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        if not (hr.dtype == torch.uint8 or hr.is_floating_point()):
            raise TypeError(f"degrade takes uint8 or floating point tensors, not {hr.dtype}")
        if hr.shape[-3] not in (1, 3):
            raise DegradationError(
                f"realistic degradation needs 1 or 3 channels, got {hr.shape[-3]}"
            )
        batch = hr if hr.dim() == 4 else hr[None]
        outs = [self._apply_one(img, int(scale), index + b) for b, img in enumerate(batch)]
        out = torch.stack(outs)
        return out if hr.dim() == 4 else out[0]

    def _apply_one(self, img: torch.Tensor, scale: int, index: int) -> torch.Tensor:
        rng = rng_for(self.seed, index)
        s = self.sample(rng)
        device = img.device
        x = img.cpu() if img.dtype == torch.uint8 else (img.cpu().float() * 255.0)
        height, width = x.shape[-2:]
        lr_size = (math.ceil(height / scale), math.ceil(width / scale))
        for draw, base in zip(s.rounds, ((height, width), lr_size), strict=True):
            if draw is not None:
                x = run_round(x, draw, base, rng)
        x = resize_to(x, lr_size, s.final_mode)
        if s.sinc is not None and s.sinc_first:
            x = blur(x, s.sinc)
        if s.jpeg is not None:
            x = jpeg(x, s.jpeg)
        if s.sinc is not None and not s.sinc_first:
            x = blur(x, s.sinc)
        out = x if x.dtype == torch.uint8 else to_uint8(x)
        if img.dtype == torch.uint8:
            return out.to(device)
        return (out.to(torch.float64) / 255.0).to(dtype=img.dtype, device=device)
