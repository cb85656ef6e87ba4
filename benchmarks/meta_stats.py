"""Paired statistics of the meta-weighting experiments.

Every arm of a (setting, seed) is scored on the same test images, so the comparison with
``uniform`` is per image: d[seed, image] = PSNR_arm - PSNR_uniform. The reported mean is
over seeds and images (all test sets pooled, each image once); the 95% interval is a
two-level bootstrap (resample seeds, then images, with replacement), which carries both
the training noise between seeds and the spread over images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Scores = Mapping[str, float]  # "<dataset>/<image>" -> PSNR


def paired_seeds(arm: Mapping[int, Scores], base: Mapping[int, Scores]) -> list[int]:
    """The seeds both have: the rows of :func:`paired_deltas`, in order."""
    return sorted(set(arm) & set(base))


def paired_deltas(arm: Mapping[int, Scores], base: Mapping[int, Scores]) -> np.ndarray:
    """``seeds x images`` matrix of arm - base, over the seeds and images both have."""
    seeds = paired_seeds(arm, base)
    if not seeds:
        return np.zeros((0, 0))
    images = sorted(set.intersection(*(set(arm[s]) & set(base[s]) for s in seeds)))
    return np.array([[arm[s][i] - base[s][i] for i in images] for s in seeds], dtype=float)


def bootstrap_ci(
    deltas: np.ndarray, rounds: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of ``deltas`` (seeds x images), two-level bootstrap.

    With one seed only the images are resampled (the interval then ignores seed noise).
    """
    if deltas.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    n_seeds, n_images = deltas.shape
    means = np.empty(rounds)
    for k in range(rounds):
        rows = rng.integers(n_seeds, size=n_seeds) if n_seeds > 1 else np.zeros(1, dtype=int)
        cols = rng.integers(n_images, size=(len(rows), n_images))
        means[k] = deltas[rows[:, None], cols].mean()
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return (float(lo), float(hi))


def pooled_mean(per_seed: Mapping[int, Scores]) -> float:
    """Mean PSNR over seeds and all images."""
    values = [v for scores in per_seed.values() for v in scores.values()]
    return float(np.mean(values)) if values else float("nan")


def set_means(per_seed: Mapping[int, Scores], sets: Sequence[str]) -> dict[str, float]:
    """Mean PSNR per test set, over seeds and that set's images."""
    out = {}
    for name in sets:
        values = [v for s in per_seed.values() for k, v in s.items() if k.split("/")[0] == name]
        if values:
            out[name] = float(np.mean(values))
    return out


FOCUS = "weightnet_best"  # the arm the targets are about; compared with every arm
MIN_GAP_DB = 0.05  # an oracle gain below this is no gap: a share of it would be noise


def gap_closed(arm: float, uniform: float, oracle: float) -> float | None:
    """Share of the uniform -> oracle gap the arm closes; None when the oracle does not
    gain at least :data:`MIN_GAP_DB` (then there is no gap to close)."""
    gap = oracle - uniform
    return None if gap < MIN_GAP_DB else float((arm - uniform) / gap)


def summarise_setting(
    results: Mapping[str, Mapping[int, dict[str, Any]]], sets: Sequence[str]
) -> dict[str, Any]:
    """The JSON block of one setting from ``arm -> seed -> result`` (see meta_experiments)."""
    scores = {arm: {s: r["scores"] for s, r in by_seed.items()} for arm, by_seed in results.items()}
    uniform = scores.get("uniform", {})
    oracle_mean = pooled_mean(scores["oracle"]) if "oracle" in scores else None
    uniform_mean = pooled_mean(uniform) if uniform else None
    uniform_time = _mean_time(results.get("uniform", {}))
    arms: dict[str, Any] = {}
    for arm, by_seed in results.items():
        deltas = paired_deltas(scores[arm], uniform)
        mean = float(deltas.mean()) if deltas.size else None
        lo, hi = bootstrap_ci(deltas) if deltas.size else (None, None)
        arm_mean = pooled_mean(scores[arm])
        closed = None
        if oracle_mean is not None and uniform_mean is not None:
            closed = gap_closed(arm_mean, uniform_mean, oracle_mean)
        shares = [
            r["corrupt_weight_share"]
            for r in by_seed.values()
            if r.get("corrupt_weight_share") is not None
        ]
        time = _mean_time(by_seed)
        arms[arm] = {
            "seeds": sorted(by_seed),
            "delta_per_seed": (
                dict(
                    zip(
                        paired_seeds(scores[arm], uniform),
                        deltas.mean(axis=1).tolist(),
                        strict=True,
                    )
                )
                if deltas.size
                else {}
            ),
            "psnr": set_means(scores[arm], sets),
            "psnr_all": arm_mean,
            "delta_vs_uniform": {"mean": mean, "ci95": [lo, hi]},
            "gap_closed": closed,
            "corrupt_weight_share": float(np.mean(shares)) if shares else None,
            "step_time_ratio": time / uniform_time if time and uniform_time else None,
            "commits": sorted({r["commit"] for r in by_seed.values()}),
        }
    gap = oracle_mean - uniform_mean if oracle_mean is not None and uniform_mean else None
    block: dict[str, Any] = {"oracle_gap_db": gap, "arms": arms}
    if FOCUS in scores:
        block[f"{FOCUS}_vs"] = head_to_head(scores, FOCUS)
    return block


def head_to_head(
    scores: Mapping[str, Mapping[int, Scores]], focus: str
) -> dict[str, dict[str, Any]]:
    """``focus`` minus every other arm, paired per seed and image (positive: ``focus`` is
    better), with the same two-level interval: "beats arm X" needs its interval above 0,
    which two overlapping intervals against uniform cannot show."""
    out = {}
    for arm in sorted(set(scores) - {focus}):
        deltas = paired_deltas(scores[focus], scores[arm])
        if deltas.size:
            lo, hi = bootstrap_ci(deltas)
            out[arm] = {"mean": float(deltas.mean()), "ci95": [lo, hi]}
    return out


def _mean_time(by_seed: Mapping[int, dict[str, Any]]) -> float | None:
    times = [r["sec_per_step"] for r in by_seed.values() if r.get("sec_per_step")]
    return float(np.mean(times)) if times else None
