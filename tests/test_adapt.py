"""``srmeta adapt`` and training on real pairs: the split, each strategy's config, the choice
by held-out score, the files it leaves, and its refusals before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from srmeta.cli import main
from srmeta.config import PairsConfig, validate_config
from srmeta.data.benchmarks import load_hr
from srmeta.data.meta import MetaSet
from srmeta.data.training import TrainingPatches
from srmeta.models.bundled import bundled_path
from srmeta.models.files import meta_images_of
from srmeta.training import adapt as adapt_module
from srmeta.training import adapt_settings
from srmeta.training.adapt import adapt
from srmeta.training.adapt_choice import (
    Candidate,
    choose,
    choose_confirmed,
    confirm_split,
    refit_length,
    split_pairs,
)
from srmeta.training.adapt_settings import AdaptSettings, strategy_config
from srmeta.training.loop import Trainer

SCALE = 2


def _save(image: torch.Tensor, path: Path) -> None:
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)


def test_split_is_seeded_and_holds_out_a_quarter() -> None:
    names = [f"{i:03d}" for i in range(10)]
    train, held = split_pairs(names, None, seed=0)
    assert len(held) == 3 and sorted(train + held) == names and not set(train) & set(held)
    assert split_pairs(names, None, seed=0) == (train, held)
    assert split_pairs(names, None, seed=1) != (train, held)
    with pytest.raises(Exception, match="at least 2 pairs"):
        split_pairs(["a"], None, 0)
    with pytest.raises(Exception, match="between 1 and 3"):
        split_pairs(["a", "b", "c", "d"], 4, 0)


def test_strategy_configs_say_what_each_trains_on(tmp_path: Path, model_file: Path) -> None:
    settings = AdaptSettings(scale=SCALE, steps=10, eval_every=5)
    pairs = PairsConfig(folder=str(tmp_path))

    def config(strategy: str):
        return validate_config(
            strategy_config(
                strategy, settings, model_file, "edsr", {"n_resblocks": 1, "n_feats": 8},
                pairs, ["a", "b"], ["c"], tmp_path / strategy, None,
            )
        )  # fmt: skip

    finetune, weightnet, combined, mixed = (
        config(s) for s in ("finetune", "weightnet", "combined", "mixed")
    )
    assert finetune.data.meta is not None and finetune.data.meta.mix == "only"
    assert finetune.train.weighting.name == "uniform"
    assert weightnet.train.weighting.name == "weightnet" and weightnet.data.meta.mix == "none"
    assert combined.train.weighting.name == "weightnet" and combined.data.meta.mix == "add"
    assert mixed.train.weighting.name == "uniform" and mixed.data.meta.mix == "add"
    for cfg in (finetune, weightnet, combined, mixed):
        assert cfg.data.meta is not None and cfg.data.meta.pairs is not None
        assert cfg.data.meta.pairs.names == ["a", "b"]
        assert cfg.data.val.pairs is not None and cfg.data.val.pairs.names == ["c"]
        assert cfg.train.init_from == str(model_file)


def test_real_pairs_feed_meta_batches_and_training_patches(tmp_path, camera_pairs, data_root):
    """Crops of a pair keep its LR and HR aligned: with the pair's LR made by taking every
    other HR pixel, each LR patch is its HR patch's every other pixel."""
    folder = tmp_path / "decimated"
    folder.mkdir()
    for i in range(2):
        hr = load_hr(camera_pairs / f"{i:03d}H.png")
        _save(hr, folder / f"{i:03d}H.png")
        _save(hr[:, ::SCALE, ::SCALE].contiguous(), folder / f"{i:03d}L.png")
    pairs = {"folder": str(folder), "align": False}
    cfg = validate_config(
        {
            "name": "p",
            "scale": SCALE,
            "data_root": str(data_root),
            "model": {"arch": "edsr", "options": {"n_resblocks": 1, "n_feats": 8}},
            "data": {
                "train": {"datasets": ["Set5"], "patch_size": 32, "batch_size": 8,
                          "augment": False, "pairs": pairs},
                "meta": {"pairs": pairs, "batch_size": 3},
            },
        }
    )  # fmt: skip
    meta = MetaSet.from_config(cfg)
    assert meta is not None and meta.names == ["decimated/000", "decimated/001"]
    batch = meta.batch(0)
    assert torch.equal(batch["lr"], batch["hr"][..., ::SCALE, ::SCALE])
    patches = TrainingPatches.from_config(cfg)
    assert patches.pair_names == ["000", "001"] and len(patches.images) == 5 + 2
    seen_pair = 0
    for step in range(6):
        batch = patches[step]
        for j, (i, *_rest) in enumerate(patches.rank_plan(step)):
            if patches.fixed_lr[i] is not None:
                seen_pair += 1
                assert torch.equal(batch["lr"][j], batch["hr"][j][:, ::SCALE, ::SCALE])
    assert seen_pair > 0


def test_init_from_takes_a_bundled_name(tmp_path: Path, data_root: Path) -> None:
    base = {
        "name": "b",
        "scale": 4,
        "data_root": str(data_root),
        "output_dir": str(tmp_path / "run"),
        "model": {"arch": "edsr", "options": {"n_resblocks": 8, "n_feats": 32}},
        "data": {"train": {"datasets": ["Set5"], "patch_size": 48, "batch_size": 2}},
        "train": {"steps": 1, "init_from": "srmeta-x4"},
    }
    trainer = Trainer(validate_config(base))
    shipped = load_file(str(bundled_path(4)))
    state = trainer.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in shipped.items())
    base["scale"] = 3
    with pytest.raises(Exception, match="srmeta-x4 is an x4 model; this run is x3"):
        Trainer(validate_config({**base, "output_dir": str(tmp_path / "run3")}))


def test_adapt_chooses_by_held_out_score_and_leaves_a_model(tmp_path, camera_pairs, data_root,
                                                             model_file):  # fmt: skip
    out = tmp_path / "mycam"
    settings = AdaptSettings(
        scale=SCALE, start=str(model_file), steps=4, eval_every=2, lr_patch=16, batch_size=2,
        meta_batch_size=2, lr=1e-3, pool=("Set5",), device="cpu", selection="mean",
        refit=False, confirm=False, choose="holdout",
    )  # fmt: skip
    lines: list[str] = []
    result = adapt(PairsConfig(folder=str(camera_pairs)), settings, out, str(data_root),
                   say=lines.append)  # fmt: skip
    assert len(result.holdout_pairs) == 1 and len(result.train_pairs) == 3
    assert [c.strategy for c in result.candidates] == ["finetune", "weightnet", "combined"]
    best = max(result.candidates, key=lambda c: c.best_psnr or -1e9)
    if best.best_psnr is not None and best.best_psnr > result.start_psnr:
        assert result.chosen == best.strategy and result.chosen_psnr == best.best_psnr
        chosen_file = out / "candidates" / best.strategy / "model_best.safetensors"
        assert (out / "model_best.safetensors").read_bytes() == chosen_file.read_bytes()
        recorded = set(meta_images_of(out / "model_best.safetensors"))
        used = {f"cam/{name}" for name in result.holdout_pairs + result.train_pairs}
        assert used <= recorded
    else:
        assert result.chosen == "start"
        assert (out / "model_best.safetensors").read_bytes() == model_file.read_bytes()
    report = json.loads((out / "adapt.json").read_text())
    assert report["chosen"] == result.chosen and report["holdout_pairs"] == result.holdout_pairs
    for c in report["candidates"]:  # curves every eval_every steps; best = max = its per-pair mean
        assert [step for step, _ in c["curve"]] == [2, 4]
        assert c["best_psnr"] == max(v for _, v in c["curve"])
        mean = sum(c["held_out"].values()) / len(c["held_out"])
        assert mean == pytest.approx(c["best_psnr"], abs=1e-9)  # the saved best weights
    assert "held out" in lines[0] and len(lines) == 4
    code = main(["upscale", str(camera_pairs / "000L.png"), "--model", str(out), "-o",
                 str(tmp_path / "up.png"), "--backend", "torch"])  # fmt: skip
    assert code == 0 and Image.open(tmp_path / "up.png").size == (96, 96)
    # Finished: a second run is refused without --force, before any work.
    with pytest.raises(Exception, match="already exists; use --force"):
        adapt(PairsConfig(folder=str(camera_pairs)), settings, out, str(data_root))


def test_bad_pairs_stop_adapt_with_one_line_and_nothing_written(tmp_path, camera_pairs, capsys):
    (camera_pairs / "002H.png").unlink()
    out = tmp_path / "mycam"
    code = main(["adapt", "--pairs", str(camera_pairs), "--scale", "2", "-o", str(out),
                 "--strategies", "finetune"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "002L.png has no HR partner" in err
    assert not out.exists()
    code = main(["adapt", "--pairs", str(camera_pairs), "--scale", "2", "-o", str(out),
                 "--strategies", "finetune,magic"])  # fmt: skip
    assert code == 2 and "unknown strategy magic" in capsys.readouterr().err
    code = main(["adapt", "--pairs", str(camera_pairs), "--scale", "2", "-o", str(out),
                 "--pool", "NoSuchSet", "--data-root", str(tmp_path)])  # fmt: skip
    assert code == 2 and "NoSuchSet" in capsys.readouterr().err and not out.exists()
    for extra, named in ((["--holdout", "2"], "--holdout 2"), (["--no-confirm"], "--no-confirm"),
                         (["--choose", "holdout", "--folds", "3"], "--folds")):  # fmt: skip
        code = main(["adapt", "--pairs", str(camera_pairs), "--scale", "2", "-o", str(out),
                     *extra])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and named in err and not out.exists()
    code = main(["adapt", "--pairs", str(camera_pairs), "--scale", "2", "-o", str(out),
                 "--pool-degradation", "blur:round:2"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--pool-degradation" in err
    assert not out.exists()


def test_eval_scores_pairs_from_the_command_line(camera_pairs: Path, capsys) -> None:
    code = main(["eval", "--model", "bicubic", "--pairs", str(camera_pairs), "--scales", "2",
                 "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "| cam |" in out


def test_a_bad_pair_stops_training_before_the_run_folder_exists(tmp_path, camera_pairs, data_root):
    (camera_pairs / "001L.png").unlink()
    out = tmp_path / "run"
    cfg = validate_config(
        {
            "name": "p",
            "scale": SCALE,
            "data_root": str(data_root),
            "output_dir": str(out),
            "model": {"arch": "edsr", "options": {"n_resblocks": 1, "n_feats": 8}},
            "data": {
                "train": {"datasets": ["Set5"], "patch_size": 32, "batch_size": 2},
                "val": {"datasets": [], "every": 1, "pairs": {"folder": str(camera_pairs)}},
            },
        }
    )
    with pytest.raises(Exception, match=r"001H\.png has no LR partner"):
        Trainer(cfg)
    assert not out.exists()


def test_refit_trains_the_choice_on_every_pair(tmp_path, camera_pairs, data_root, model_file):
    settings = AdaptSettings(
        scale=SCALE, start=str(model_file), strategies=("finetune",), steps=4, eval_every=2,
        lr_patch=16, batch_size=2, lr=1e-2, device="cpu", refit=True, choose="holdout",
    )  # fmt: skip
    out = tmp_path / "mycam"
    result = adapt(PairsConfig(folder=str(camera_pairs)), settings, out, say=lambda _: None)
    # the start is an untrained network: four steps of 1e-2 beat it
    assert result.chosen == "finetune"
    curve = result.candidates[0].curve  # the last check within 0.02 dB of the best
    best = max(psnr for _, psnr in curve)
    assert result.refit_steps == max(step for step, psnr in curve if psnr >= best - 0.02)
    refit = out / "candidates" / "refit"
    cfg = yaml.safe_load((refit / "config.yaml").read_text())
    assert cfg["train"]["steps"] == result.refit_steps and cfg["data"]["val"]["every"] == 0
    assert sorted(cfg["data"]["meta"]["pairs"]["names"]) == ["000", "001", "002", "003"]
    assert (out / "model_best.safetensors").read_bytes() == (
        refit / "model_last.safetensors"
    ).read_bytes()


def _cand(name: str, scores: dict[str, float]) -> Candidate:
    return Candidate(name, sum(scores.values()) / len(scores), 100, held_out=scores)


def test_choose_needs_every_held_out_pair_to_prefer_a_later_strategy() -> None:
    cand = _cand
    start = {"a": 30.0, "b": 30.0}
    finetune = cand("finetune", {"a": 31.0, "b": 30.6})
    combined = cand("combined", {"a": 31.4, "b": 30.5})  # higher mean, not on every pair
    weightnet = cand("weightnet", {"a": 29.0, "b": 29.5})  # below the start
    assert choose([finetune, weightnet, combined], start, "mean") is combined
    assert choose([finetune, weightnet, combined], start, "consistent") is finetune
    better = cand("combined", {"a": 31.1, "b": 30.7})
    assert choose([finetune, better], start, "consistent") is better
    assert choose([weightnet], start, "consistent") is None
    assert choose([weightnet, combined], start, "consistent") is combined
    with pytest.raises(Exception, match="unknown selection rule"):
        choose([finetune], start, "vote")


def test_the_seed_draws_the_pair_crops(tmp_path: Path, model_file: Path) -> None:
    """From trained weights fine-tuning has no other randomness: seeds must differ here."""
    pairs = PairsConfig(folder=str(tmp_path))
    seeds = []
    for seed in (0, 1):
        settings = AdaptSettings(scale=SCALE, seed=seed)
        cfg = strategy_config(
            "finetune", settings, model_file, "edsr", {"n_resblocks": 1, "n_feats": 8},
            pairs, ["a"], None, tmp_path / "r", None,
        )  # fmt: skip
        seeds.append((cfg["seed"], cfg["data"]["meta"]["seed"]))
    assert seeds == [(0, 0), (1, 1)]


def test_the_confirming_split_holds_out_new_pairs_and_trains_on_the_rest() -> None:
    names = [f"{i:03d}" for i in range(10)]
    train, held = split_pairs(names, None, seed=3)
    second = confirm_split(train, held, seed=3)
    assert second is not None
    train2, held2 = second
    assert len(held2) == len(held) == 3 and not set(held2) & set(held)
    assert sorted(train2 + held2) == names and set(held) <= set(train2)
    assert confirm_split(train, held, seed=3) == second  # seeded
    # k = 2: one pair trains, one is held out; there is nothing new to hold out
    assert confirm_split(["a"], ["b"], 0) is None
    # k = 3 with two held out: one new pair can be held out, leaving one to train on
    assert confirm_split(["a", "b"], ["c", "d"], 0) in [(["b", "c", "d"], ["a"]),
                                                         (["a", "c", "d"], ["b"])]  # fmt: skip


def test_a_later_strategy_is_kept_only_if_it_wins_again() -> None:
    start = {"a": 30.0, "b": 30.0}
    finetune = _cand("finetune", {"a": 31.0, "b": 30.6})
    weightnet = _cand("weightnet", {"a": 31.2, "b": 30.8})  # beats finetune on every pair
    combined = _cand("combined", {"a": 31.5, "b": 30.9})  # beats weightnet on every pair
    asked: list[tuple[str, str]] = []

    def says(answers: dict[str, bool]):
        def confirm(simplest: Candidate, best: Candidate) -> bool:
            asked.append((simplest.strategy, best.strategy))
            return answers[best.strategy]

        return confirm

    every = [finetune, weightnet, combined]
    assert choose_confirmed(every, start, "consistent", None) is combined
    assert choose_confirmed(every, start, "consistent", says({"combined": True})) is combined
    assert asked == [("finetune", "combined")]
    asked.clear()
    chosen = choose_confirmed(
        every, start, "consistent", says({"combined": False, "weightnet": False})
    )
    assert chosen is finetune and asked == [("finetune", "combined"), ("finetune", "weightnet")]
    asked.clear()
    chosen = choose_confirmed(
        every, start, "consistent", says({"combined": False, "weightnet": True})
    )
    assert chosen is weightnet
    asked.clear()
    # the simplest is never put to the test, and nothing is when no strategy beats the start
    assert choose_confirmed([finetune], start, "consistent", says({})) is finetune and not asked
    low = {"a": 40.0, "b": 40.0}
    assert choose_confirmed(every, low, "consistent", says({})) is None and not asked


def test_adapt_sets_aside_a_choice_the_second_hold_out_does_not_confirm(
    tmp_path, camera_pairs, data_root, model_file, monkeypatch
) -> None:
    """Scores are scripted (the training is real): the mixed strategy wins the first
    hold-out and loses the second, so fine-tuning is kept and refit."""

    def scripted(model: Path, held_out, scale: int) -> dict[str, float]:
        names = [pair.name for pair in held_out.pairs]
        parts = Path(model).parts
        if "candidates" not in parts:
            return dict.fromkeys(names, 0.0)  # the start: every strategy beats it
        strategy, second = parts[-2], "confirm" in parts
        value = {"finetune": 31.0, "mixed": 30.0 if second else 32.0}[strategy]
        return dict.fromkeys(names, value)

    monkeypatch.setattr(adapt_module, "_per_pair", scripted)
    settings = AdaptSettings(
        scale=SCALE, start=str(model_file), strategies=("finetune", "mixed"), steps=4,
        eval_every=2, lr_patch=16, batch_size=2, meta_batch_size=2, lr=1e-3, pool=("Set5",),
        device="cpu", choose="holdout",
    )  # fmt: skip
    out = tmp_path / "mycam"
    lines: list[str] = []
    result = adapt(PairsConfig(folder=str(camera_pairs)), settings, out, str(data_root),
                   say=lines.append)  # fmt: skip
    assert result.chosen == "finetune" and result.refit_steps is not None
    [entry] = result.confirmations
    assert entry["strategy"] == "mixed" and entry["against"] == "finetune"
    assert not entry["confirmed"] and not set(entry["holdout_pairs"]) & set(result.holdout_pairs)
    for strategy in ("finetune", "mixed"):
        assert (out / "candidates" / "confirm" / strategy / "model_best.safetensors").exists()
    report = json.loads((out / "adapt.json").read_text())
    assert report["confirmations"][0]["confirmed"] is False
    assert any("mixed over finetune" in line and "not confirmed" in line for line in lines)


def test_the_refit_runs_to_the_last_check_that_ties_the_best() -> None:
    flat = Candidate("finetune", 32.563, 350, [(300, 32.543), (350, 32.563), (400, 32.561)])
    assert refit_length(flat, 0.02) == 400  # 0.002 dB below the best: a tie
    assert refit_length(flat, 0.0) == 350
    falling = Candidate("finetune", 30.0, 100, [(50, 29.5), (100, 30.0), (150, 29.9), (200, 29.7)])
    assert refit_length(falling, 0.02) == 100  # 0.1 dB down: it did stop helping
    assert refit_length(Candidate("finetune", None, None), 0.02) is None
    assert refit_length(Candidate("finetune", 30.0, 100), 0.02) == 100  # no curve: the best


def test_a_fitted_pool_takes_the_blur_of_the_pairs_it_trains_on(
    tmp_path, camera_pairs, data_root, model_file
) -> None:
    settings = AdaptSettings(
        scale=SCALE, start=str(model_file), strategies=("finetune", "mixed"), steps=2,
        eval_every=2, lr_patch=16, batch_size=2, meta_batch_size=2, pool=("Set5",),
        pool_degradation="fit", device="cpu", refit=False, confirm=False, choose="holdout",
    )  # fmt: skip
    out = tmp_path / "mycam"
    result = adapt(PairsConfig(folder=str(camera_pairs)), settings, out, str(data_root),
                   say=lambda _: None)  # fmt: skip
    report = json.loads((out / "adapt.json").read_text())
    [fit] = report["blur_fits"]
    assert fit["pairs"] == sorted(result.train_pairs)  # never the held-out pairs
    mixed = yaml.safe_load((out / "candidates" / "mixed" / "config.yaml").read_text())
    finetune = yaml.safe_load((out / "candidates" / "finetune" / "config.yaml").read_text())
    low, high = max(fit["sigma"] - 0.3, 0.05), fit["sigma"] + 0.3
    assert mixed["data"]["train"]["degradation"] == f"blur:iso:{low:.2f}-{high:.2f} down:bicubic"
    assert finetune["data"]["train"]["degradation"] == adapt_settings.POOL_DEGRADATION
    # the fixture's camera is a bicubic down-up softening: a real blur, well above none
    assert fit["sigma"] >= 0.5
