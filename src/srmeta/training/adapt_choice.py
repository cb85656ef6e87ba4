"""How ``srmeta adapt`` splits the pairs and picks a strategy from held-out scores.

With a few pairs, two or three are all that can be held out, and a held-out mean that
favours a strategy by a few hundredths of a dB is mostly noise (on City100, `combined` won
both held-out pairs of one split and scored 0.3-0.5 dB below fine-tuning on the 95 test
pairs). So a strategy must earn its complexity twice: it must beat the simpler one on every
held-out pair (:func:`choose`, the ``consistent`` rule), and then do so again on a second,
disjoint hold-out (:func:`confirm_split`) before it is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from srmeta.errors import SrmetaError


@dataclass
class Candidate:
    """One strategy's outcome on the held-out pairs."""

    strategy: str
    best_psnr: float | None
    best_step: int | None
    curve: list[tuple[int, float]] = field(default_factory=list)
    held_out: dict[str, float] = field(default_factory=dict)  # its best weights, per pair


def split_pairs(names: Sequence[str], holdout: int | None, seed: int) -> tuple[list, list]:
    """``(train, held_out)`` names: ``holdout`` (default ceil(n/4)) drawn by ``seed``."""
    n = len(names)
    count = math.ceil(n / 4) if holdout is None else holdout
    if n < 2:
        raise SrmetaError(f"adapt needs at least 2 pairs (one to train on, one to check); got {n}")
    if not 1 <= count < n:
        raise SrmetaError(f"--holdout must be between 1 and {n - 1} for {n} pairs, got {count}")
    chosen = set(np.random.default_rng(seed).choice(n, count, replace=False).tolist())
    held = [name for i, name in enumerate(names) if i in chosen]
    return [name for name in names if name not in held], held


def confirm_split(
    train: Sequence[str], held_out: Sequence[str], seed: int
) -> tuple[list, list] | None:
    """A second ``(train, held_out)`` split whose held-out pairs are all new: as many as the
    first held out (fewer if needed to leave one to train on), drawn from the first split's
    training pairs; it trains on everything else, the first held-out pairs included. None
    when there is only one training pair to draw from."""
    count = min(len(held_out), len(train) - 1)
    if count < 1:
        return None
    rng = np.random.default_rng([seed, 1])
    chosen = set(rng.choice(len(train), count, replace=False).tolist())
    held = [name for i, name in enumerate(train) if i in chosen]
    rest = [name for name in train if name not in held]
    return sorted([*rest, *held_out]), held


def beat_start(candidates: Sequence[Candidate], start: dict[str, float]) -> list[Candidate]:
    """The candidates, in order, whose held-out mean is above the starting model's."""
    start_mean = sum(start.values()) / len(start)
    scored = [c for c in candidates if c.best_psnr is not None and c.held_out]
    return [c for c in scored if (c.best_psnr or -math.inf) > start_mean]


def choose(
    candidates: Sequence[Candidate], start: dict[str, float], rule: str = "consistent"
) -> Candidate | None:
    """The strategy to keep, or None for the starting model.

    ``mean``: the best mean held-out PSNR, if above the starting model's. ``consistent``:
    the same, except that a strategy is preferred to the one before it in ``candidates``
    (the simpler, ``finetune`` first) only if it scores higher on *every* held-out pair:
    with two or three held-out pairs a mean difference of a few hundredths of a dB is noise,
    and complexity should be paid for by evidence that holds pair by pair."""
    if rule not in ("mean", "consistent"):
        raise SrmetaError(f"unknown selection rule {rule!r}; choose mean or consistent")
    kept = beat_start(candidates, start)
    if not kept:
        return None
    if rule == "mean":
        return max(kept, key=lambda c: c.best_psnr or -math.inf)
    chosen = kept[0]
    for other in kept[1:]:
        if all(other.held_out[n] > chosen.held_out[n] for n in chosen.held_out):
            chosen = other
    return chosen


def choose_confirmed(
    candidates: Sequence[Candidate],
    start: dict[str, float],
    rule: str,
    confirm: Callable[[Candidate, Candidate], bool] | None,
) -> Candidate | None:
    """:func:`choose`, then, while the choice is not the simplest strategy that beats the
    start, ``confirm(simplest, choice)`` must say it wins again elsewhere; a choice that does
    not is set aside and the rest are chosen from. ``confirm=None`` skips the check."""
    best = choose(candidates, start, rule)
    rejected: set[str] = set()
    while confirm is not None and best is not None:
        simplest = beat_start(candidates, start)[0]
        if simplest is best or confirm(simplest, best):
            break
        rejected.add(best.strategy)
        best = choose([c for c in candidates if c.strategy not in rejected], start, rule)
    return best


def refit_length(candidate: Candidate, tie_db: float) -> int | None:
    """How long to train the chosen strategy on every pair: the last checkpoint whose
    held-out score is within ``tie_db`` of its best. Near the end of a run the held-out
    curve of two or three pairs is flat to a few hundredths of a dB, so its argmax is a
    coin toss among the last checkpoints; the refit trains on more pairs, and a tie goes
    to the longer run. A curve that falls by more than ``tie_db`` still stops early."""
    if candidate.best_psnr is None or not candidate.curve:
        return candidate.best_step
    level = candidate.best_psnr - tie_db
    return max(step for step, psnr in candidate.curve if psnr >= level)
