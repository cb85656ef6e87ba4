"""The grid's selection arm: ``srmeta adapt``'s choice, made from the meta images alone.

Issue 24 asks for one default configuration that is at least fine-tuning where the pool
misleads (A1, A2, B) and within 0.02 dB of uniform where it does not (A3, A4). No single
weighting does both in the grid (docs/experiments.md), so the candidate default is the
procedure ``srmeta adapt`` ships: hold out part of the few-shot pairs, train each strategy
on the rest, keep a strategy only if it beats the fallback on the held-out pairs, prefer a
later (more complex) strategy only if it wins on every held-out pair, and confirm such a
choice on a second, disjoint hold-out. The rules are the package's own
(:mod:`srmeta.training.adapt_choice`), called here unchanged.

What maps to what: adapt's ``finetune``, ``weightnet`` and ``combined`` are the grid's
``finetune_meta``, ``weightnet_best`` and ``weightnet_mixed``. Adapt's fallback is its
starting model; the grid's warm start is a half-trained model that every arm trains for
2000 more steps, so the fallback here is ``uniform`` (those steps on the pool alone, the
pairs unused). The chosen strategy is then trained on all the meta images: that run is the
grid's arm of that name, so the selection arm's test scores are the chosen arm's (the
grid's arms all train the same steps; adapt's refit-length rule is not used).

Trial runs (``<arm>@1``, ``<arm>@2`` for the two splits) train on the split's training
images only, and the split's held-out images leave the pool as well (``data.train.exclude``),
so no compared run has seen them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from meta_grid import Budget, Setting, arm_config, trial_config, warm_config

SELECT = "select"
CANDIDATES = ("finetune_meta", "weightnet_best", "weightnet_mixed")  # adapt's default order
FALLBACK = "uniform"
RULE = "consistent"
TUNED = "finetune_meta"  # the k-fold arm's trials (meta_kfold) fine-tune only


def trial_arm(arm: str, split: int) -> str:
    return f"{arm}@{split}"


def parse_trial(name: str) -> tuple[str, int] | None:
    """``(arm, split)`` of a trial run's name, None for any other arm."""
    arm, sep, split = name.partition("@")
    return (arm, int(split)) if sep else None


def fold_arm(fold: int) -> str:
    """The k-fold arm's trial holding out the ``fold``-th meta image (:mod:`meta_kfold`)."""
    return f"{TUNED}#{fold}"


def parse_fold(name: str) -> tuple[str, int] | None:
    """``(arm, fold)`` of a fold trial's name, None for any other arm."""
    arm, sep, fold = name.partition("#")
    return (arm, int(fold)) if sep else None


def fold_split(names: list[str], fold: int) -> tuple[list[str], list[str]]:
    """``(train, held_out)``: fold ``i`` holds out the ``i``-th meta image by name."""
    held = sorted(names)[fold]
    return [n for n in names if n != held], [held]


def meta_names(setting: Setting, budget: Budget, seed: int, draw: int, data_root: str) -> list:
    """The stems of the cell's meta images (the draw picks them), as the warm start has them."""
    from srmeta.config import validate_config
    from srmeta.data.meta import resolve_meta_files

    cfg = warm_config(setting, budget, seed, "unused", draw)
    cfg["data_root"] = data_root
    meta = validate_config(cfg).data.meta
    assert meta is not None
    return [p.stem for p in resolve_meta_files(meta, data_root)]


def splits(names: list[str], seed: int) -> list[tuple[list[str], list[str]] | None]:
    """``[(train, held_out) of split 1, of split 2 or None]``: adapt's default hold-out
    (a quarter, rounded up) and its confirmation split, drawn by the cell's seed."""
    from srmeta.training.adapt_choice import confirm_split, split_pairs

    first = split_pairs(names, None, seed)
    return [first, confirm_split(*first, seed)]


def base_arm(name: str) -> str:
    """The arm a trial or fold run trains (the name itself for any other run)."""
    return name.partition("@")[0].partition("#")[0]


def held_out_split(name: str, names: list[str], seed: int) -> tuple[list[str], list[str]] | None:
    """``(train, held_out)`` meta images of a trial (``<arm>@<split>``) or fold
    (``<arm>#<i>``) run, None for a run on all of them."""
    trial = parse_trial(name)
    if trial is not None:
        split = splits(names, seed)[trial[1] - 1]
        if split is None:
            raise SystemExit(f"{name}: {len(names)} meta images leave no second split")
        return split
    fold = parse_fold(name)
    return fold_split(names, fold[1]) if fold is not None else None


def run_config(
    setting: Setting,
    name: str,
    budget: Budget,
    seed: int,
    folder: str,
    init: str,
    draw: int,
    data_root: str,
) -> tuple[dict[str, Any], list[str] | None]:
    """The training config of any run but the warm start, and for a trial or fold the meta
    images it holds out (None for a run on all of them)."""
    cfg = arm_config(setting, base_arm(name), budget, seed, folder, init, draw)
    split = held_out_split(name, meta_names(setting, budget, seed, draw, data_root), seed)
    if split is None:
        return cfg, None
    return trial_config(cfg, *split), split[1]


def held_out_scores(
    model_file: Path, names: list[str], setting: Setting, budget: Budget, data_root: str
) -> dict[str, float]:
    """PSNR (the protocol) per held-out meta image, LR made by the setting's target
    degradation, as the meta pairs are. The model is passed as a network: the warm start
    records every meta image as one evaluation must refuse, but only these are held out."""
    from srmeta.data.benchmarks import HRDataset, find_dataset
    from srmeta.evaluation import evaluate
    from srmeta.models.loading import load_model

    dataset = find_dataset(budget.meta_dataset, data_root)
    files = tuple(f for f in dataset.files if f.stem in set(names))
    assert len(files) == len(names), (names, files)
    report = evaluate(
        load_model(model_file, 4),
        [HRDataset("held-out", dataset.folder, files)],
        [4],
        degradation=setting.target_degradation,
        data_root=data_root,
        hr_crop=budget.hr_crop,
    )
    return {r.image: r.psnr for r in report.images}


def candidate(arm: str, held_out: dict[str, float]) -> Any:
    from srmeta.training.adapt_choice import Candidate

    return Candidate(arm, sum(held_out.values()) / len(held_out), None, held_out=held_out)


def select(
    names: list[str],
    seed: int,
    fallback_scores: Callable[[list[str]], dict[str, float]],
    trial: Callable[[str, int], dict[str, Any]],
) -> dict[str, Any]:
    """Choose for one cell, as adapt does; returns the choice and the evidence.

    ``fallback_scores(held)``: the fallback's held-out scores; ``trial(arm, split)``: the
    record of that trial run, trained first if needed (the split-2 trials run only when a
    confirmation asks for them)."""
    from srmeta.training.adapt_choice import choose, choose_confirmed

    first, second = splits(names, seed)
    start = fallback_scores(first[1])
    candidates = [candidate(arm, trial(arm, 1)["held_out"]) for arm in CANDIDATES]
    confirmations: list[dict[str, Any]] = []

    def confirm(simplest: Any, best: Any) -> bool:
        assert second is not None
        start2 = fallback_scores(second[1])
        simple2, best2 = (
            candidate(c.strategy, trial(c.strategy, 2)["held_out"]) for c in (simplest, best)
        )
        confirmed = choose([simple2, best2], start2, RULE) is best2
        confirmations.append(
            {
                "simplest": simplest.strategy,
                "choice": best.strategy,
                "held_out": second[1],
                "fallback": start2,
                "scores": {simple2.strategy: simple2.held_out, best2.strategy: best2.held_out},
                "confirmed": confirmed,
            }
        )
        return confirmed

    best = choose_confirmed(candidates, start, RULE, confirm if second is not None else None)
    return {
        "choice": best.strategy if best is not None else FALLBACK,
        "splits": [first, second],
        "fallback_held_out": start,
        "candidates": {c.strategy: c.held_out for c in candidates},
        "confirmations": confirmations,
    }
