"""``srmeta adapt --choose kfold``: every pair is held out once, and fine-tuning is kept only
if it beats the starting model on pairs it never trained on.

Two or three held-out pairs rank strategies by those pairs' content more than by the camera:
in the meta grid, adapt's hold-out ranked fine-tuning last where the test sets ranked it
first (docs/experiments.md). Holding out every pair once puts the verdict on all of them:

1. the pairs are split into folds (one pair each, up to :data:`DEFAULT_FOLDS` pairs; more
   are dealt into that many groups, or ``folds`` groups); fold ``i`` fine-tunes the starting
   model on the other pairs and scores its own every ``eval_every`` steps;
2. at each check, fine-tuning's held-out gain is the mean over all pairs of the fold scores
   minus the starting model's; the refit length is the last check within ``tie_db`` of the
   best gain (as :func:`srmeta.training.adapt_choice.refit_length` does for one curve);
3. if the gain there is above 0, fine-tuning trains on every pair for that many steps; else
   the fallback does: Weight-Net meta-learned on every pair (the grid's ``weightnet_best``,
   within 0.016 dB of a pool-only model where fine-tuning lost), or the starting model
   itself when ``weightnet`` is not among the strategies.

The rule is the one the grid and City100 measured (``benchmarks/meta_kfold.py``,
``benchmarks/city100_kfold.py``); there each fold ran its full length, which the refit length
equals whenever the mean curve rises to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from srmeta.errors import SrmetaError
from srmeta.training.adapt_choice import Candidate, refit_length

FINETUNE = "finetune"
FALLBACK = "weightnet"
START = "start"
# Folds when not given: leave-one-out for a handful of pairs (the measured case: 5 pairs),
# and at most this many fine-tuning runs for a larger set, as in 5-fold cross-validation.
DEFAULT_FOLDS = 5

# (strategy, pairs trained on, pairs checked or None, steps, folder) -> the run's folder.
TrainRun = Callable[[str, list[str], "list[str] | None", int, str], Path]
Curve = list[tuple[int, float]]


def fold_groups(names: Sequence[str], folds: int | None = None) -> list[list[str]]:
    """The held-out pairs of each fold: ``folds`` groups (None: :data:`DEFAULT_FOLDS`) dealt
    in turn, so their sizes differ by at most one; one pair each when there are no more
    pairs than folds."""
    n = len(names)
    if n < 2:
        raise SrmetaError(f"adapt needs at least 2 pairs (one to train on, one to check); got {n}")
    if folds is not None and folds < 2:
        raise SrmetaError(f"--folds must be at least 2, got {folds}")
    count = min(DEFAULT_FOLDS if folds is None else folds, n)
    return [list(names[i::count]) for i in range(count)]


@dataclass
class Fold:
    """One fold: the pairs it held out, the starting model's mean on them, its curve."""

    held_out: list[str]
    start_psnr: float
    curve: Curve = field(default_factory=list)


@dataclass
class KfoldChoice:
    """What the folds say: fine-tuning's held-out gain at each check, the refit length and
    the gain there, and the strategy trained on every pair (or ``start``)."""

    gain_curve: Curve
    steps: int
    gain: float
    chosen: str


def pooled_gain(folds: Sequence[Fold]) -> Curve:
    """Fine-tuning's gain over the starting model at each check, averaged over every pair:
    a fold's mean counts once per pair it held out. Only checks every fold reached count."""
    total = sum(len(f.held_out) for f in folds)
    steps = set.intersection(*(set(step for step, _ in f.curve) for f in folds))
    pooled = []
    for step in sorted(steps):
        gains = [len(f.held_out) * (dict(f.curve)[step] - f.start_psnr) for f in folds]
        pooled.append((step, sum(gains) / total))
    return pooled


def choose_kfold(folds: Sequence[Fold], tie_db: float, fallback_listed: bool) -> KfoldChoice:
    """The rule of the module docstring, on finished folds."""
    curve = pooled_gain(folds)
    if not curve:
        raise SrmetaError("the folds recorded no held-out checks; lower --eval-every")
    best_step, best = max(curve, key=lambda point: point[1])
    steps = refit_length(Candidate(FINETUNE, best, best_step, curve), tie_db)
    assert steps is not None  # a non-empty curve always names a step
    gain = dict(curve)[steps]
    fallback = FALLBACK if fallback_listed else START
    chosen = FINETUNE if gain > 0 else fallback
    return KfoldChoice(curve, steps, gain, chosen)


def run_folds(
    names: Sequence[str],
    folds: int | None,
    steps: int,
    train_run: TrainRun,
    start_scores: dict[str, float],
    curve_of: Callable[[Path], Curve],
    say: Callable[[str], None],
) -> list[Fold]:
    """Train every fold (resumed from its folder when run again) and read its curve."""
    done = []
    groups = fold_groups(names, folds)
    for i, held in enumerate(groups):
        trained = [n for n in names if n not in held]
        run_dir = train_run(FINETUNE, trained, held, steps, f"fold{i}")
        start = sum(start_scores[n] for n in held) / len(held)
        fold = Fold(held, start, curve_of(run_dir))
        end = f"{fold.curve[-1][1] - start:+.2f} dB" if fold.curve else "no check"
        say(f"fold {i + 1}/{len(groups)}: fine-tuned without {', '.join(held)}: {end}")
        done.append(fold)
    return done
