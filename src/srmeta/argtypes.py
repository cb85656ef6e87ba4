"""Command-line value types shared by every ``srmeta`` command, so each kind of number is
checked one way: argparse turns a refusal into ``srmeta <cmd>: error: ...`` and exit 2."""

from __future__ import annotations

import argparse
import math


def _int_within(text: str, low: int, high: float, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int_within(text, 1, math.inf, "a positive integer")


def count(text: str) -> int:
    """An integer >= 0."""
    return _int_within(text, 0, math.inf, "a whole number >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0 (not NaN, not infinity)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got '{text}'")
    return value


def int_list(text: str) -> list[int]:
    """Comma-separated integers >= 1."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got '{text}'"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got '{text}'")
    return values


def name_list(text: str) -> list[str]:
    """Comma-separated non-empty names."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected at least one name")
    return values


def quality(text: str) -> int:
    """A JPEG/WebP quality, 1..100."""
    return _int_within(text, 1, 100, "a quality 1..100")
