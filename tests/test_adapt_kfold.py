"""``srmeta adapt --choose kfold``: the folds partition the pairs, the pooled gain and the
choice follow the rule computed by hand, and a real run leaves the model its choice names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from srmeta.cli import main
from srmeta.config import PairsConfig
from srmeta.data.pairs import PairDataset
from srmeta.evaluation import evaluate
from srmeta.models.loading import load_model
from srmeta.models.registry import inference_form
from srmeta.training.adapt import adapt
from srmeta.training.adapt_kfold import Fold, choose_kfold, fold_groups, pooled_gain
from srmeta.training.adapt_settings import AdaptSettings

SCALE = 2


def test_folds_hold_out_every_pair_exactly_once() -> None:
    names = [f"{i:03d}" for i in range(7)]
    assert fold_groups(names[:5]) == [[n] for n in names[:5]]  # up to 5 pairs: one per fold
    assert fold_groups(names) == [["000", "005"], ["001", "006"], ["002"], ["003"], ["004"]]
    for folds in (2, 3, 7, 20):
        groups = fold_groups(names, folds)
        assert sorted(n for g in groups for n in g) == names
        assert len(groups) == min(folds, 7)
        assert max(map(len, groups)) - min(map(len, groups)) <= 1
    with pytest.raises(Exception, match="at least 2"):
        fold_groups(names, 1)
    with pytest.raises(Exception, match="at least 2 pairs"):
        fold_groups(["a"])


def test_the_gain_weighs_each_pair_once_and_the_choice_follows_its_sign() -> None:
    # Fold a held out two pairs (start 30 on average), fold b one (start 20).
    a = Fold(["p", "q"], 30.0, [(50, 30.3), (100, 30.6), (150, 30.59)])
    b = Fold(["r"], 20.0, [(50, 19.4), (100, 19.7), (150, 19.9)])
    # By hand: step 50: (2*0.3 - 0.6)/3 = 0; 100: (2*0.6 - 0.3)/3 = 0.3;
    # 150: (2*0.59 - 0.1)/3 = 0.36.
    curve = pooled_gain([a, b])
    assert [s for s, _ in curve] == [50, 100, 150]
    assert [g for _, g in curve] == pytest.approx([0.0, 0.3, 0.36])
    choice = choose_kfold([a, b], 0.02, fallback_listed=True)
    assert choice.steps == 150 and choice.gain == pytest.approx(0.36)
    assert choice.chosen == "finetune"
    # A fold that only loses: the fallback, or the start when weightnet is not listed.
    worse = Fold(["r"], 20.0, [(50, 18.0), (100, 18.5), (150, 18.0)])
    assert choose_kfold([a, worse], 0.02, fallback_listed=True).chosen == "weightnet"
    assert choose_kfold([a, worse], 0.02, fallback_listed=False).chosen == "start"
    # A rise then a fall of more than the tie: stop at the peak, judge the gain there.
    peak = choose_kfold([Fold(["p"], 30.0, [(50, 30.2), (100, 30.5), (150, 30.1)])], 0.02, True)
    assert peak.steps == 100 and peak.gain == pytest.approx(0.5)
    # Only checks every fold reached are pooled.
    short = Fold(["s"], 25.0, [(50, 25.1)])
    assert [s for s, _ in pooled_gain([a, short])] == [50]


def _scores(model: Path, pairs: PairsConfig, names: list[str]) -> dict[str, float]:
    """Per-pair PSNR of a weights file, computed apart from adapt (an oracle for its curves)."""
    net = inference_form(load_model(str(model), SCALE, trained=True))
    data = PairDataset.from_config(pairs.model_copy(update={"names": names}), name="x")
    return {row.image: row.psnr for row in evaluate(net, [data], [SCALE]).images}


def test_kfold_adapt_leaves_the_model_its_folds_chose(tmp_path, camera_pairs, model_file):
    pairs = PairsConfig(folder=str(camera_pairs))
    settings = AdaptSettings(
        scale=SCALE, start=str(model_file), strategies=("finetune",), steps=4, eval_every=2,
        lr_patch=16, batch_size=2, lr=1e-3, device="cpu", choose="kfold",
    )  # fmt: skip
    out = tmp_path / "mycam"
    lines: list[str] = []
    result = adapt(pairs, settings, out, None, say=lines.append)
    names = ["000", "001", "002", "003"]
    assert [f.held_out for f in result.folds] == [[n] for n in names]
    assert result.train_pairs == names and result.holdout_pairs == []
    start = _scores(model_file, pairs, names)
    pooled = 0.0
    for i, fold in enumerate(result.folds):
        [held] = fold.held_out
        assert fold.start_psnr == pytest.approx(start[held], abs=1e-9)
        assert [s for s, _ in fold.curve] == [2, 4]
        # the fold's last check is its final weights scored on the pair it never saw
        final = _scores(out / "candidates" / f"fold{i}" / "model_last.safetensors", pairs, [held])
        assert fold.curve[-1][1] == pytest.approx(final[held], abs=1e-6)
        pooled += (fold.curve[-1][1] - start[held]) / len(names)
    kc = result.kfold
    assert kc is not None and dict(kc.gain_curve)[4] == pytest.approx(pooled, abs=1e-9)
    report = json.loads((out / "adapt.json").read_text())
    assert report["kfold"]["chosen"] == result.chosen and len(report["folds"]) == 4
    written = (out / "model_best.safetensors").read_bytes()
    if kc.gain > 0:
        assert result.chosen == "finetune" and result.refit_steps == kc.steps
        refit = out / "candidates" / "refit" / "model_last.safetensors"
        assert written == refit.read_bytes()
        assert result.gain == pytest.approx(kc.gain)
    else:
        assert result.chosen == "start" and written == model_file.read_bytes()
    assert sum("fold " in line for line in lines) == 4


def test_kfold_falls_back_to_weightnet_when_fine_tuning_loses(
    tmp_path, camera_pairs, data_root, model_file, capsys
) -> None:
    """A step size of 0.5 wrecks every fine-tuning fold: weightnet trains on every pair, and
    the summary says no pair checked it."""
    out = tmp_path / "mycam"
    code = main([
        "adapt", "--pairs", str(camera_pairs), "--scale", "2", "--from", str(model_file),
        "-o", str(out), "--choose", "kfold", "--folds", "2", "--strategies",
        "finetune,weightnet", "--steps", "2", "--eval-every", "2", "--learning-rate", "0.5",
        "--batch-size", "2", "--pool", "Set5", "--data-root", str(data_root), "--quiet",
        "--device", "cpu",
    ])  # fmt: skip
    said = capsys.readouterr().out
    report = json.loads((out / "adapt.json").read_text())
    assert code == 0 and report["chosen"] == "weightnet" and report["chosen_psnr"] is None
    assert report["kfold"]["gain"] < 0 and len(report["folds"]) == 2
    refit = out / "candidates" / "refit"
    assert "weightnet" in (refit / "config.yaml").read_text()
    assert (out / "model_best.safetensors").read_bytes() == (
        refit / "model_last.safetensors"
    ).read_bytes()
    assert "which no pair checked" in said.splitlines()[-1]
    code = main(["upscale", str(camera_pairs / "000L.png"), "--model", str(out), "-o",
                 str(tmp_path / "up.png"), "--backend", "torch"])  # fmt: skip
    assert code == 0 and Image.open(tmp_path / "up.png").size == (96, 96)
    # Without weightnet to fall back on, the starting model stays, and the summary says why.
    alone = tmp_path / "alone"
    code = main([
        "adapt", "--pairs", str(camera_pairs), "--scale", "2", "--from", str(model_file),
        "-o", str(alone), "--folds", "2", "--strategies", "finetune", "--steps", "2",
        "--eval-every", "2", "--learning-rate", "0.5", "--batch-size", "2", "--quiet",
        "--device", "cpu",
    ])  # fmt: skip
    last = capsys.readouterr().out.splitlines()[-1]
    assert code == 0 and "weightnet is not in --strategies" in last and "unchanged" in last
    assert (alone / "model_best.safetensors").read_bytes() == model_file.read_bytes()


def test_kfold_needs_fine_tuning_among_the_strategies(tmp_path, camera_pairs, capsys) -> None:
    out = tmp_path / "o"
    code = main(["adapt", "--pairs", str(camera_pairs), "--scale", "2", "-o", str(out),
                 "--choose", "kfold", "--strategies", "weightnet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "list finetune" in err
    assert not out.exists()
