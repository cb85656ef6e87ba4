"""``srmeta adapt``: from a user's few real LR-HR pairs and a starting model to a model of
their camera, choosing how to train by what pairs it did not train on say.

By default (``choose="kfold"``, :mod:`srmeta.training.adapt_kfold`) every pair is held out
once while fine-tuning trains on the others (``candidates/fold<i>/``); fine-tuning's gain over
the starting model, pooled over every pair, decides whether it trains on all the pairs
(``candidates/refit/``) or Weight-Net does: the rule measured in the meta grid and on City100
(docs/experiments.md, docs/city100.md).

With ``choose="holdout"`` the pairs are split once, by a seeded draw: ``holdout`` pairs are
never trained on; the rest are the few-shot set. Each strategy
(:mod:`srmeta.training.adapt_settings`: finetune, weightnet, combined) trains from the
starting model's weights, is scored on the held-out pairs every ``eval_every`` steps and keeps
its best weights (early stopping). The choice (:mod:`srmeta.training.adapt_choice`) prefers
the simpler strategy: a later one replaces it only if it scores higher on every held-out pair,
and then again on a second, disjoint hold-out (``confirm``), else it is set aside. The chosen
strategy is then trained again on every pair, held-out ones included, for the number of steps
its held-out score held (``refit``: the last check within ``refit_tie_db`` of its best). If
no strategy beats the starting model on the held-out pairs, the starting model is kept and
the report says so. The held-out pairs chose the model, so they are recorded in it as images
evaluation must not score, like the pairs it trained on.

Everything lives in one folder: ``candidates/<strategy>/``, ``candidates/fold<i>/``,
``candidates/confirm/<strategy>/`` and ``candidates/refit/`` (ordinary run folders, resumed
when the command is run again), then ``model_best.safetensors`` and ``adapt.json`` (the
splits or folds, every run's held-out curve and per-pair scores, the choice and the gain),
written last and atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from srmeta.atomic import atomic_open, atomic_write_text, check_writable
from srmeta.config import PairsConfig, validate_config
from srmeta.data.benchmarks import find_dataset
from srmeta.data.camera_blur import BlurFit, fit_blur
from srmeta.data.pairs import PairDataset, load_pairs, selected_files
from srmeta.degradations import parse_degradation
from srmeta.errors import SrmetaError
from srmeta.evaluation import evaluate
from srmeta.models.bundled import display_name, resolve_model_name
from srmeta.models.files import read_model_file, weights_file
from srmeta.models.loading import load_model
from srmeta.models.registry import inference_form
from srmeta.training.adapt_choice import (
    Candidate,
    choose,
    choose_confirmed,
    confirm_split,
    refit_length,
    split_pairs,
)
from srmeta.training.adapt_kfold import (
    FALLBACK,
    FINETUNE,
    START,
    Fold,
    KfoldChoice,
    choose_kfold,
    run_folds,
)
from srmeta.training.adapt_settings import (
    ALL_STRATEGIES,
    CHOICES,
    FIT,
    KFOLD,
    POOL_DEGRADATION,
    AdaptSettings,
    named_pairs,
    strategy_config,
)
from srmeta.training.loop import BEST_MODEL, train
from srmeta.training.runlog import read_records
from srmeta.training.warm_start import LAST_MODEL

REPORT = "adapt.json"


@dataclass
class AdaptResult:
    out_dir: Path
    start: str
    start_psnr: float
    chosen: str  # a strategy, or "start" when none beat the starting model
    # The choice's held-out score: None for a kfold fallback to weightnet, which no pair
    # checked (the folds test fine-tuning only).
    chosen_psnr: float | None
    train_pairs: list[str]
    holdout_pairs: list[str]
    candidates: list[Candidate]
    # With refit: the chosen strategy retrained on every pair for this many steps (the
    # model then has no held-out score of its own; chosen_psnr is the choice's).
    refit_steps: int | None = None
    # Each second hold-out a more complex strategy had to win (adapt_choice module).
    confirmations: list[dict[str, Any]] = field(default_factory=list)
    # With choose="kfold": each fold and what they decided (adapt_kfold).
    folds: list[Fold] = field(default_factory=list)
    kfold: KfoldChoice | None = None

    @property
    def gain(self) -> float | None:
        return None if self.chosen_psnr is None else self.chosen_psnr - self.start_psnr


def _check_inputs(settings: AdaptSettings, data_root: str | None) -> None:
    unknown = [s for s in settings.strategies if s not in ALL_STRATEGIES]
    if unknown or not settings.strategies:
        known = ", ".join(ALL_STRATEGIES)
        raise SrmetaError(f"unknown strategy {', '.join(unknown) or '(none)'}; choose from {known}")
    if settings.choose not in CHOICES:
        raise SrmetaError(f"unknown choice {settings.choose!r}; choose from {', '.join(CHOICES)}")
    uses_pool = [s for s in settings.strategies if s != FINETUNE]
    if settings.choose == KFOLD:
        if FINETUNE not in settings.strategies:
            raise SrmetaError(
                "--choose kfold (the default) tests fine-tuning: list finetune in --strategies,"
                " or use --choose holdout"
            )
        uses_pool = [s for s in uses_pool if s == FALLBACK]
    if settings.pool_degradation != FIT:
        try:
            parse_degradation(settings.pool_degradation)
        except SrmetaError as err:
            raise SrmetaError(f"--pool-degradation: {err}") from None
    if uses_pool:
        for name in settings.pool:  # the pool is needed; a missing set fails now, not later
            try:
                find_dataset(name, data_root)
            except SrmetaError as err:
                raise SrmetaError(
                    f"{err} (the generic pool that weightnet, combined and mixed train on;"
                    " or adapt with --strategies finetune)"
                ) from None


def _per_pair(model: Path, held_out: PairDataset, scale: int) -> dict[str, float]:
    """Per held-out pair PSNR. The candidates record these pairs as ones they must not be
    scored on (they chose the weights); here that choice is what is being made, so the
    network is passed as a module, which evaluation takes as it is."""
    net = inference_form(load_model(str(model), scale, trained=True))
    return {row.image: row.psnr for row in evaluate(net, [held_out], [scale]).images}


def _curve(run_dir: Path) -> list[tuple[int, float]]:
    return [
        (int(r["step"]), float(r["psnr"]))
        for r in read_records(run_dir / "metrics.jsonl")
        if r.get("kind") == "val" and "psnr" in r
    ]


def adapt(
    pairs: PairsConfig,
    settings: AdaptSettings,
    out_dir: str | os.PathLike,
    data_root: str | None = None,
    force: bool = False,
    progress: bool = False,
    say: Callable[[str], None] = print,
) -> AdaptResult:
    """Adapt ``settings.start`` to the camera of ``pairs`` (module docstring)."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise SrmetaError(f"-o {out}: is a file; give a folder")
    for name in (REPORT, BEST_MODEL):
        check_writable(out / name, force)
    _check_inputs(settings, data_root)
    start_file = weights_file(resolve_model_name(settings.start, settings.scale))
    _, spec = read_model_file(start_file)
    if spec.scale is not None and spec.scale != settings.scale:
        raise SrmetaError(f"--from {settings.start} is x{spec.scale}, not x{settings.scale}")
    found = selected_files(pairs)
    # Every pair is read and checked before any training: a bad pair fails in seconds.
    loaded = load_pairs(found, settings.scale, pairs.align, min_lr_side=settings.lr_patch)
    names = [p.name for p in found]
    by_name = {p.name: p for p in loaded}
    fits: dict[tuple[str, ...], BlurFit] = {}

    def pool_for(strategy: str, names: list[str]) -> str:
        """The pool's LR for a run on ``names``: with ``fit``, the blur those pairs imply
        (only the pairs a run trains on may shape its data)."""
        if settings.pool_degradation != FIT:
            return settings.pool_degradation
        if strategy == "finetune":
            return POOL_DEGRADATION  # unused by fine-tuning: its config stays the usual one
        key = tuple(sorted(names))
        if key not in fits:
            fits[key] = fit_blur([by_name[n] for n in key], settings.scale)
            say(
                f"{', '.join(key)} look like blur:iso:{fits[key].sigma:g} down:bicubic"
                f" ({fits[key].psnr:.1f} dB): pool LR {fits[key].pool_degradation()}"
            )
        return fits[key].pool_degradation()

    def run(strategy: str, names: list[str], held: list[str] | None, steps: int, folder: str):
        run_dir = out / "candidates" / folder
        s = replace(settings, steps=steps, pool_degradation=pool_for(strategy, names))
        cfg = strategy_config(
            strategy, s, start_file, spec.arch, dict(spec.options), pairs, names, held,
            run_dir, data_root,
        )  # fmt: skip
        return run_dir, train(validate_config(cfg), resume="auto", progress=progress)

    start_label = display_name(settings.start, settings.scale)

    def finish(result: AdaptResult, source: Path, extra: dict[str, Any]) -> AdaptResult:
        """The chosen weights and the report, each written atomically, the report last."""
        out.mkdir(parents=True, exist_ok=True)
        with atomic_open(out / BEST_MODEL, force=True) as handle:
            handle.write(Path(source).read_bytes())
        record = {**asdict(result), "out_dir": str(out), "gain": result.gain, **extra}
        record["settings"] = asdict(settings)
        record["blur_fits"] = [{"pairs": list(k), **asdict(f)} for k, f in fits.items()]
        record["pairs"] = pairs.model_dump()
        atomic_write_text(out / REPORT, json.dumps(record, indent=2) + "\n", force=True)
        return result

    if settings.choose == KFOLD:
        every = PairDataset.from_config(named_pairs(pairs, names), name="pairs")
        start_scores = _per_pair(start_file, every, settings.scale)
        start_psnr = sum(start_scores.values()) / len(start_scores)
        say(f"{len(names)} pairs, each held out once; {start_label} scores"
            f" {start_psnr:.2f} dB on them")  # fmt: skip
        folds = run_folds(
            names, settings.folds, settings.steps, lambda *a: run(*a)[0], start_scores, _curve, say
        )
        kc = choose_kfold(folds, settings.refit_tie_db, FALLBACK in settings.strategies)
        say(f"fine-tuning's held-out gain over {start_label}: {kc.gain:+.2f} dB"
            f" at step {kc.steps}")  # fmt: skip
        source, refit_steps, chosen_psnr = start_file, None, None
        if kc.chosen != START:
            refit_steps = kc.steps if kc.chosen == FINETUNE else settings.steps
            run_dir, _ = run(kc.chosen, names, None, refit_steps or settings.steps, "refit")
            source = run_dir / LAST_MODEL
            chosen_psnr = start_psnr + kc.gain if kc.chosen == FINETUNE else None
            say(f"trained {kc.chosen} on all {len(names)} pairs for {refit_steps} steps")
        result = AdaptResult(
            out, start_label, start_psnr, kc.chosen, chosen_psnr, names, [], [], refit_steps,
            folds=folds, kfold=kc,
        )  # fmt: skip
        return finish(result, source, {})

    train_names, holdout_names = split_pairs(names, settings.holdout, settings.seed)
    held_out = PairDataset.from_config(named_pairs(pairs, holdout_names), name="held-out")
    start_pairs = _per_pair(start_file, held_out, settings.scale)
    start_psnr = sum(start_pairs.values()) / len(start_pairs)
    say(
        f"{len(found)} pairs: {len(train_names)} to train on, {len(holdout_names)} held out"
        f" ({', '.join(holdout_names)}); {start_label} scores {start_psnr:.2f} dB on them"
    )

    def trial(strategies: Sequence[str], names: list[str], held_set: PairDataset, prefix: str):
        """Each strategy trained on ``names`` and checked on ``held_set``, with per-pair
        scores of its best weights."""
        held = [pair.name for pair in held_set.pairs]
        found = []
        for strategy in strategies:
            run_dir, result = run(strategy, names, held, settings.steps, prefix + strategy)
            c = Candidate(strategy, result.best_psnr, result.best_step, _curve(run_dir))
            if c.best_psnr is not None:
                gain = "" if prefix else f" ({c.best_psnr - start_psnr:+.2f} dB)"
                say(f"{prefix}{strategy}: best held-out {c.best_psnr:.2f} dB"
                    f" at step {c.best_step}{gain}")  # fmt: skip
                c.held_out = _per_pair(run_dir / BEST_MODEL, held_set, settings.scale)
            found.append(c)
        return found

    candidates = trial(settings.strategies, train_names, held_out, "")
    confirmations: list[dict[str, Any]] = []
    second = confirm_split(train_names, holdout_names, settings.seed)

    def confirm(simplest: Candidate, best: Candidate) -> bool:
        """Train both again with ``second``'s split; the choice must win there too."""
        assert second is not None
        names2, held2 = second
        held_pairs2 = PairDataset.from_config(named_pairs(pairs, held2), name="held-out")
        start2 = _per_pair(start_file, held_pairs2, settings.scale)
        simple2, best2 = trial([simplest.strategy, best.strategy], names2, held_pairs2, "confirm/")
        confirmed = choose([simple2, best2], start2, settings.selection) is best2
        confirmations.append(
            {
                "strategy": best.strategy,
                "against": simplest.strategy,
                "train_pairs": names2,
                "holdout_pairs": held2,
                "start": start2,
                "held_out": {simplest.strategy: simple2.held_out, best.strategy: best2.held_out},
                "confirmed": confirmed,
            }
        )
        verdict = "confirmed" if confirmed else "not confirmed"
        say(f"{best.strategy} over {simplest.strategy} on {', '.join(held2)}: {verdict}")
        return confirmed

    checked = confirm if settings.confirm and second is not None else None
    best = choose_confirmed(candidates, start_pairs, settings.selection, checked)
    refit_steps = None
    if best is not None and best.best_psnr is not None:
        chosen, chosen_psnr = best.strategy, best.best_psnr
        source = out / "candidates" / best.strategy / BEST_MODEL
        steps = refit_length(best, settings.refit_tie_db)
        if settings.refit and steps:
            # The choice is made; the held-out pairs now train too, as long as was best.
            refit_steps = steps
            everything = train_names + holdout_names
            run_dir, _ = run(best.strategy, everything, None, refit_steps, "refit")
            source = run_dir / LAST_MODEL
            say(f"refit {best.strategy} on all {len(everything)} pairs for {refit_steps} steps")
    else:
        chosen, chosen_psnr, source = "start", start_psnr, start_file
    result = AdaptResult(
        out,
        start_label,
        start_psnr,
        chosen,
        chosen_psnr,
        train_names,
        holdout_names,
        candidates,
        refit_steps,
        confirmations,
    )
    return finish(result, source, {})
