"""Adapt a model to your camera from a few real LR-HR pairs.

Give the pairs as one folder of NNNL.png / NNNH.png files (--pairs) or as --lr and --hr
folders whose files share names; the LR may be the HR's size (it is then shrunk by the
scale with MATLAB bicubic) or already 1/scale of it. Every pair is held out once while
fine-tuning trains on the others; if that beats the starting model on average, fine-tuning
on all the pairs becomes OUT/model_best.safetensors, else Weight-Net on the generic pool,
meta-learned from the pairs, does: use it with `srmeta upscale --model OUT`. With --choose
holdout a quarter of the pairs is held out instead and each strategy competes on it. Run the
same command again to resume an interrupted adaptation.
"""

from __future__ import annotations

import argparse
from typing import Any

from srmeta.argtypes import count, name_list, positive_float, positive_int
from srmeta.config import PairsConfig
from srmeta.errors import SrmetaError


def add_pair_source(p: argparse.ArgumentParser) -> None:
    """--pairs DIR or --lr DIR --hr DIR, and --no-align (also ``srmeta pairs``'s)."""
    p.add_argument("--pairs", help="folder of <name>L / <name>H image pairs")
    p.add_argument("--lr", help="folder of LR images (with --hr; files matched by name)")
    p.add_argument("--hr", help="folder of HR images (with --lr)")
    p.add_argument("--no-align", action="store_true", help="use the pairs exactly as given")


def pair_source(args: argparse.Namespace) -> PairsConfig:
    """The pairs the options name; exactly one of --pairs and --lr/--hr."""
    if (args.pairs is None) == (args.lr is None and args.hr is None) or (
        (args.lr is None) != (args.hr is None)
    ):
        raise SrmetaError("give --pairs DIR, or both --lr DIR and --hr DIR")
    return PairsConfig(folder=args.pairs, lr=args.lr, hr=args.hr, align=not args.no_align)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_pair_source(p)
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument(
        "--from",
        dest="start",
        default="default",
        help="starting model: srmeta-x4, srmeta-fast-x4 ..., a weights file or run folder"
        " (default: the bundled default of the scale)",
    )
    p.add_argument("-o", "--out", required=True, help="output folder (e.g. runs/mycam)")
    p.add_argument(
        "--strategies",
        type=name_list,
        default=["finetune", "weightnet", "combined"],
        help="comma-separated, from finetune, weightnet, combined (default: all three) and"
        " mixed (pool and pairs as data, uniform weights)",
    )
    p.add_argument("--steps", type=positive_int, default=400, help="steps per strategy (400)")
    p.add_argument(
        "--eval-every", type=positive_int, default=50, help="held-out check every N steps (50)"
    )
    p.add_argument(
        "--holdout",
        type=positive_int,
        help="with --choose holdout: pairs held out (default: a quarter)",
    )
    p.add_argument(
        "--learning-rate", type=positive_float, default=1e-4, help="Adam step size (1e-4)"
    )
    p.add_argument("--batch-size", type=positive_int, default=8, help="patches per step (8)")
    p.add_argument(
        "--pool",
        type=name_list,
        default=["T91", "General100", "BSDS400"],
        help="generic training sets under the data root, for weightnet and combined",
    )
    p.add_argument(
        "--pool-degradation",
        default=None,
        help="how the pool's LR is made: a degradation string, or fit (the Gaussian blur the"
        " training pairs imply, +-0.3); default: blur:iso:0.2-3 noise:0-5 seed:7",
    )
    p.add_argument("--data-root", help="folder holding the pool (default: $SRMETA_DATA)")
    p.add_argument("--seed", type=count, default=0, help="seed of the split and the runs (0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--choose",
        choices=("kfold", "holdout"),
        default="kfold",
        help="kfold (default): every pair held out once by fine-tuning on the others, then"
        " fine-tuning on all pairs if it beat the starting model on average, else weightnet"
        " (or the starting model when weightnet is not in --strategies); holdout: the"
        " strategies compete on a held-out quarter of the pairs",
    )
    p.add_argument(
        "--folds",
        type=positive_int,
        help="with --choose kfold: this many folds (default: one per pair, at most 5)",
    )
    p.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        help="with --choose holdout: train the choice again on all pairs, as long as its"
        " held-out score held (the last check within 0.02 dB of its best; default)",
    )
    p.add_argument(
        "--confirm",
        action=argparse.BooleanOptionalAction,
        help="with --choose holdout: a strategy beyond the simplest must also win on a"
        " second, disjoint hold-out (default)",
    )
    p.add_argument(
        "--selection",
        choices=("consistent", "mean"),
        help="with --choose holdout: consistent (default): a strategy replaces the simpler"
        " one before it only if better on every held-out pair; mean: the best mean",
    )
    p.add_argument("--force", action="store_true", help="replace a finished adaptation's files")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


# Options of --choose holdout alone. Unset they are None, so AdaptSettings keeps its defaults.
HOLDOUT_ONLY = ("holdout", "refit", "confirm", "selection")


def _flag(name: str, value: object) -> str:
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    return f"--{name} {value}"


def _choice_options(args: argparse.Namespace) -> dict[str, Any]:
    """The given options of the chosen rule; the other rule's are refused, not ignored."""
    given = {name: getattr(args, name) for name in HOLDOUT_ONLY if getattr(args, name) is not None}
    if args.choose == "holdout":
        if args.folds is not None:
            raise SrmetaError("--folds applies to --choose kfold")
        return given
    if given:
        flags = ", ".join(_flag(name, value) for name, value in given.items())
        raise SrmetaError(f"{flags}: applies to --choose holdout (the default is kfold)")
    return {"folds": args.folds}


def run(args: argparse.Namespace) -> int:
    from srmeta.training.adapt import adapt
    from srmeta.training.adapt_settings import AdaptSettings

    pairs = pair_source(args)
    options = _choice_options(args)
    settings = AdaptSettings(
        scale=args.scale,
        start=args.start,
        strategies=tuple(args.strategies),
        steps=args.steps,
        eval_every=args.eval_every,
        lr=args.learning_rate,
        batch_size=args.batch_size,
        pool=tuple(args.pool),
        **({"pool_degradation": args.pool_degradation} if args.pool_degradation else {}),
        seed=args.seed,
        device=args.device,
        choose=args.choose,
        **options,
    )
    result = adapt(pairs, settings, args.out, args.data_root, args.force, not args.quiet)
    model = f"{result.out_dir}/model_best.safetensors"
    if result.kfold is not None and result.chosen != "finetune":
        if result.chosen == "start":
            outcome = f" and weightnet is not in --strategies; {model} is {result.start} unchanged"
        else:
            outcome = (
                f": chose {result.chosen}, which no pair checked;"
                f" model {model} (srmeta upscale --model {result.out_dir})"
            )
        gain = f"{result.kfold.gain:+.2f} dB"
        print(f"fine-tuning did not beat {result.start} on held-out pairs ({gain}){outcome}")
    elif result.chosen == "start":
        print(
            f"no strategy beat {result.start} on the held-out pairs"
            f" ({result.start_psnr:.2f} dB); {model} is {result.start} unchanged"
        )
    else:
        assert result.chosen_psnr is not None
        every = " (each pair held out once)" if result.kfold is not None else ""
        print(
            f"chose {result.chosen}: held-out PSNR{every} {result.start_psnr:.2f} -> "
            f"{result.chosen_psnr:.2f} dB ({result.gain:+.2f} dB over {result.start});"
            f" model {model} (srmeta upscale --model {result.out_dir})"
        )
    return 0
