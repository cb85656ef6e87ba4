"""Trainer options that change what a step starts from or trains on: ``train.init_from``,
``train.weighting.start_step``, ``data.meta.mix``, and the corrupt-sample bookkeeping."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from run_configs import write_run_config
from srmeta.checkpoints import list_states, load_state, state_path
from srmeta.config import ConfigError, load_config
from srmeta.data.meta import MetaSet
from srmeta.data.training import TrainingPatches
from srmeta.models.files import META_IMAGES_KEY, save_model_file
from srmeta.models.loading import load_model
from srmeta.training import loop
from srmeta.training.corruption_log import corrupt_shares, corrupt_weight_sums
from srmeta.training.loop import Trainer, train

META = {"dataset": "Set5", "names": ["bird"], "batch_size": 2}


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata())


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if json.loads(line)["kind"] == "train"]


def _spy(trainer: Trainer, calls: list, *names: str) -> None:
    """Record ``(name, ctx)`` for each call of the strategy methods ``names``."""
    for name in names:
        method = getattr(trainer.strategy, name)

        def wrapper(ctx, _method=method, _name=name):
            calls.append((_name, ctx))
            return _method(ctx)

        setattr(trainer.strategy, name, wrapper)


# ----------------------------------------------------------------- corrupt share helper


def test_corrupt_weight_sums_and_shares_match_a_hand_computation():
    weights = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0]], [[0.5, 0.5], [0.5, 0.5]], [[0.0, 0.0], [0.0, 8.0]]]
    )
    corrupt = torch.tensor([True, False, True])
    # per-sample sums 10, 2, 8; corrupted: 10 + 8 = 18 of 20; pixels: 8 of 12
    sums = corrupt_weight_sums(weights, corrupt)
    assert sums.dtype == torch.float64
    assert sums.tolist() == [18.0, 20.0, 8.0, 12.0]
    assert corrupt_shares(sums) == {"corrupt_weight_share": 0.9, "corrupt_pixel_share": 8 / 12}
    # Windows add: a second step with no corrupted sample dilutes both shares alike.
    window = sums + corrupt_weight_sums(torch.ones(1, 2, 2), torch.tensor([False]))
    assert corrupt_shares(window) == {"corrupt_weight_share": 18 / 24, "corrupt_pixel_share": 0.5}
    # No corrupted sample: the share is undefined and not logged.
    assert corrupt_shares(corrupt_weight_sums(weights, torch.zeros(3, dtype=torch.bool))) == {}


def test_corrupt_flags_reach_the_step_the_log_and_corruption_json(tmp_path, data_root, monkeypatch):
    record = {"fraction": 0.25, "kind": "test"}
    plain = TrainingPatches.__getitem__

    def flagged(self, step):
        batch = plain(self, step)
        batch["corrupt"] = torch.tensor([True, False, False, False])
        return batch

    monkeypatch.setattr(TrainingPatches, "__getitem__", flagged)
    monkeypatch.setattr(TrainingPatches, "corruption_record", lambda self: record, raising=False)
    path = write_run_config(
        tmp_path,
        data_root,
        "flags",
        train__steps=4,
        train__log_every=2,
        train__checkpoint_every=4,
        data__meta={**META, "mix": "add"},
    )
    trainer = Trainer(load_config(path), progress=False)
    calls: list = []
    _spy(trainer, calls, "update")
    trainer.run()
    for _, ctx in calls:  # 4 training samples, then 2 meta samples that are never corrupt
        assert ctx.corrupt.tolist() == [True, False, False, False, False, False]
    assert json.loads((trainer.run_dir / "corruption.json").read_text()) == record
    logged = _records(trainer.run_dir)
    assert [r["step"] for r in logged] == [2, 4]
    for r in logged:  # uniform weights: the weight share is the pixel share, 1 of 6 samples
        assert r["corrupt_weight_share"] == pytest.approx(1 / 6, abs=1e-12)
        assert r["corrupt_pixel_share"] == pytest.approx(1 / 6, abs=1e-12)


# ----------------------------------------------------------------- init_from


def test_init_from_loads_the_weights_only_and_records_the_source(tmp_path, data_root):
    source = write_run_config(
        tmp_path, data_root, "source", train__steps=4, train__checkpoint_every=4, data__meta=META
    )
    train(load_config(source), progress=False)
    source_file = tmp_path / "source" / "model_last.safetensors"
    weights = load_file(source_file)

    path = write_run_config(
        tmp_path,
        data_root,
        "warm",
        seed=11,
        train__steps=8,
        train__checkpoint_every=4,
        train__init_from=str(tmp_path / "source"),
        train__ema=0.9,
        train__scheduler={"name": "cosine", "warmup_steps": 4},
    )
    trainer = Trainer(load_config(path), progress=False)
    assert trainer.step == 0
    state = trainer.model.state_dict()
    assert sorted(state) == sorted(weights)
    assert all(torch.equal(state[k], weights[k]) for k in weights)
    ema = trainer.ema.module.state_dict()
    assert all(torch.equal(ema[k], weights[k]) for k in weights)
    # A fresh optimizer and schedule: no moments, warm-up's first rate = lr / 4.
    assert trainer.optimizer.state_dict()["state"] == {}
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 4)
    trainer.run()

    run = tmp_path / "warm"
    meta = _metadata(run / "model_last.safetensors")
    assert meta["srmeta.init_from"] == str(source_file.resolve())
    assert json.loads(meta[META_IMAGES_KEY]) == ["bird"]  # the source's meta image stays out
    final = load_file(run / "model_last.safetensors")

    # Resume ignores init_from (its file may be gone) and reaches the same weights.
    state_path(run, 8).unlink()
    (run / "model_last.safetensors").unlink()
    shutil.rmtree(tmp_path / "source")
    train(load_config(path), resume="auto", progress=False)
    again = load_file(run / "model_last.safetensors")
    assert all(torch.equal(final[k], again[k]) for k in final)
    assert _metadata(run / "model_last.safetensors")["srmeta.init_from"] == meta["srmeta.init_from"]


@pytest.mark.parametrize(
    ("arch", "scale", "options", "fragment"),
    [
        ("fsrcnn", 4, {}, "architecture fsrcnn, not espcn"),
        ("espcn", 2, {"features": [16, 8]}, "scale x2, not x4"),
        ("espcn", 4, {"features": [32, 8]}, "features=(32, 8), not (16, 8)"),
    ],
)
def test_init_from_refuses_another_model_before_training(
    tmp_path, data_root, arch, scale, options, fragment
):
    other = save_model_file(
        tmp_path / "other.safetensors",
        load_model(arch, scale, **options),
        arch=arch,
        scale=scale,
        options=options,
    )
    path = write_run_config(tmp_path, data_root, "refused", train__init_from=str(other))
    with pytest.raises(ConfigError) as info:
        Trainer(load_config(path), progress=False)
    message = str(info.value)
    assert fragment in message and "train.init_from" in message and "\n" not in message
    assert list_states(tmp_path / "refused") == []


def test_init_from_a_missing_file_names_the_key(tmp_path, data_root):
    path = write_run_config(
        tmp_path, data_root, "missing", train__init_from=str(tmp_path / "nowhere")
    )
    with pytest.raises(ConfigError, match=r"^train\.init_from: .*nowhere: no such weights file$"):
        Trainer(load_config(path), progress=False)


# ----------------------------------------------------------------- start_step


def test_start_step_runs_uniform_steps_then_the_strategy_and_resumes_exactly(tmp_path, data_root):
    common = {"train__steps": 6, "train__checkpoint_every": 3, "data__meta": META}
    uniform = write_run_config(tmp_path, data_root, "uniform", **common)
    train(load_config(uniform), progress=False)
    weighting = {"name": "l2rw", "start_step": 3}
    path = write_run_config(tmp_path, data_root, "late", train__weighting=weighting, **common)
    trainer = Trainer(load_config(path), progress=False)
    calls: list = []
    _spy(trainer, calls, "reward_direction", "update", "weights", "extra_loss")
    trainer.run()

    assert {ctx.step for _, ctx in calls} == {3, 4, 5}
    assert {name for name, _ in calls} == {"reward_direction", "update", "weights", "extra_loss"}
    late = tmp_path / "late"
    at3 = load_state(state_path(late, 3))
    assert at3["weighting"] == {"engine": {"meta_grad": None}}  # no meta gradient yet
    plain = load_state(state_path(tmp_path / "uniform", 3))["model"]
    assert all(torch.equal(at3["model"][k], plain[k]) for k in plain)
    at6 = load_state(state_path(late, 6))
    assert at6["weighting"]["engine"]["meta_grad"] is not None
    plain6 = load_state(state_path(tmp_path / "uniform", 6))["model"]
    assert not all(torch.equal(at6["model"][k], plain6[k]) for k in plain6)

    # Resume from the boundary: the same final weights and meta gradient.
    state_path(late, 6).unlink()
    (late / "model_last.safetensors").unlink()
    train(load_config(path), resume="auto", progress=False)
    again = load_state(state_path(late, 6))
    assert all(torch.equal(at6["model"][k], again["model"][k]) for k in at6["model"])
    grads = at6["weighting"]["engine"]["meta_grad"], again["weighting"]["engine"]["meta_grad"]
    assert all(torch.equal(grads[0][k], grads[1][k]) for k in grads[0])


def test_start_step_must_leave_steps_for_the_weighting(tmp_path, data_root):
    path = write_run_config(
        tmp_path,
        data_root,
        "never",
        train__steps=5,
        train__weighting={"name": "l2rw", "start_step": 5},
    )
    with pytest.raises(ConfigError, match=r"start_step: 5 is not below train\.steps 5"):
        load_config(path)


# ----------------------------------------------------------------- mix


def test_mix_add_appends_the_meta_batch_of_the_step(tmp_path, data_root):
    path = write_run_config(
        tmp_path,
        data_root,
        "add",
        train__steps=2,
        train__checkpoint_every=2,
        data__meta={**META, "mix": "add"},
    )
    cfg = load_config(path)
    trainer = Trainer(cfg, progress=False)
    calls: list = []
    _spy(trainer, calls, "update")
    trainer.run()
    pool, meta = TrainingPatches.from_config(cfg), MetaSet.from_config(cfg)
    assert [ctx.step for _, ctx in calls] == [0, 1]
    for _, ctx in calls:
        train_batch, meta_batch = pool[ctx.step], meta.batch(ctx.step)
        assert ctx.lr.shape == (6, 3, 8, 8) and ctx.hr.shape == (6, 3, 32, 32)
        for key, tensor in (("lr", ctx.lr), ("hr", ctx.hr)):
            assert torch.equal(tensor[:4], train_batch[key])
            assert torch.equal(tensor[4:], meta_batch[key])
        assert ctx.loss_map.shape == (6, 32, 32)


def test_mix_only_trains_on_the_meta_batch_without_loading_the_pool(
    tmp_path, data_root, monkeypatch
):
    def no_pool(*args, **kwargs):
        raise AssertionError("mix: only must not load the training pool")

    monkeypatch.setattr(loop.TrainingPatches, "from_config", no_pool)
    path = write_run_config(
        tmp_path,
        data_root,
        "only",
        train__steps=3,
        train__checkpoint_every=3,
        data__meta={**META, "mix": "only", "patch_size": 48},
    )
    cfg = load_config(path)
    trainer = Trainer(cfg, progress=False)
    calls: list = []
    _spy(trainer, calls, "update")
    trainer.run()
    meta = MetaSet.from_config(cfg)
    assert [ctx.step for _, ctx in calls] == [0, 1, 2]
    for _, ctx in calls:
        assert torch.equal(ctx.lr, meta.batch(ctx.step)["lr"])
        assert torch.equal(ctx.hr, meta.batch(ctx.step)["hr"])
        assert ctx.corrupt.tolist() == [False, False]
    assert not (trainer.run_dir / "corruption.json").exists()


def test_mix_add_needs_equal_patch_sizes(tmp_path, data_root):
    path = write_run_config(
        tmp_path, data_root, "sizes", data__meta={**META, "mix": "add", "patch_size": 48}
    )
    with pytest.raises(ConfigError, match=r"data\.meta\.patch_size: 48 differs from data\.train"):
        load_config(path)
