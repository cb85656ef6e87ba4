"""A Weight-Net run end to end: meta-dataset, checkpoints that cover the weighting, and
evaluation that refuses the meta images."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file

from run_configs import write_run_config
from srmeta.checkpoints import list_states, load_state
from srmeta.cli import main
from srmeta.config import load_config
from srmeta.training.loop import train


def _write_config(tmp_path, data_root, name, weighting):
    return write_run_config(
        tmp_path,
        data_root,
        name,
        seed=5,
        train__steps=12,
        train__log_every=3,
        train__checkpoint_every=6,
        train__weighting=weighting,
        data__meta={"dataset": "Set5", "names": ["bird"], "batch_size": 2},
    )


def test_weightnet_run_resumes_exactly_and_guards_its_meta_images(tmp_path, data_root, capsys):
    weighting = {"name": "weightnet", "options": {"lr": 1e-3, "every": 2}}
    path = _write_config(tmp_path, data_root, "wn", weighting)
    result = train(load_config(path), progress=False)
    run = result.run_dir
    final = load_file(run / "model_last.safetensors")
    states = list_states(run)
    assert [s for s, _ in states] == [6, 12]
    net_state = load_state(states[-1][1])["weighting"]["net"]
    assert any(v.abs().sum() > 0 for k, v in net_state.items() if "body.6" in k)  # it learned

    # Resume from the mid-run checkpoint: same final SR weights and Weight-Net.
    shutil.copy(states[-1][1], tmp_path / "final_state.pt")
    states[-1][1].unlink()
    (run / "model_last.safetensors").unlink()
    train(load_config(path), resume="auto", progress=False)
    again = load_file(run / "model_last.safetensors")
    assert all(torch.equal(final[k], again[k]) for k in final)
    a = load_state(tmp_path / "final_state.pt")["weighting"]["net"]
    b = load_state(list_states(run)[-1][1])["weighting"]["net"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    # The meta image is never scored.
    argv = ["eval", "--model", str(run), "--datasets", "Set5", "--scales", "4", "--quiet"]
    argv += ["--data-root", str(data_root)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bird" in err and "meta-dataset" in err and err.count("\n") == 1
    assert main([*argv, "--skip-meta"]) == 0
    assert "| Set5-4 |" in capsys.readouterr().out


def test_meta_weighting_without_meta_dataset_is_a_clear_error(tmp_path, data_root, capsys):
    path = _write_config(tmp_path, data_root, "nometa", {"name": "l2rw"})
    raw = yaml.safe_load(path.read_text())
    del raw["data"]["meta"]
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--quiet"]) == 2
    assert "needs data.meta" in capsys.readouterr().err


def test_weightnet_under_bf16_autocast_computes_float32_rewards(tmp_path, data_root):
    from srmeta.weighting.reward import rewards

    path = _write_config(tmp_path, data_root, "wn16", {"name": "weightnet"})
    raw = yaml.safe_load(path.read_text())
    raw["train"].update(bf16=True, steps=4, checkpoint_every=4)
    path.write_text(yaml.safe_dump(raw))
    result = train(load_config(path), progress=False)
    assert result.step == 4
    model = load_state(list_states(result.run_dir)[-1][1])["model"]
    assert all(t.dtype == torch.float32 for t in model.values())
    # rewards taken inside an autocast region still come out in float32
    from srmeta.models.loading import load_model

    net = load_model("espcn", 2, features=(8, 4))
    lr, hr = torch.rand(1, 3, 6, 6), torch.rand(1, 3, 12, 12)
    direction = {k: torch.ones_like(p) for k, p in net.named_parameters()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, reward = rewards(net, {"lr": lr, "hr": hr}, direction)
    assert reward.dtype == torch.float32


@pytest.mark.parametrize("method", ["jvp", "fd"])
def test_fused_forward_trains_like_a_separate_reward_pass(tmp_path, data_root, method):
    """The trainer's rewards from its own forward (dual, or the forward difference from its
    output) give the same run as the strategy's separate reward pass."""
    from srmeta.training.loop import Trainer

    finals = []
    for fused in (True, False):
        for name in ("weightnet", "l2rw"):
            options = {"every": 2, "reward": method}
            path = _write_config(
                tmp_path, data_root, f"{name}-{fused}", {"name": name, "options": options}
            )
            trainer = Trainer(load_config(path), progress=False)
            trainer._fused_rewards = fused
            calls: list[bool] = []
            original = trainer.strategy.engine.rewards
            trainer.strategy.engine.rewards = lambda ctx, f=original, seen=calls: (
                seen.append(ctx.reward is not None) or f(ctx)
            )
            for step in range(4):
                trainer.train_step(step, _batch(trainer, step))
            assert calls and all(c == fused for c in calls)
            finals.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
    for a, b in zip(finals[:2], finals[2:], strict=True):
        assert all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7) for k in a)


def _batch(trainer, step):
    from srmeta.data.training import TrainingPatches

    return TrainingPatches.from_config(trainer.cfg, 0, 1)[step]
