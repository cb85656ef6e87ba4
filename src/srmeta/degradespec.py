"""The written form of a :class:`~srmeta.degrade.Degradation`: validated fields and tokens.

Field types (a value or a ``[low, high]`` range), the strict pydantic base whose errors are
one-line :class:`~srmeta.errors.DegradationError` messages, the blur description, and the
short-string tokens (``"blur:iso:1.2 down:bicubic noise:5"``) read into fields and numbers
written back. How a degradation is applied to images is :mod:`srmeta.degrade`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    FiniteFloat,
    ValidationError,
    model_validator,
)

from srmeta.errors import DegradationError
from srmeta.schema import one_line

MAX_KERNEL = 201  # pixels; sigma 33: wider Gaussians are a typo, not a camera
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_RANGE_RE = re.compile(rf"({_NUM})(?:-({_NUM}))?")


def _parse_range(text: str, token: str) -> float | tuple[float, float]:
    m = _RANGE_RE.fullmatch(text)
    if m is None:
        raise DegradationError(f"bad number {text!r} in degradation token {token!r}")
    return float(m[1]) if m[2] is None else (float(m[1]), float(m[2]))


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def fmt_range(r: tuple[float, float]) -> str:
    """A range as the short string writes it: ``A``, or ``A-B`` when the ends differ."""
    return _fmt(r[0]) if r[0] == r[1] else f"{_fmt(r[0])}-{_fmt(r[1])}"


def _as_pair(value: Any) -> Any:
    """A fixed value ``v`` becomes ``(v, v)`` so fixed and random values share one code path."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) != 2:
        raise ValueError(f"a range needs exactly two values [low, high], got {len(value)}")
    return value


def _ordered(value: tuple[Any, Any]) -> tuple[Any, Any]:
    if value[0] > value[1]:
        raise ValueError(f"range low {value[0]} is above high {value[1]}")
    return value


Range = Annotated[
    tuple[FiniteFloat, FiniteFloat], BeforeValidator(_as_pair), AfterValidator(_ordered)
]
"""A float or ``[low, high]``, sampled uniformly per image; stored as ``(low, high)``."""
IntRange = Annotated[tuple[int, int], BeforeValidator(_as_pair), AfterValidator(_ordered)]


def _one_line(err: ValidationError) -> str:
    return one_line(err, "bad degradation: ", unknown="unknown field {where!r}", show_input=False)


class Spec(BaseModel):
    """Frozen, strict-keyed base whose validation errors surface as one-line DegradationError."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise DegradationError(_one_line(err)) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as err:
            raise DegradationError(_one_line(err)) from None


class Blur(Spec):
    """A blur kernel κ: isotropic / anisotropic Gaussian, or a kernel read from a file.

    ``size`` (odd) is the Gaussian support. By default it is ``2 * ceil(3 * sigma_max) + 1``
    (at least 3) with ``sigma_max`` the *upper bound* of the spec's ranges: ±3σ keeps 99.7 %
    of the mass per axis, a fixed 21 would truncate σ > 3.3 and waste work for small σ, and
    taking the bound (not the drawn σ) gives every image of a pool the same support.
    """

    kind: Literal["iso", "aniso", "file"]
    sigma: Range | None = None
    sigma_x: Range | None = None
    sigma_y: Range | None = None
    angle: Range = (0.0, 0.0)
    path: str | None = None
    size: int | None = None

    @model_validator(mode="after")
    def _check(self) -> Blur:
        given = {f for f in ("sigma", "sigma_x", "sigma_y", "path") if getattr(self, f) is not None}
        need = {"iso": {"sigma"}, "aniso": {"sigma_x", "sigma_y"}, "file": {"path"}}[self.kind]
        if given != need:
            raise ValueError(f"blur kind {self.kind!r} takes {sorted(need)}, got {sorted(given)}")
        if self.kind != "aniso" and self.angle != (0.0, 0.0):
            raise ValueError(f"blur kind {self.kind!r} takes no angle")
        if any(r[0] <= 0 for r in self.values[:2]):
            raise ValueError(f"blur sigmas must be positive, got {self.values[:2]}")
        if self.size is not None and self.kind == "file":
            raise ValueError("file kernels take no size; the file sets it")
        if self.size is not None and (self.size < 1 or self.size % 2 == 0):
            raise ValueError(f"blur size must be an odd positive int, got {self.size}")
        if self.kind != "file" and self.kernel_size > MAX_KERNEL:
            raise ValueError(
                f"blur kernel of {self.kernel_size} pixels is too large (at most {MAX_KERNEL};"
                f" sigma at most {(MAX_KERNEL - 1) // 6})"
            )
        return self

    @property
    def values(self) -> list[tuple[float, float]]:
        """The Gaussian ranges in string order: ``[sigma]`` or ``[sigma_x, sigma_y, angle]``."""
        names = {"iso": ["sigma"], "aniso": ["sigma_x", "sigma_y", "angle"]}.get(self.kind, [])
        return [getattr(self, n) for n in names]

    @property
    def kernel_size(self) -> int:
        """Gaussian support (see class docstring); file kernels keep their own shape."""
        if self.size is not None:
            return self.size
        sigma_max = max(r[1] for r in self.values[:2])
        return max(3, 2 * math.ceil(3 * sigma_max) + 1)


def parse_tokens(text: str) -> dict[str, Any]:
    """The fields named by a short string (see :meth:`Degradation.parse`), unvalidated."""
    fields: dict[str, Any] = {}

    def put(name: str, value: Any, token: str) -> None:
        if name in fields:
            raise DegradationError(f"degradation field {name!r} given twice (at {token!r})")
        fields[name] = value

    for token in text.split():
        head, _, rest = token.partition(":")
        if token in ("bicubic", "direct"):
            put("down", token, token)
        elif head == "down" and rest in ("bicubic", "direct"):
            put("down", rest, token)
        elif head in ("noise", "jpeg") and rest:
            put(head, _parse_range(rest, token), token)
        elif head == "seed":
            if not re.fullmatch(r"\d+", rest):
                raise DegradationError(f"bad seed {rest!r} in {token!r} (an int >= 0)")
            put("seed", int(rest), token)
        elif head == "blur":
            put("blur", _parse_blur(rest, token), token)
        else:
            raise DegradationError(f"unknown degradation token {token!r}")
    return fields


def _parse_blur(rest: str, token: str) -> dict[str, Any]:
    kind, _, args = rest.partition(":")
    if kind == "file" and args:
        return {"kind": "file", "path": args}
    if kind not in ("iso", "aniso"):
        raise DegradationError(f"bad blur kind {kind!r} in {token!r} (iso, aniso or file)")
    values, _, size = args.partition(":")
    out: dict[str, Any] = {"kind": kind}
    if size:
        if not size.isdigit():
            raise DegradationError(f"bad blur size {size!r} in {token!r}")
        out["size"] = int(size)
    parts = values.split(",")
    names = ["sigma"] if kind == "iso" else ["sigma_x", "sigma_y", "angle"]
    if len(parts) != len(names):
        raise DegradationError(f"blur:{kind} takes {len(names)} value(s) in {token!r}")
    out.update({n: _parse_range(p, token) for n, p in zip(names, parts, strict=True)})
    return out
