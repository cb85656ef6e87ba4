"""The written form of a :class:`~srmeta.degrade_real.RealisticDegradation`: its validated
fields, their Real-ESRGAN-like defaults, and the ``realistic`` short-string tokens.

A realistic spec is a tree: two rounds (``first``, ``second``) of blur, resize, noise and
JPEG, then the ``final`` resize, sinc filter and JPEG. Any stage can be switched off with
``null`` in YAML (``off`` in a string). Given fields are merged into the defaults of *their*
place in the tree, so ``second: {blur: {prob: 0.5}}`` changes one number and keeps the
second round's own (milder) defaults for everything else; a whole round has no one class
default because the two rounds differ. How the chain is applied is :mod:`srmeta.degrade_real`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from srmeta.degradespec import MAX_KERNEL, IntRange, Range, Spec, fmt_range
from srmeta.errors import DegradationError
from srmeta.schema import Float, as_list

KernelKind = Literal[
    "iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"
]
ResizeMode = Literal["area", "bilinear", "bicubic"]
MODES: tuple[ResizeMode, ...] = ("area", "bilinear", "bicubic")

Prob = Annotated[Float, Field(ge=0.0, le=1.0)]
"""A probability in [0, 1]; booleans are refused (``prob: yes`` is a slip, not 1.0)."""
Weight = Annotated[Float, Field(ge=0.0)]


def _unique(modes: list[ResizeMode]) -> list[ResizeMode]:
    if len(set(modes)) != len(modes):
        raise ValueError(f"resize modes repeat: {modes}")
    return modes


Modes = Annotated[
    list[ResizeMode], BeforeValidator(as_list), Field(min_length=1), AfterValidator(_unique)
]
"""Resize modes drawn from with equal chances; one word or a list."""


def _positive(name: str, r: tuple[float, float]) -> None:
    if r[0] <= 0:
        raise ValueError(f"{name} must be > 0, got {fmt_range(r)}")


def _non_negative(name: str, r: tuple[float, float]) -> None:
    if r[0] < 0:
        raise ValueError(f"{name} must be >= 0, got {fmt_range(r)}")


def _check_jpeg(q: tuple[int, int] | None) -> None:
    if q is not None and not (q[0] >= 1 and q[1] <= 100):
        raise ValueError(f"jpeg quality must lie in 1..100, got {fmt_range(q)}")


class Stage(BaseModel):
    """Strict, frozen base of the stages. Unlike :class:`~srmeta.degradespec.Spec` it keeps
    pydantic's own ``__init__``: a custom one runs for nested models too and would turn an
    error into a message without its path (``first.blurr``); the enclosing
    :class:`RealisticSpec` makes the one-line DegradationError with the full path."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BlurStage(Stage):
    """One blur: with chance ``prob``, a kernel of odd size drawn from ``size``, either a
    sinc (chance ``sinc_prob``) or a Gaussian-family kernel whose kind is drawn with the
    relative ``kernels`` weights, sigmas from ``sigma`` (per axis for the ``*_aniso`` kinds,
    with a uniform angle), shape exponent β from ``beta_generalized`` / ``beta_plateau``.
    """

    prob: Prob = 1.0
    kernels: dict[KernelKind, Weight] = Field(
        default_factory=lambda: {
            "iso": 0.45,
            "aniso": 0.25,
            "generalized_iso": 0.12,
            "generalized_aniso": 0.03,
            "plateau_iso": 0.12,
            "plateau_aniso": 0.03,
        }
    )
    size: IntRange = (7, 21)
    sigma: Range = (0.2, 3.0)
    beta_generalized: Range = (0.5, 4.0)
    beta_plateau: Range = (1.0, 2.0)
    sinc_prob: Prob = 0.1

    @model_validator(mode="after")
    def _check(self) -> BlurStage:
        if not self.kernels or sum(self.kernels.values()) <= 0:
            raise ValueError("kernels needs at least one kind with a positive weight")
        if self.size[0] % 2 == 0 or self.size[1] % 2 == 0 or self.size[0] < 1:
            raise ValueError(f"blur sizes must be odd and positive, got {fmt_range(self.size)}")
        if self.size[1] > MAX_KERNEL:
            raise ValueError(f"blur size at most {MAX_KERNEL}, got {self.size[1]}")
        _positive("sigma", self.sigma)
        _positive("beta_generalized", self.beta_generalized)
        _positive("beta_plateau", self.beta_plateau)
        return self


class ResizeStage(Stage):
    """A random resize: up, down or keep with the relative weights ``up`` / ``down`` /
    ``keep``; the factor is uniform in ``[1, scale[1]]`` up or ``[scale[0], 1]`` down; the
    mode is drawn from ``modes`` (``bicubic`` is MATLAB's antialiased ``imresize``; ``area``
    and ``bilinear`` are torch's, without antialiasing, so downscaling can alias as cheap
    camera pipelines do)."""

    up: Weight = 0.2
    down: Weight = 0.7
    keep: Weight = 0.1
    scale: Range = (0.15, 1.5)
    modes: Modes = Field(default_factory=lambda: list(MODES))

    @model_validator(mode="after")
    def _check(self) -> ResizeStage:
        if self.up + self.down + self.keep <= 0:
            raise ValueError("resize needs a positive weight in up, down or keep")
        if not (0 < self.scale[0] <= 1 <= self.scale[1] <= 4):
            raise ValueError(
                f"resize scale must satisfy 0 < low <= 1 <= high <= 4, got {fmt_range(self.scale)}"
            )
        return self


class NoiseStage(Stage):
    """With chance ``prob`` (a clean sensor at base ISO adds next to none), Gaussian noise
    (chance ``gaussian_prob``; sigma in 8-bit levels from ``sigma``) or else Poisson (shot)
    noise scaled by ``poisson``; the same noise on every channel (gray) with chance
    ``gray_prob``, otherwise independent per channel (colour)."""

    prob: Prob = 1.0
    gaussian_prob: Prob = 0.5
    sigma: Range = (1.0, 30.0)
    poisson: Range = (0.05, 3.0)
    gray_prob: Prob = 0.4

    @model_validator(mode="after")
    def _check(self) -> NoiseStage:
        _non_negative("sigma", self.sigma)
        _non_negative("poisson", self.poisson)
        return self


class RoundStage(Stage):
    """One round of the chain: blur, resize, noise, JPEG (quality drawn from ``jpeg``, applied
    with chance ``jpeg_prob``: not every camera file was a JPEG), each skipped when null. The
    class defaults are the first round's."""

    blur: BlurStage | None = Field(default_factory=BlurStage)
    resize: ResizeStage | None = Field(default_factory=ResizeStage)
    noise: NoiseStage | None = Field(default_factory=NoiseStage)
    jpeg: IntRange | None = (20, 95)
    jpeg_prob: Prob = 1.0

    @model_validator(mode="after")
    def _check(self) -> RoundStage:
        _check_jpeg(self.jpeg)
        return self


class FinalStage(Stage):
    """The last step, always run: a resize to exactly ``H/s x W/s`` with a mode drawn from
    ``modes``, then, in random order, a sinc filter (chance ``sinc_prob``, cut-off in radians
    per pixel from ``cutoff``, size from ``sinc_size``) and JPEG (quality from ``jpeg``,
    chance ``jpeg_prob``)."""

    modes: Modes = Field(default_factory=lambda: list(MODES))
    sinc_prob: Prob = 0.8
    cutoff: Range = (math.pi / 3, math.pi)
    sinc_size: IntRange = (7, 21)
    jpeg: IntRange | None = (20, 95)
    jpeg_prob: Prob = 1.0

    @model_validator(mode="after")
    def _check(self) -> FinalStage:
        _check_jpeg(self.jpeg)
        if not (self.cutoff[0] > 0 and self.cutoff[1] <= math.pi):
            raise ValueError(f"sinc cutoff must lie in (0, pi], got {fmt_range(self.cutoff)}")
        if self.sinc_size[0] % 2 == 0 or self.sinc_size[1] % 2 == 0 or self.sinc_size[0] < 1:
            raise ValueError(f"sinc sizes must be odd, got {fmt_range(self.sinc_size)}")
        if self.sinc_size[1] > MAX_KERNEL:
            raise ValueError(f"sinc size at most {MAX_KERNEL}, got {self.sinc_size[1]}")
        return self


SECOND_ROUND: dict[str, Any] = {
    "blur": {"prob": 0.8, "sigma": (0.2, 1.5)},
    "resize": {"up": 0.3, "down": 0.4, "keep": 0.3, "scale": (0.3, 1.2)},
    "noise": {"sigma": (1.0, 25.0), "poisson": (0.05, 2.5)},
}
"""Where the second round's defaults differ from the first's (Real-ESRGAN's second order:
milder blur applied with chance 0.8, a narrower resize range, less noise)."""
_DEFAULTS: dict[str, Any] = {"first": {}, "second": SECOND_ROUND, "final": {}}
_LEAF_MAPPINGS = {"kernels"}  # mappings given whole, never merged into the defaults


def merge_defaults(default: Any, given: Any, key: str = "") -> Any:
    """``given`` laid over ``default``: mappings merge key by key, anything else replaces
    (``None`` switches a stage off); a ``kernels`` mapping replaces as a whole, so naming one
    kind means only that kind."""
    if not (isinstance(given, dict) and isinstance(default, dict)) or key in _LEAF_MAPPINGS:
        return given
    out = dict(default)
    for k, v in given.items():
        out[k] = merge_defaults(default[k], v, k) if k in default else v
    return out


class RealisticSpec(Spec):
    """The fields of a realistic degradation; see the module docstring and the stages."""

    kind: Literal["realistic"] = "realistic"
    first: RoundStage | None = Field(default_factory=RoundStage)
    second: RoundStage | None = Field(default_factory=lambda: RoundStage(**SECOND_ROUND))
    final: FinalStage = Field(default_factory=FinalStage)
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _merge(cls, data: Any) -> Any:
        return merge_defaults(_DEFAULTS, data) if isinstance(data, dict) else data


# ---------------------------------------------------------------- short-string tokens

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(rf"({_NUM})(?:-({_NUM}))?")
_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")


def _parse_value(text: str, token: str) -> Any:
    """``off`` -> None, ``a=1,b=2`` -> mapping, ``x,y`` -> list, ``A`` / ``A-B`` -> number /
    range, any other word -> itself."""
    if text == "off":
        return None
    if "=" in text:
        pairs = [item.partition("=") for item in text.split(",")]
        if any(not k or not sep or not v for k, sep, v in pairs):
            raise DegradationError(f"bad mapping {text!r} in {token!r} (name=number,...)")
        return {k: _parse_value(v, token) for k, _, v in pairs}
    if "," in text:
        return [_parse_value(item, token) for item in text.split(",")]
    m = _NUMBER_RE.fullmatch(text)
    if m is not None:
        return float(m[1]) if m[2] is None else (float(m[1]), float(m[2]))
    if _NAME_RE.fullmatch(text):
        return text
    raise DegradationError(f"bad value {text!r} in realistic token {token!r}")


def parse_realistic_tokens(text: str) -> dict[str, Any]:
    """The fields named by ``"realistic seed:3 first.jpeg:50-95 second:off"``, unvalidated.

    After the leading word, each token is ``path:value`` with ``path`` a dotted field path
    (``final.sinc_prob``, ``first.blur.kernels``) and ``value`` as :func:`_parse_value`.
    """
    words = text.split()
    if not words or words[0] != "realistic":
        raise DegradationError(f"a realistic degradation starts with 'realistic', got {text!r}")
    fields: dict[str, Any] = {}
    for token in words[1:]:
        path, sep, value = token.partition(":")
        names = path.split(".")
        if not sep or not value or not all(_NAME_RE.fullmatch(n) for n in names):
            raise DegradationError(f"bad realistic token {token!r} (field.path:value)")
        node = fields
        for name in names[:-1]:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise DegradationError(f"realistic token {token!r} conflicts with an earlier one")
        if names[-1] in node:
            raise DegradationError(f"realistic field {path!r} given twice (at {token!r})")
        node[names[-1]] = _parse_value(value, token)
    return fields


def _fmt_value(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, dict):
        return ",".join(f"{k}={_fmt_value(v)}" for k, v in value.items())
    if isinstance(value, tuple):
        return fmt_range(value)
    if isinstance(value, list):
        return ",".join(_fmt_value(v) for v in value)
    return fmt_range((value, value)) if isinstance(value, (int, float)) else str(value)


def diff_tokens(spec: RealisticSpec) -> list[tuple[str, str]]:
    """``(dotted path, value)`` of every leaf that differs from the defaults, in field order:
    the canonical short string's tokens (a stage switched off is one ``path:off``)."""
    out: list[tuple[str, str]] = []

    def walk(path: str, value: Any, default: Any) -> None:
        leaf = path.rsplit(".", 1)[-1] in _LEAF_MAPPINGS
        if isinstance(value, dict) and isinstance(default, dict) and not leaf:
            for k, v in value.items():
                walk(f"{path}.{k}" if path else k, v, default.get(k))
        elif value != default:
            out.append((path, _fmt_value(value)))

    walk("", spec.model_dump(exclude={"kind"}), RealisticSpec().model_dump(exclude={"kind"}))
    return out
