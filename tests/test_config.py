"""Experiment config: example files, strict validation, one-line errors, overrides, hashing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from srmeta.config import (
    ConfigError,
    ExperimentConfig,
    config_to_yaml,
    load_config,
    resolved_device,
    resolved_output_dir,
    validate_config,
)
from srmeta.degrade import Degradation
from srmeta.errors import SrmetaError
from srmeta.models.registry import registered_names
from srmeta.run_hash import config_hash

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "configs").glob("*.yaml"))
MINIMAL = {"name": "tiny", "scale": 4, "model": {"arch": "espcn"}}


def _write(tmp_path: Path, data: dict | str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _error(tmp_path: Path, data: dict | str, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, data), overrides or [])
    message = str(err.value)
    assert "\n" not in message and message.startswith("config: ")
    return message


def _with(**sections) -> dict:
    data = {**MINIMAL}
    data.update(sections)
    return data


# ---------------------------------------------------------------- examples and defaults


def test_all_example_configs_load() -> None:
    names = {p.stem for p in EXAMPLES}
    wanted = {"espcn_x4", "fsrcnn_x4", "edsr_cpu_x4", "edsr_baseline_x4", "rcan_x4", "imdn_x4"}
    assert wanted <= names
    archs = set()
    for path in EXAMPLES:
        cfg = load_config(path)
        archs.add(cfg.model.arch)
        assert cfg.name == path.stem
        assert cfg.data.train.patch_size % cfg.scale == 0
        assert set(cfg.data.train.datasets) <= {"T91", "General100", "BSDS400"}  # never a test set
        assert set(cfg.data.val.datasets) <= {"Set5", "Set14", "BSD100", "Urban100"}
        degradation = cfg.train_degradation()
        if path.stem.startswith("real_"):  # the blind family trains on realistic inputs
            assert degradation.kind == "realistic"
        else:  # every other recipe is the clean bicubic benchmark setting
            assert degradation.is_plain_bicubic
    assert archs == set(registered_names()) - {"bicubic"}  # a config for every network
    edsr = load_config(REPO / "configs" / "edsr_baseline_x4.yaml").model.options
    assert edsr == {"n_resblocks": 16, "n_feats": 64}
    rcan = load_config(REPO / "configs" / "rcan_x4.yaml").model.options
    assert set(rcan) == {"n_resgroups", "n_resblocks", "n_feats"}


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, MINIMAL))
    assert cfg.seed == 0 and cfg.device == "auto" and cfg.data_root is None
    assert cfg.data.train.datasets == ["T91"] and cfg.data.train.patch_size == 96
    assert cfg.data.train.batch_size == 16 and cfg.data.train.augment is True
    assert cfg.data.meta is None and cfg.data.val.every == 1000
    opt = cfg.train.optimizer
    assert (opt.name, opt.lr, opt.betas, opt.weight_decay, opt.eps) == (
        "adam",
        2e-4,
        (0.9, 0.99),
        0.0,
        1e-8,
    )
    assert cfg.train.scheduler.name == "cosine" and cfg.train.loss.kind == "l1"
    assert cfg.train.weighting.name == "uniform" and cfg.train.weighting.options == {}
    assert cfg.train.grad_clip is None and cfg.train.ema is None and not cfg.train.bf16
    assert resolved_output_dir(cfg) == Path("runs") / "tiny"
    cfg.output_dir = str(tmp_path / "out")
    assert resolved_output_dir(cfg) == tmp_path / "out"
    assert resolved_device(cfg).type == ("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- one-line errors


def test_unknown_key_at_top_and_nested_level(tmp_path: Path) -> None:
    assert _error(tmp_path, _with(sede=1)) == "config: sede: unknown key"
    message = _error(tmp_path, _with(train={"optimizer": {"lrr": 1e-3}}))
    assert message == "config: train.optimizer.lrr: unknown key"
    message = _error(tmp_path, _with(data={"meta": {"dataset": "Set5", "cnt": 2}}))
    assert "data.meta.cnt: unknown key" in message


def test_wrong_types_name_the_key_and_the_value(tmp_path: Path) -> None:
    message = _error(tmp_path, _with(train={"steps": "ten"}))
    assert message == "config: train.steps: Input should be a valid integer (got 'ten')"
    assert "train.bf16" in _error(tmp_path, _with(train={"bf16": "maybe"}))
    assert "train.steps" in _error(tmp_path, _with(train={"steps": 2.5}))
    assert "train.optimizer.lr" in _error(tmp_path, _with(train={"optimizer": {"lr": True}}))
    assert "scale: Input should be 2, 3 or 4 (got 5)" in _error(tmp_path, _with(scale=5))
    assert "train.optimizer.name" in _error(tmp_path, _with(train={"optimizer": {"name": "sgd"}}))
    message = _error(tmp_path, {"name": "x", "scale": 2})
    assert message == "config: model: Field required"
    # Several problems are reported together, still on one line.
    message = _error(tmp_path, _with(seed=-1, train={"steps": 0}))
    assert "seed:" in message and "train.steps:" in message and ";" in message


def test_missing_file_and_bad_yaml_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config: cannot read .*nope\.yaml") as err:
        load_config(tmp_path / "nope.yaml")
    assert "\n" not in str(err.value)
    message = _error(tmp_path, "name: x\nscale: [4\n")
    assert "bad YAML" in message and "line" in message
    assert "expected a mapping" in _error(tmp_path, "- a\n- b\n")
    assert isinstance(ConfigError("x"), SrmetaError)


def test_yaml_float_spelling_and_dataset_shorthand(tmp_path: Path) -> None:
    # YAML 1.1 reads 1e-3 as a string; a float field still takes it.
    cfg = load_config(
        _write(
            tmp_path,
            "name: a\nscale: 2\nmodel: {arch: espcn}\n"
            "train: {optimizer: {lr: 1e-3}}\ndata: {train: {datasets: T91}}\n",
        )
    )
    assert cfg.train.optimizer.lr == 1e-3 and cfg.data.train.datasets == ["T91"]


def test_patch_size_must_be_divisible_by_scale(tmp_path: Path) -> None:
    message = _error(tmp_path, _with(data={"train": {"patch_size": 90}}))
    assert message == "config: data.train.patch_size: 90 is not divisible by scale 4"
    assert load_config(_write(tmp_path, _with(scale=3, data={"train": {"patch_size": 90}})))
    meta = {"dataset": "Set5", "count": 2, "patch_size": 50}
    assert "data.meta.patch_size" in _error(tmp_path, _with(data={"meta": meta}))
    assert "data.val.crop" in _error(tmp_path, _with(data={"val": {"crop": 30}}))


@pytest.mark.parametrize(
    ("meta", "fragment"),
    [
        ({}, "exactly one of images, folder, dataset or pairs (got none)"),
        ({"dataset": "Set5", "pairs": {"folder": "p"}}, "(got dataset, pairs)"),
        ({"pairs": {"folder": "p"}, "degradation": "bicubic"}, "drop degradation"),
        ({"pairs": {"lr": "p"}}, "give folder, or both lr and hr"),
        ({"pairs": {"folder": "p", "lr": "a", "hr": "b"}}, "give folder, or both lr and hr"),
        ({"dataset": "Set5", "folder": "x"}, "(got folder, dataset)"),
        ({"images": ["a.png"], "dataset": "Set5"}, "(got images, dataset)"),
        ({"folder": "x", "count": 2}, "set dataset"),
        ({"dataset": "Set5", "names": ["baby"], "count": 1}, "not both"),
        ({"images": []}, "data.meta.images"),
    ],
)
def test_meta_needs_exactly_one_source(tmp_path: Path, meta: dict, fragment: str) -> None:
    message = _error(tmp_path, _with(data={"meta": meta}))
    assert message.startswith("config: data.meta") and fragment in message


def test_meta_sources_and_patch_size_default(tmp_path: Path) -> None:
    for meta in ({"images": ["a.png"]}, {"folder": "f"}, {"dataset": "Set5", "names": ["baby"]}):
        cfg = load_config(_write(tmp_path, _with(data={"meta": meta})))
        assert cfg.meta_patch_size() == 96 and cfg.meta_degradation().is_plain_bicubic
    cfg = load_config(_write(tmp_path, _with(data={"meta": {"folder": "f", "patch_size": 48}})))
    assert cfg.meta_patch_size() == 48
    with pytest.raises(ConfigError, match=r"data\.meta"):
        load_config(_write(tmp_path, MINIMAL)).meta_degradation()


def test_degradations_are_validated_and_built(tmp_path: Path) -> None:
    message = _error(tmp_path, _with(data={"train": {"degradation": "blur:iso:x"}}))
    assert message.startswith("config: data.train.degradation: ") and "blur:iso:x" in message
    message = _error(tmp_path, _with(data={"train": {"degradation": "sharpen:3"}}))
    assert "unknown degradation token 'sharpen:3'" in message
    bad = {"dataset": "Set5", "degradation": {"noise": -1}}
    assert "data.meta.degradation" in _error(tmp_path, _with(data={"meta": bad}))
    assert "data.train.degradation" in _error(tmp_path, _with(data={"train": {"degradation": 3}}))
    spec = "blur:iso:1.2 down:bicubic noise:5 seed:1"
    meta = {"dataset": "Set5", "degradation": {"down": "direct", "noise": [0, 10]}}
    cfg = load_config(_write(tmp_path, _with(data={"train": {"degradation": spec}, "meta": meta})))
    assert cfg.train_degradation() == Degradation.parse(spec)
    assert cfg.meta_degradation() == Degradation(down="direct", noise=(0, 10))
    spec_file = _write(tmp_path, {"noise": 3}, "deg.yaml")
    cfg = load_config(_write(tmp_path, _with(data={"train": {"degradation": str(spec_file)}})))
    assert cfg.train_degradation() == Degradation(noise=3)


def test_corrupt_section_reads_the_four_kinds(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, MINIMAL)).data.train.corrupt is None
    text = "name: a\nscale: 4\nmodel: {arch: espcn}\ndata: {train: {corrupt: %s}}\n"
    cases = [
        ("{fraction: 0.5, blur: 1.5, seed: 0}", {"blur": 1.5, "shift": None, "seed": 0}),
        ("{fraction: 0.5, shift: [2, 4]}", {"shift": (2, 4), "blur": None}),
        ("{fraction: 0.5, shift: 3}", {"shift": (3, 3)}),  # one distance for every image
        ("{fraction: 0.5, jpeg: 20}", {"jpeg": 20, "noise": None}),
        ("{fraction: 0.5, noise: 15, seed: 7}", {"noise": 15.0, "seed": 7}),
        ("{fraction: 0, blur: 1, shift: 1, noise: 1, jpeg: 100}", {"fraction": 0.0}),
        ("{fraction: 1, noise: 1e-1}", {"fraction": 1.0, "noise": 0.1}),
    ]
    for body, want in cases:
        cfg = load_config(_write(tmp_path, text % body))
        corrupt = cfg.data.train.corrupt
        assert corrupt is not None
        assert {k: getattr(corrupt, k) for k in want} == want
        again = load_config(_write(tmp_path, config_to_yaml(cfg), "again.yaml"))
        assert again == cfg and config_hash(again) == config_hash(cfg)
    path = _write(tmp_path, _with(data={"train": {"corrupt": {"fraction": 0.5, "jpeg": 20}}}))
    cfg = load_config(path, ["data.train.corrupt.fraction=0.25", "data.train.corrupt.shift=2"])
    assert cfg.data.train.corrupt is not None
    assert (cfg.data.train.corrupt.fraction, cfg.data.train.corrupt.shift) == (0.25, (2, 2))
    assert config_hash(cfg) != config_hash(load_config(path))


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (
            {"fraction": 1.5, "blur": 1},
            "config: data.train.corrupt.fraction: Input should be less than or equal to 1"
            " (got 1.5)",
        ),
        (
            {"fraction": 0.5},
            "config: data.train.corrupt: give at least one of blur, shift, noise or jpeg",
        ),
        (
            {"fraction": 0.5, "jpeg": 20, "sigma": 2},
            "config: data.train.corrupt.sigma: unknown key",
        ),
        ({"jpeg": 20}, "config: data.train.corrupt.fraction: Field required"),
        (
            {"fraction": 0.5, "shift": [4, 2]},
            "config: data.train.corrupt: shift: range low 4 is above high 2",
        ),
    ],
)
def test_corrupt_errors_name_the_key(tmp_path: Path, corrupt: dict, expected: str) -> None:
    assert _error(tmp_path, _with(data={"train": {"corrupt": corrupt}})) == expected


def test_corrupt_values_are_range_checked(tmp_path: Path) -> None:
    for bad in (
        {"shift": 0},
        {"shift": [1, 2, 3]},
        {"shift": 2.5},
        {"shift": True},
        {"jpeg": 0},
        {"jpeg": 101},
        {"blur": 0},
        {"noise": -1},
        {"noise": True},
    ):
        message = _error(tmp_path, _with(data={"train": {"corrupt": {"fraction": 0.5, **bad}}}))
        assert message.startswith(f"config: data.train.corrupt.{next(iter(bad))}")
    assert "data.train.corrupt.fraction" in _error(
        tmp_path, _with(data={"train": {"corrupt": {"fraction": -0.1, "jpeg": 20}}})
    )
    message = _error(tmp_path, MINIMAL, ["data.train.corrupt.sigma=2"])
    assert "data.train.corrupt.sigma: unknown key" in message


def test_other_cross_checks(tmp_path: Path) -> None:
    assert "name:" in _error(tmp_path, _with(name="a/b"))
    assert "device:" in _error(tmp_path, _with(device="gpu"))
    sched = {"name": "step", "milestones": [300, 200]}
    assert "strictly increasing" in _error(tmp_path, _with(train={"scheduler": sched}))
    assert "train.ema" in _error(tmp_path, _with(train={"ema": 1.5}))


def test_direct_construction_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"train\.steps"):
        validate_config({**MINIMAL, "train": {"steps": "x"}})
    assert isinstance(validate_config(MINIMAL), ExperimentConfig)


# ---------------------------------------------------------------- overrides


def test_overrides_set_nested_values_lists_and_mappings(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    cfg = load_config(
        path,
        [
            "train.optimizer.lr=1e-3",
            "data.train.datasets=[T91,Set5]",
            "train.bf16=true",
            "seed=7",
            "train.grad_clip=0.5",
            "model.options.features=[32, 16]",
            "data.meta.dataset=Set5",
            "data.meta.count=2",
            "train.scheduler={name: step, milestones: [10, 20]}",
            "data.val.max_images=null",
            "seed=8",  # later overrides win
        ],
    )
    assert cfg.train.optimizer.lr == 1e-3
    assert cfg.data.train.datasets == ["T91", "Set5"]
    assert cfg.train.bf16 is True and cfg.seed == 8 and cfg.train.grad_clip == 0.5
    assert cfg.model.options == {"features": [32, 16]}
    assert (cfg.data.meta.dataset, cfg.data.meta.count) == ("Set5", 2)
    assert cfg.train.scheduler.milestones == [10, 20]
    assert cfg.data.val.max_images is None


def test_override_of_unknown_key_names_the_dotted_path(tmp_path: Path) -> None:
    message = _error(tmp_path, MINIMAL, ["train.optimizer.lrr=1e-3"])
    assert message.startswith("config: train.optimizer.lrr: unknown key")
    assert _error(tmp_path, MINIMAL, ["trian.steps=3"]).startswith("config: trian: unknown key")
    message = _error(tmp_path, MINIMAL, ["train.steps.value=3"])
    assert message.startswith("config: train.steps.value: unknown key")
    assert "KEY=VALUE" in _error(tmp_path, MINIMAL, ["train.steps"])
    # A known key with a bad value fails in validation, with the same path.
    message = _error(tmp_path, MINIMAL, ["train.steps=ten"])
    assert message == "config: train.steps: Input should be a valid integer (got 'ten')"


# ---------------------------------------------------------------- serialisation


def test_yaml_round_trip_equals_original(tmp_path: Path) -> None:
    for path in EXAMPLES:
        cfg = load_config(path)
        again = load_config(_write(tmp_path, config_to_yaml(cfg), "again.yaml"))
        assert again == cfg and config_hash(again) == config_hash(cfg)
    meta = {"dataset": "Set5", "names": ["baby"], "degradation": {"noise": [0, 5]}}
    cfg = load_config(_write(tmp_path, _with(data={"meta": meta}, train={"ema": 0.999})))
    again = load_config(_write(tmp_path, config_to_yaml(cfg), "again.yaml"))
    assert again == cfg


def test_config_hash_is_stable_and_tracks_values(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    first = config_hash(load_config(path))
    assert len(first) == 16 and int(first, 16) >= 0
    assert config_hash(load_config(path)) == first
    # Spelling differences that validate to the same config hash the same.
    same = _write(tmp_path, {**MINIMAL, "train": {"optimizer": {"lr": "2e-4"}}}, "same.yaml")
    assert config_hash(load_config(same)) == first
    assert config_hash(load_config(path, ["train.optimizer.lr=1e-3"])) != first
    assert config_hash(load_config(path, ["seed=1"])) != first


def test_yaml_1_2_floats_reach_free_form_options(tmp_path):
    """PyYAML's YAML 1.1 reads 1e-2 as a string; options dicts must get a float."""
    from srmeta.config import load_config
    from srmeta.yamlio import safe_load

    assert safe_load("a: 1e-2\nb: 2E5\nc: .5\nd: 1.0e-3\ne: 12\nf: 1e\ng: v1e3") == {
        "a": 0.01,
        "b": 200000.0,
        "c": 0.5,
        "d": 0.001,
        "e": 12,
        "f": "1e",
        "g": "v1e3",
    }
    source = REPO / "configs" / "espcn_x4.yaml"
    text = source.read_text().replace(
        "weighting: {name: uniform}", "weighting: {name: weightnet, options: {lr: 1e-2}}"
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    cfg = load_config(path, ["train.weighting.options.beta=5e-2"])
    assert cfg.train.weighting.options == {"lr": 0.01, "beta": 0.05}
