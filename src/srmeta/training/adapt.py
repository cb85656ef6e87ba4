"""``srmeta adapt``: from a user's few real LR-HR pairs and a starting model to a model of
their camera, choosing how to train by what held-out pairs say.

The pairs are split once, by a seeded draw: ``holdout`` pairs are never trained on; the
rest are the few-shot set. Each strategy trains from the starting model's weights:

- ``finetune``: the few-shot pairs as the only training data (uniform L1);
- ``weightnet``: the generic pool (the data root's training sets, synthetic bicubic LR)
  weighted by Weight-Net, meta-learned on the few-shot pairs;
- ``combined``: Weight-Net as above, with each step's few-shot batch also trained on.

The pool's LR is made by a random degradation (:data:`POOL_DEGRADATION`: lens blurs and mild
noise), so that some of its samples resemble a real camera's; Weight-Net's job is to find
them, guided by the pairs.

Every run is scored on the held-out pairs every ``eval_every`` steps and keeps its best
weights (early stopping). The choice (:mod:`srmeta.training.adapt_choice`) prefers the
simpler strategy: a later one replaces it only if it scores higher on every held-out pair,
and then again on a second, disjoint hold-out (``confirm``), else it is set aside. The
chosen strategy is then trained again on every pair, held-out ones included, for the number
of steps its held-out score held (``refit``: the last check within ``refit_tie_db`` of its
best). If no strategy beats the starting model on the held-out
pairs, the starting model is kept and the report says so. The held-out pairs chose the
model, so they are recorded in it as images evaluation must not score, like the pairs it
trained on.

Everything lives in one folder: ``candidates/<strategy>/``,
``candidates/confirm/<strategy>/`` and ``candidates/refit/`` (ordinary run folders, resumed
when the command is run again), then ``model_best.safetensors`` and ``adapt.json`` (the
splits, every strategy's held-out curve and per-pair scores, the choice and the gain),
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
from srmeta.training.loop import BEST_MODEL, train
from srmeta.training.runlog import read_records
from srmeta.training.warm_start import LAST_MODEL

STRATEGIES = ("finetune", "weightnet", "combined")
# ``mixed`` (the pool and the pairs as data, uniform weights) is a baseline, not a default.
ALL_STRATEGIES = (*STRATEGIES, "mixed")
# The pool's LR: a spread of lens blurs and mild sensor noise around the bicubic one, so the
# pool holds samples that resemble a real camera for Weight-Net to pick out; on a purely
# bicubic pool it could only reweight what is unlike every camera.
POOL_DEGRADATION = "blur:iso:0.2-3 noise:0-5 seed:7"
# ``pool_degradation="fit"``: the Gaussian blur the training pairs imply (camera_blur), with
# a spread around it, in place of the broad spread above.
FIT = "fit"
DEFAULT_POOL = ("T91", "General100", "BSDS400")
REPORT = "adapt.json"

# Weight-Net's options for adaptation: the grid's best on a dirty pool (docs/experiments.md,
# setting A1), where the few-shot set must decide which pool images to trust.
WEIGHTNET_OPTIONS: dict[str, Any] = {
    "every": 2,
    "ema": 0.9,
    "meta_loss": "l2",
    "beta": 0.2,
    "image_beta": 0.05,
    "lr": 3e-3,
    "inputs": ["hr", "lr", "consistency"],
    "normalise": "batch",
    "image_head": True,
    "input_norm": True,
    "center": True,
}


@dataclass(frozen=True)
class AdaptSettings:
    """What an adaptation trains and how long; the defaults are ``srmeta adapt``'s."""

    scale: int
    start: str = "default"
    strategies: tuple[str, ...] = STRATEGIES
    steps: int = 400
    eval_every: int = 50
    holdout: int | None = None  # None: a quarter of the pairs, rounded up
    lr_patch: int = 24  # LR pixels per side of a training patch
    batch_size: int = 8
    meta_batch_size: int = 4
    lr: float = 1e-4
    pool: tuple[str, ...] = DEFAULT_POOL
    pool_degradation: str = POOL_DEGRADATION
    seed: int = 0
    device: str = "auto"
    refit: bool = True
    selection: str = "consistent"  # or "mean": see adapt_choice.choose()
    confirm: bool = True  # a strategy beyond the simplest must win on a second hold-out too
    refit_tie_db: float = 0.02  # held-out differences below this are ties (refit_length)


@dataclass
class AdaptResult:
    out_dir: Path
    start: str
    start_psnr: float
    chosen: str  # a strategy, or "start" when none beat the starting model
    chosen_psnr: float
    train_pairs: list[str]
    holdout_pairs: list[str]
    candidates: list[Candidate]
    # With refit: the chosen strategy retrained on every pair for this many steps (the
    # model then has no held-out score of its own; chosen_psnr is the choice's).
    refit_steps: int | None = None
    # Each second hold-out a more complex strategy had to win (adapt_choice module).
    confirmations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gain(self) -> float:
        return self.chosen_psnr - self.start_psnr


def _named(pairs: PairsConfig, names: list[str]) -> PairsConfig:
    """The same pairs source, narrowed to ``names``."""
    return pairs.model_copy(update={"names": names})


def strategy_config(
    strategy: str,
    settings: AdaptSettings,
    start_file: Path,
    arch: str,
    options: dict[str, Any],
    pairs: PairsConfig,
    train_names: list[str],
    holdout_names: list[str] | None,
    run_dir: Path,
    data_root: str | None,
) -> dict[str, Any]:
    """The training config of one strategy (a plain mapping, validated by the caller);
    without ``holdout_names`` it trains its steps with no held-out check."""
    s = settings
    patch = s.lr_patch * s.scale
    few_shot = _named(pairs, train_names).model_dump()
    # The seed also draws the pair crops: from a trained model, fine-tuning has nothing else
    # random, so another seed must mean other crops.
    meta: dict[str, Any] = {"pairs": few_shot, "batch_size": s.meta_batch_size, "seed": s.seed}
    weighting: dict[str, Any] = {"name": "uniform"}
    if strategy == "finetune":
        meta.update(mix="only", batch_size=s.batch_size)
    elif strategy == "mixed":
        meta["mix"] = "add"
    else:
        weighting = {"name": "weightnet", "options": dict(WEIGHTNET_OPTIONS)}
        if strategy == "combined":
            meta["mix"] = "add"
    val: dict[str, Any] = {"every": 0}
    if holdout_names is not None:
        val = {
            "datasets": [],
            "every": s.eval_every,
            "pairs": _named(pairs, holdout_names).model_dump(),
        }
    return {
        "name": f"adapt_{strategy}",
        "seed": s.seed,
        "scale": s.scale,
        "device": s.device,
        "output_dir": str(run_dir),
        "data_root": data_root,
        "model": {"arch": arch, "options": options},
        "data": {
            "train": {
                "datasets": list(s.pool),
                "patch_size": patch,
                "batch_size": s.batch_size,
                "degradation": s.pool_degradation,
            },
            "meta": meta,
            "val": val,
        },
        "train": {
            "steps": s.steps,
            "init_from": str(start_file),
            "optimizer": {"name": "adam", "lr": s.lr, "betas": [0.9, 0.99]},
            "scheduler": {"name": "cosine", "warmup_steps": 0},
            "weighting": weighting,
            "grad_clip": 1.0,
            "log_every": min(50, s.steps),
            "checkpoint_every": s.eval_every,
            "keep_checkpoints": 1,
        },
    }


def _check_inputs(settings: AdaptSettings, data_root: str | None) -> None:
    unknown = [s for s in settings.strategies if s not in ALL_STRATEGIES]
    if unknown or not settings.strategies:
        known = ", ".join(ALL_STRATEGIES)
        raise SrmetaError(f"unknown strategy {', '.join(unknown) or '(none)'}; choose from {known}")
    if settings.pool_degradation != FIT:
        try:
            parse_degradation(settings.pool_degradation)
        except SrmetaError as err:
            raise SrmetaError(f"--pool-degradation: {err}") from None
    if any(s != "finetune" for s in settings.strategies):
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
    train_names, holdout_names = split_pairs(
        [p.name for p in found], settings.holdout, settings.seed
    )
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

    held_out = PairDataset.from_config(_named(pairs, holdout_names), name="held-out")
    start_label = display_name(settings.start, settings.scale)
    start_pairs = _per_pair(start_file, held_out, settings.scale)
    start_psnr = sum(start_pairs.values()) / len(start_pairs)
    say(
        f"{len(found)} pairs: {len(train_names)} to train on, {len(holdout_names)} held out"
        f" ({', '.join(holdout_names)}); {start_label} scores {start_psnr:.2f} dB on them"
    )

    def run(strategy: str, names: list[str], held: list[str] | None, steps: int, folder: str):
        run_dir = out / "candidates" / folder
        s = replace(settings, steps=steps, pool_degradation=pool_for(strategy, names))
        cfg = strategy_config(
            strategy, s, start_file, spec.arch, dict(spec.options), pairs, names, held,
            run_dir, data_root,
        )  # fmt: skip
        return run_dir, train(validate_config(cfg), resume="auto", progress=progress)

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
        held_pairs2 = PairDataset.from_config(_named(pairs, held2), name="held-out")
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
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / BEST_MODEL, force=True) as handle:
        handle.write(Path(source).read_bytes())
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
    record = {**asdict(result), "out_dir": str(out), "gain": result.gain}
    record["settings"] = asdict(settings)
    record["blur_fits"] = [{"pairs": list(k), **asdict(f)} for k, f in fits.items()]
    record["pairs"] = pairs.model_dump()
    atomic_write_text(out / REPORT, json.dumps(record, indent=2) + "\n", force=True)
    return result
