"""Architectures, the registry, weight files and detection, and the official IMDN weights.

Every network is checked at every scale with small options (shape, gradients, a save/load
round trip); parameter counts are checked against published figures; the official IMDN
checkpoints must load strictly and beat bicubic on a real Set5 image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image
from safetensors import safe_open

from srmeta.errors import ModelError
from srmeta.metrics import score
from srmeta.models import (
    ModelSpec,
    detect_architecture,
    get_descriptor,
    load_model,
    model_info,
    parameter_count,
    read_model_file,
    registered_names,
    save_model_file,
)
from srmeta.models.bicubic import Bicubic
from srmeta.models.edsr import EDSR
from srmeta.models.imdn import IMDN

REPO = Path(__file__).resolve().parents[1]
SCALES = (2, 3, 4)
# Small variants: every structural feature present, a few thousand parameters at most.
SMALL: dict[str, dict[str, object]] = {
    "espcn": {"features": (8, 4)},
    "fsrcnn": {"d": 8, "s": 4, "m": 2},
    "edsr": {"n_resblocks": 2, "n_feats": 8},
    "rcan": {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4},
    "imdn": {"n_feats": 16, "n_modules": 2},
    "rfdn": {"n_feats": 8, "n_modules": 2},
    "rlfn": {"n_feats": 8, "mid_feats": 6, "n_blocks": 2, "esa_feats": 4},
    "pan": {"nf": 8, "unf": 6, "nb": 2},
    "carn_m": {"n_feats": 8, "group": 2, "multi_scale": False},
    "repsr": {
        "features": 4,
        "blocks": 2,
        "expand": 8,
        "branches": ("expand", "conv1x1", "identity", "sobel", "laplacian"),
    },
}
NETS = sorted(SMALL)
CASES = [(arch, scale) for arch in NETS for scale in SCALES]
# Parameter counts of the default (published) configurations. EDSR-baseline x4: 1,517,571
# (the official EDSR code's count; "1.5M" in the paper). IMDN: the tensor totals of the
# official checkpoints (694K / 703K / 715K in the paper). PAN: the official checkpoints
# and test logs (272K at x4 in the paper). RCAN x4: 15,592,379 in the
# official code, which counts its two 3x3+3 mean-shift convs (24); ours is a buffer.
# RFDN and RLFN x4: the tensor totals of the AIM 2020 and NTIRE 2022 files (0.433 M and
# 0.317 M in the challenge reports).
PUBLISHED_COUNTS = {
    ("edsr", 4): 1_517_571,
    ("imdn", 2): 694_404,
    ("imdn", 3): 703_059,
    ("imdn", 4): 715_176,
    ("pan", 2): 261_403,
    ("pan", 3): 261_403,
    ("pan", 4): 272_419,
    ("rcan", 4): 15_592_379 - 24,
    ("rfdn", 4): 433_448,
    ("rlfn", 4): 317_218,
}


def _small(arch: str, scale: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return get_descriptor(arch).instantiate(scale, **SMALL[arch])


def _input(seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(seed))


def _full_options(arch: str) -> dict[str, object]:
    return get_descriptor(arch).options_with_defaults(SMALL[arch])


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


# --- architectures -----------------------------------------------------------------------


def test_registry_lists_the_architectures():
    assert registered_names() == ["bicubic", *NETS]
    for arch in NETS:
        d = get_descriptor(arch)
        assert d.scales == SCALES and d.in_channels == d.out_channels == 3
        assert d.size_multiple == 1 and d.supports_bf16 and d.summary
        assert set(SMALL[arch]) <= set(d.default_options)


@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_output_shape_and_attributes(arch, scale):
    model = _small(arch, scale).eval()
    info = model_info(model)  # what callers read: the descriptor resolved for this model
    assert info is not None and (info.arch, info.scale, info.in_channels) == (arch, scale, 3)
    with torch.no_grad():
        out = model(_input())
    assert out.shape == (1, 3, 12 * scale, 10 * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_every_parameter_gets_a_finite_gradient(arch, scale):
    model = _small(arch, scale).train()
    model(_input()).mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_save_and_load_round_trip_gives_identical_outputs(arch, scale, tmp_path):
    model = _small(arch, scale).eval()
    path = save_model_file(
        tmp_path / "m.safetensors", model, arch, scale, SMALL[arch], metadata={"run": "t"}
    )
    loaded = load_model(path)
    assert type(loaded) is type(model) and not loaded.training and loaded.scale == scale
    x = _input()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["srmeta.arch"] == arch and meta["srmeta.scale"] == str(scale)
    assert meta["run"] == "t"
    assert read_model_file(path)[1] == ModelSpec(arch, scale, _full_options(arch))


@pytest.mark.parametrize("arch", NETS)
def test_bf16_forward_is_finite(arch):
    model = _small(arch, 2).eval().to(torch.bfloat16)
    with torch.no_grad():
        out = model(_input().to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_espcn_residual_adds_a_bicubic_upsample():
    model = _small("espcn", 3)
    torch.nn.init.zeros_(model.convs[-1].weight)
    torch.nn.init.zeros_(model.convs[-1].bias)
    x = _input()
    expected = torch.nn.functional.interpolate(x, scale_factor=3, mode="bicubic")
    assert torch.allclose(model(x), expected)
    plain = get_descriptor("espcn").instantiate(3, features=(8, 4), residual=False)
    plain.load_state_dict(model.state_dict())
    assert torch.equal(plain(x), torch.zeros(1, 3, 36, 30))


def test_edsr_subtracts_and_adds_the_div2k_mean():
    model = EDSR(2, n_resblocks=1, n_feats=4)
    assert model.rgb_mean.flatten().tolist() == pytest.approx([0.4488, 0.4371, 0.4040])
    assert "rgb_mean" not in model.state_dict()  # a constant, not a weight
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    assert torch.allclose(model(_input()), model.rgb_mean.expand(1, 3, 24, 20))


# --- parameter counts --------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_parameter_count_equals_the_built_model(arch, scale):
    model = _small(arch, scale)
    assert parameter_count(arch, scale, **SMALL[arch]) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch", [*NETS, "bicubic"])
def test_default_parameter_count_equals_the_built_model(arch):
    model = get_descriptor(arch).instantiate(4)
    expected = sum(p.numel() for p in model.parameters())
    assert get_descriptor(arch).parameter_count(4) == expected


@pytest.mark.parametrize(("arch", "scale"), sorted(PUBLISHED_COUNTS))
def test_parameter_counts_match_published_figures(arch, scale):
    assert parameter_count(arch, scale) == PUBLISHED_COUNTS[(arch, scale)]


# --- detection and foreign files ---------------------------------------------------------


@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_detection_recovers_a_bare_state_dict(arch, scale, tmp_path):
    model = _small(arch, scale)
    path = tmp_path / "bare.safetensors"
    safetensors.torch.save_file(model.state_dict(), str(path))  # no metadata
    state, spec = read_model_file(path)
    # FSRCNN's 9x9 deconvolution has the same shape at every scale, PAN's layers the same
    # at x2 and x3 (the factor is in a nearest-neighbour upsampling): not detectable.
    unknown = arch == "fsrcnn" or (arch == "pan" and scale != 4)
    expected_scale = None if unknown else scale
    assert spec == ModelSpec(arch, expected_scale, _full_options(arch))
    assert detect_architecture(state) == spec
    loaded = load_model(path, scale if unknown else None)
    with torch.no_grad():
        assert torch.equal(loaded(_input()), model.eval()(_input()))


def test_fsrcnn_without_metadata_needs_a_scale(tmp_path):
    path = tmp_path / "f.safetensors"
    safetensors.torch.save_file(_small("fsrcnn", 3).state_dict(), str(path))
    with pytest.raises(ModelError, match="do not record their scale") as exc:
        load_model(path)
    _one_line(exc)


def test_pth_checkpoint_wrapped_and_prefixed_is_detected(tmp_path):
    model = _small("edsr", 4).eval()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 7, "state_dict": state}, path)
    loaded = load_model(path, 4)
    assert isinstance(loaded, EDSR) and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(_input()), model(_input()))


def test_unknown_weights_name_their_keys():
    with pytest.raises(ModelError, match=r"keys: foo\.weight") as exc:
        detect_architecture({"foo.weight": torch.zeros(3, 3)})
    _one_line(exc)


# --- load_model ---------------------------------------------------------------------------


def test_load_model_by_name_and_its_errors(tmp_path):
    assert not load_model("edsr", 2, n_resblocks=1, n_feats=4).training
    cases = [
        (lambda: load_model("edsr"), "needs a scale"),
        (lambda: load_model("edsr", 5), "supports scales"),
        (lambda: load_model("edsr", 2, depth=3), "no option depth"),
        (
            lambda: load_model("edsr", 2, n_feats=0),
            "option n_feats: Input should be greater than or equal to 1",
        ),
        (
            lambda: load_model("espcn", 2, features="64"),
            "option features: Input should be a valid tuple",
        ),
        (lambda: load_model("nosuchnet", 2), "unknown model 'nosuchnet'"),
        (lambda: load_model(tmp_path / "missing.pth"), "no such weights file"),
    ]
    for call, message in cases:
        with pytest.raises(ModelError, match=message) as exc:
            call()
        _one_line(exc)


def test_load_model_refuses_a_different_scale(tmp_path):
    path = save_model_file(tmp_path / "m.safetensors", _small("imdn", 4), "imdn", 4, SMALL["imdn"])
    with pytest.raises(ModelError, match="model file is x4, asked for x2") as exc:
        load_model(path, 2)
    _one_line(exc)
    assert load_model(path, 4).scale == 4


def test_run_folder_prefers_best_then_last(tmp_path):
    with pytest.raises(ModelError, match=r"model_best\.safetensors or model_last") as exc:
        load_model(tmp_path)
    _one_line(exc)
    last, best = _small("edsr", 2, seed=1), _small("edsr", 2, seed=2)
    save_model_file(tmp_path / "model_last.safetensors", last, "edsr", 2, SMALL["edsr"])
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path)(_input()), last.eval()(_input()))
        save_model_file(tmp_path / "model_best.safetensors", best, "edsr", 2, SMALL["edsr"])
        assert torch.equal(load_model(str(tmp_path), 2)(_input()), best.eval()(_input()))


def test_corrupt_and_foreign_files_give_one_line_errors(tmp_path):
    good = tmp_path / "good.safetensors"
    save_model_file(good, _small("edsr", 2), "edsr", 2, SMALL["edsr"])
    data = good.read_bytes()
    files = {
        "truncated.safetensors": (data[: len(data) // 2], "not a readable safetensors"),
        "garbage.safetensors": (b"\x00" * 64, "not a readable safetensors"),
        "text.pth": (b"hello, not a checkpoint\n", "not a readable PyTorch weights"),
        "empty.pt": (b"", "not a readable PyTorch weights"),
    }
    for name, (content, message) in files.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelError, match=message) as exc:
            load_model(tmp_path / name, 2)
        assert name in _one_line(exc)
    torch.save({"args": argparse.Namespace(lr=0.1)}, tmp_path / "pickled.pth")  # not unpickled
    with pytest.raises(ModelError, match="safe weights-only loader") as exc:
        load_model(tmp_path / "pickled.pth")
    _one_line(exc)
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "notweights.pth")
    with pytest.raises(ModelError, match="holds no state dict") as exc:
        load_model(tmp_path / "notweights.pth")
    _one_line(exc)
    # Weights of the wrong shape for the options given.
    with pytest.raises(ModelError, match="weights do not fit") as exc:
        load_model(good, n_feats=16)
    _one_line(exc)


def test_save_model_file_checks_before_writing(tmp_path):
    model = _small("edsr", 2)
    path = tmp_path / "m.safetensors"
    with pytest.raises(ModelError, match="are not edsr x2"):
        save_model_file(path, model, "edsr", 2, {"n_resblocks": 3, "n_feats": 8})
    with pytest.raises(ModelError, match="the model is x2, not x3"):
        save_model_file(path, _small("fsrcnn", 2), "fsrcnn", 3, SMALL["fsrcnn"])
    with pytest.raises(ModelError, match=r"may not set srmeta\.scale"):
        save_model_file(path, model, "edsr", 2, SMALL["edsr"], metadata={"srmeta.scale": "4"})
    assert not path.exists()
    save_model_file(path, model, "edsr", 2, SMALL["edsr"])
    with pytest.raises(ModelError, match="already exists") as exc:
        save_model_file(path, model, "edsr", 2, SMALL["edsr"])
    _one_line(exc)
    save_model_file(path, model, "edsr", 2, SMALL["edsr"], force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp files


def test_options_the_weights_cannot_show_survive_in_metadata(tmp_path):
    model = get_descriptor("espcn").instantiate(2, features=(8, 4), residual=False)
    options = {"features": [8, 4], "residual": False}  # lists (as from JSON) are fine
    path = save_model_file(tmp_path / "e.safetensors", model, "espcn", 2, options)
    assert read_model_file(path)[1].options == {"features": (8, 4), "residual": False}
    assert load_model(path).residual is False


# --- official IMDN weights ----------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
def test_official_imdn_weights_load_strictly(scale, peers_root):
    path = peers_root / "torch" / f"IMDN_x{scale}.pth"
    raw = torch.load(path, weights_only=True, map_location="cpu")
    assert all(k.startswith("module.") for k in raw)
    _, spec = read_model_file(path)
    assert spec == ModelSpec("imdn", scale, {"n_feats": 64, "n_modules": 6})
    model = load_model(path)
    assert isinstance(model, IMDN) and model.scale == scale and not model.training
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_COUNTS[("imdn", scale)]
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, raw[f"module.{key}"]), key


def _png(path: Path) -> torch.Tensor:
    if not path.is_file():
        pytest.fail(f"benchmark image {path} not found; set SRMETA_DATA")
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)


def test_official_imdn_x4_beats_bicubic_on_set5_baby(peers_root, data_root):
    lr = _png(data_root / "Set5" / "LR_bicubic" / "X4" / "baby.png")
    hr = _png(data_root / "Set5" / "HR" / "baby.png")
    hr = hr[:, : hr.shape[1] // 4 * 4, : hr.shape[2] // 4 * 4]  # mod-crop
    model = load_model(peers_root / "torch" / "IMDN_x4.pth", 4)
    with torch.no_grad():
        sr = model(lr.unsqueeze(0).float() / 255.0)[0]
    bicubic = Bicubic(4)(lr.unsqueeze(0))[0]
    assert bicubic.dtype == torch.uint8
    imdn_psnr = score(sr, hr, border=4).psnr
    bicubic_psnr = score(bicubic, hr, border=4).psnr
    assert imdn_psnr > bicubic_psnr + 1.5, (imdn_psnr, bicubic_psnr)


def test_official_imdn_tiles_give_the_whole_image_output(peers_root, data_root):
    """IMDN's channel attention pools over the whole image; its statistics are gathered
    from the tiles, so tiled output is the whole image's (cross-faded tiles were not)."""
    from official_weights import natural_lr
    from srmeta.inference.upscaler import Upscaler

    upscaler = Upscaler(peers_root / "torch" / "IMDN_x4.pth", backend="torch", tile=80)
    lr = natural_lr(data_root)
    assert upscaler.tiles_for(*lr.shape[1:]) == 4 * (1 + 6)  # 4 tiles, 6 gathering passes
    with torch.no_grad():
        whole = upscaler.module(lr[None])[0]
    assert float((upscaler.upscale_tensor(lr) - whole).abs().max()) < 1e-5
