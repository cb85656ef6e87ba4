"""Hand-made weightings (loss_power, gradient_weighted), UDL and the focal frequency loss.

Each strategy is checked against an oracle that shares none of its code: NumPy arithmetic,
``scipy.ndimage.sobel``, NumPy's FFT, finite differences (``gradcheck``), Parseval.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from srmeta.errors import SrmetaError
from srmeta.losses import pixel_loss_map
from srmeta.weighting.base import StepContext
from srmeta.weighting.classic import GradientWeighted, LossPower
from srmeta.weighting.frequency import FocalFrequency, focal_frequency_loss, spectrum_weight
from srmeta.weighting.udl import UDL


@pytest.fixture(autouse=True)
def _one_thread():
    """Tensors here are tiny: intra-op threads only add contention (100x on a busy box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ctx(seed: int = 0, b: int = 2, c: int = 3, h: int = 12, w: int = 10) -> StepContext:
    gen = torch.Generator().manual_seed(seed)
    hr = torch.rand(b, c, h, w, generator=gen)
    sr = (hr + 0.1 * torch.randn(b, c, h, w, generator=gen)).requires_grad_()
    model = nn.Conv2d(c, c, 1)
    optimizer = torch.optim.Adam(model.parameters())
    lr = hr[..., ::2, ::2]
    return StepContext(0, lr, hr, model, optimizer, sr=sr, loss_map=pixel_loss_map(sr, hr))


def _assert_weight_contract(weights: torch.Tensor, ctx: StepContext) -> None:
    assert weights.shape == ctx.loss_map.shape
    assert not weights.requires_grad
    assert torch.all(weights >= 0)
    means = weights.double().mean(dim=(-2, -1))
    torch.testing.assert_close(means, torch.ones_like(means), rtol=0, atol=1e-5)


# -- loss_power ----------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_loss_power_matches_hand_computation(gamma):
    ctx = _ctx()
    weights = LossPower(gamma=gamma).weights(ctx)
    _assert_weight_contract(weights, ctx)
    loss = ctx.loss_map.detach().numpy().astype(np.float64)
    powered = loss**gamma
    expected = powered / powered.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-5)


def test_loss_power_gamma_zero_is_uniform_and_negative_refused():
    ctx = _ctx()
    assert torch.equal(LossPower(gamma=0.0).weights(ctx), torch.ones_like(ctx.loss_map))
    with pytest.raises(SrmetaError, match="gamma"):
        LossPower(gamma=-1.0)


# -- gradient_weighted ---------------------------------------------------------------------
def _scipy_gw(error: np.ndarray, alpha: float) -> np.ndarray:
    """GW weights by brute force: scipy Sobel per (image, channel), replicate border."""
    b, c, h, w = error.shape
    out = np.zeros((b, h, w))
    for i in range(b):
        for ch in range(c):
            dx = ndimage.sobel(error[i, ch], axis=1, mode="nearest")
            dy = ndimage.sobel(error[i, ch], axis=0, mode="nearest")
            out[i] += (1 + alpha * np.abs(dx)) * (1 + alpha * np.abs(dy))
    out /= c
    return out / out.mean(axis=(1, 2), keepdims=True)


@pytest.mark.parametrize("alpha", [4.0, 0.7])
def test_gradient_weighted_matches_scipy_sobel(alpha):
    ctx = _ctx(seed=3, h=9, w=13)
    weights = GradientWeighted(alpha=alpha).weights(ctx)
    _assert_weight_contract(weights, ctx)
    error = (ctx.sr.detach() - ctx.hr).double().numpy()
    np.testing.assert_allclose(weights.numpy(), _scipy_gw(error, alpha), rtol=1e-5)


def test_gradient_weighted_flat_error_is_uniform_and_tiny_patches_work():
    ctx = _ctx(h=1, w=1)
    assert torch.allclose(GradientWeighted().weights(ctx), torch.ones(2, 1, 1))
    ctx = _ctx()
    ctx.sr = (ctx.hr + 0.25).requires_grad_()  # constant offset: no error structure
    assert torch.allclose(GradientWeighted().weights(ctx), torch.ones_like(ctx.loss_map))


# -- UDL -----------------------------------------------------------------------------------
def _udl_loss(strategy: UDL, ctx: StepContext) -> float:
    with torch.no_grad():
        s = strategy.net(ctx.sr.detach())[:, 0]
        return float((torch.exp(-s) * ctx.loss_map.detach()).mean() + 2 * s.mean())


def test_udl_stage1_learns_and_weights_are_positive():
    ctx = _ctx(seed=1)
    udl = UDL(stage=1, lr=1e-2)
    first = udl.weights(ctx)
    assert torch.equal(first, torch.ones_like(first))  # s starts at 0: plain pixel loss
    before = _udl_loss(udl, ctx)
    for _ in range(5):
        logs = udl.update(ctx)
    assert _udl_loss(udl, ctx) < before
    assert float(logs["udl_loss"]) < before
    weights = udl.weights(ctx)
    _assert_weight_contract(weights, ctx)
    assert torch.all(weights > 0)
    with torch.no_grad():
        raw = torch.exp(-udl.net(ctx.sr.detach())[:, 0])
    torch.testing.assert_close(weights, raw / raw.mean(dim=(1, 2), keepdim=True))


def test_udl_state_round_trip_gives_identical_weights():
    ctx = _ctx(seed=2)
    udl = UDL(stage=1, lr=1e-2)
    for _ in range(3):
        udl.update(ctx)
    state = udl.state_dict()
    other = UDL(stage=1, lr=1e-2, seed=7)
    assert not torch.equal(other.weights(ctx), udl.weights(ctx))  # untrained: uniform
    other.load_state_dict(state)
    assert torch.equal(other.weights(ctx), udl.weights(ctx))
    udl.update(ctx)  # the optimiser state came along: the next steps agree as well
    other.update(ctx)
    assert torch.equal(other.weights(ctx), udl.weights(ctx))
    with pytest.raises(SrmetaError, match="stage"):
        other.load_state_dict({**state, "stage": 2})


def test_udl_stage2_uses_the_frozen_stage1_net(tmp_path):
    ctx = _ctx(seed=4)
    stage1 = UDL(stage=1, lr=1e-2)
    for _ in range(5):
        stage1.update(ctx)
    path = tmp_path / "s.safetensors"
    stage1.save_uncertainty(path)
    stage2 = UDL(stage=2, uncertainty_from=str(path))
    assert stage2.update(ctx) == {}
    assert not any(p.requires_grad for p in stage2.net.parameters())
    weights = stage2.weights(ctx)
    _assert_weight_contract(weights, ctx)
    with torch.no_grad():  # the oracle: the stage-1 net's own output, shifted and scaled
        s = stage1.net(ctx.sr.detach())[:, 0].double().numpy()
    shifted = s - s.min(axis=(1, 2), keepdims=True) + 1
    expected = shifted / shifted.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-5)
    assert torch.all(weights > 0)
    restored = UDL(stage=2, uncertainty_from=str(path))
    restored.load_state_dict(stage2.state_dict())
    assert torch.equal(restored.weights(ctx), weights)


def test_udl_stage2_reads_a_run_checkpoint_and_refuses_bad_sources(tmp_path):
    from srmeta import checkpoints as ckpt

    ctx = _ctx(seed=5)
    stage1 = UDL(stage=1, lr=1e-2)
    stage1.update(ctx)
    ckpt.save_state(tmp_path, 10, {"weighting": stage1.state_dict()}, keep=1)
    stage2 = UDL(stage=2, uncertainty_from=str(tmp_path))
    with torch.no_grad():
        s = stage1.net(ctx.sr.detach())
    torch.testing.assert_close(stage2.uncertainty(ctx.sr), s)
    with pytest.raises(SrmetaError, match="uncertainty_from"):
        UDL(stage=2)
    with pytest.raises(SrmetaError, match="stage: Input should be 1 or 2"):
        UDL(stage=3)
    with pytest.raises(SrmetaError, match="alpha"):
        FocalFrequency(alpha=-1.0)
    with pytest.raises(SrmetaError, match="does not exist"):
        UDL(stage=2, uncertainty_from=str(tmp_path / "missing.safetensors"))
    with pytest.raises(SrmetaError, match="no checkpoints"):
        UDL(stage=2, uncertainty_from=str(tmp_path / "checkpoints"))


# -- focal frequency -----------------------------------------------------------------------
def test_ffl_zero_for_identical_images_positive_otherwise():
    ctx = _ctx(seed=6)
    assert float(focal_frequency_loss(ctx.hr, ctx.hr.clone())) == 0.0
    assert float(focal_frequency_loss(ctx.sr.detach(), ctx.hr)) > 0.0
    strategy = FocalFrequency(weight=0.5, alpha=1.0)
    assert torch.equal(strategy.weights(ctx), torch.ones_like(ctx.loss_map))
    extra = strategy.extra_loss(ctx)
    assert extra.requires_grad
    torch.testing.assert_close(extra, 0.5 * focal_frequency_loss(ctx.sr, ctx.hr))


def test_ffl_matches_numpy_fft():
    ctx = _ctx(seed=7, h=6, w=5)
    sr, hr = ctx.sr.detach().double().numpy(), ctx.hr.double().numpy()
    diff = np.fft.fft2(sr, norm="ortho") - np.fft.fft2(hr, norm="ortho")
    magnitude = np.abs(diff)
    weight = magnitude / magnitude.max(axis=(2, 3), keepdims=True)
    expected = np.mean(weight * magnitude**2)
    assert float(focal_frequency_loss(ctx.sr.detach(), ctx.hr)) == pytest.approx(expected, rel=1e-5)


def test_ffl_alpha_zero_is_mse_by_parseval():
    ctx = _ctx(seed=8)
    sr, hr = ctx.sr.detach().double(), ctx.hr.double()
    mse = float(((sr - hr) ** 2).mean())  # unitary DFT, same element count: constant 1
    spectral = np.mean(np.abs(np.fft.fft2(sr.numpy() - hr.numpy(), norm="ortho")) ** 2)
    assert spectral == pytest.approx(mse, rel=1e-12)
    assert float(focal_frequency_loss(sr, hr, alpha=0.0)) == pytest.approx(mse, rel=1e-12)


def test_ffl_gradient_passes_gradcheck_with_the_weight_detached():
    gen = torch.Generator().manual_seed(9)
    hr = torch.rand(1, 2, 4, 3, generator=gen, dtype=torch.float64)
    sr = (hr + 0.2 * torch.randn(1, 2, 4, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    fixed = spectrum_weight(sr, hr, alpha=1.0)
    assert not fixed.requires_grad
    assert torch.autograd.gradcheck(lambda x: focal_frequency_loss(x, hr, 1.0, fixed), (sr,))
    (grad,) = torch.autograd.grad(focal_frequency_loss(sr, hr, 1.0), sr)
    (grad_fixed,) = torch.autograd.grad(focal_frequency_loss(sr, hr, 1.0, fixed), sr)
    torch.testing.assert_close(grad, grad_fixed, rtol=0, atol=0)
    # closed form: d/dx mean(W |Fx - Fh|^2) = (2/N) Re(F^H (W * (Fx - Fh))), F unitary
    diff = np.fft.fft2(sr.detach().numpy() - hr.numpy(), norm="ortho")
    closed = 2 / sr.numel() * np.real(np.fft.ifft2(fixed.numpy() * diff, norm="ortho"))
    np.testing.assert_allclose(grad.numpy(), closed, rtol=1e-10, atol=1e-14)
