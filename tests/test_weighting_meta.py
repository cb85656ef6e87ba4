"""Meta-weightings (L2RW, Meta-Weight-Net, Weight-Net) against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from srmeta.losses import PixelLoss, pixel_loss_map
from srmeta.models.loading import load_model
from srmeta.weighting import StepContext, build_strategy
from srmeta.weighting.meta import normalised_entropy, objective
from srmeta.weighting.reward import (
    meta_gradient,
    precondition,
    rewards,
    standardise,
)


def _context(step: int = 0, seed: int = 0) -> StepContext:
    torch.manual_seed(seed)
    model = load_model("espcn", 2, features=(8, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    lr, hr = torch.rand(2, 3, 6, 5), torch.rand(2, 3, 12, 10)
    meta = {"lr": torch.rand(1, 3, 6, 6), "hr": torch.rand(1, 3, 12, 12)}
    sr = model(lr)
    return StepContext(
        step, lr, hr, model, optimizer, lambda: meta, sr=sr, loss_map=pixel_loss_map(sr, hr)
    )


def test_l2rw_is_the_positive_part_of_the_reward_normalised():
    ctx = _context()
    strategy = build_strategy("l2rw", {"precondition": "identity"})
    strategy.update(ctx)
    direction = meta_gradient(ctx.model, ctx.meta_batch(), PixelLoss("l2"))  # the default meta loss
    _, reward = rewards(ctx.model, {"lr": ctx.lr, "hr": ctx.hr}, direction)
    positive = reward.clamp_min(0)
    expected = positive / positive.mean(dim=(1, 2), keepdim=True)
    assert torch.allclose(strategy.weights(ctx), expected, atol=1e-6)
    # hand-made: an image with no positive reward falls back to uniform weights
    strategy.last_reward = torch.tensor([[[1.0, -1.0], [3.0, 0.0]], [[-1.0, -2.0], [-3.0, -4.0]]])
    weights = strategy.weights(ctx)
    assert weights[0].flatten().tolist() == [1.0, 0.0, 3.0, 0.0]
    assert weights[1].flatten().tolist() == [1.0, 1.0, 1.0, 1.0]


def test_mwnet_applies_its_mlp_to_each_pixel_loss():
    ctx = _context()
    strategy = build_strategy("mwnet", {"hidden": 1})
    first, second = strategy.net[0], strategy.net[2]
    with torch.no_grad():
        first.weight.fill_(2.0), first.bias.fill_(0.0)
        second.weight.fill_(1.0), second.bias.fill_(-1.0)
    p = 1e-4 + (1 - 1e-4) * torch.sigmoid(2.0 * ctx.loss_map.detach().clamp_min(0) - 1.0)
    expected = p / p.mean(dim=(1, 2), keepdim=True)
    assert torch.allclose(strategy.weights(ctx), expected, atol=1e-6)


def test_weightnet_weights_are_positive_mean_one_and_start_uniform():
    ctx = _context()
    strategy = build_strategy("weightnet", scale=2, options={"lr": 1e-2})
    assert torch.allclose(strategy.weights(ctx), torch.ones_like(ctx.loss_map))
    for step in range(3):
        strategy.update(_context(step))
    weights = strategy.weights(ctx)
    assert (weights > 0).all() and not weights.requires_grad
    assert torch.allclose(weights.mean(dim=(1, 2)), torch.ones(2), atol=1e-5)
    assert weights.std() > 0  # it moved away from uniform


def test_weightnet_weights_stay_positive_when_its_logits_saturate():
    ctx = _context()
    strategy = build_strategy("weightnet", scale=2, options={})
    with torch.no_grad():  # sub-pixel 0 of every LR pixel gets a logit of -1000
        strategy.net.body[-1].bias[0] = -1000.0
    weights = strategy.weights(ctx)
    p_low, p_high = 1e-4, 1e-4 + (1 - 1e-4) * 0.5
    expected_low = p_low / ((p_low + 3 * p_high) / 4)
    assert torch.allclose(weights[:, ::2, ::2], torch.full((2, 6, 5), expected_low), rtol=1e-5)
    assert (weights > 0).all()


def test_weightnet_on_the_lr_grid_gives_one_logit_per_hr_pixel():
    ctx = _context()
    strategy = build_strategy("weightnet", scale=2, options={"inputs": ["hr", "lr_up"]})
    conv = strategy.net.body[0]
    assert conv.in_channels == 3 * 4 + 3 and strategy.net.body[-1].out_channels == 4
    with torch.no_grad():  # logit of sub-pixel (dy, dx) = dy * 2 + dx via the head bias
        strategy.net.body[-1].bias.copy_(torch.arange(4.0))
    p = strategy.probabilities(ctx)
    assert p.shape == ctx.loss_map.shape
    for dy in range(2):
        for dx in range(2):
            expected = 1e-4 + (1 - 1e-4) * torch.sigmoid(torch.tensor(dy * 2.0 + dx))
            assert torch.allclose(p[:, dy::2, dx::2], expected.expand(2, 6, 5))


def test_weightnet_update_increases_the_objective_on_a_fixed_batch():
    ctx = _context()
    strategy = build_strategy("weightnet", scale=2, options={"lr": 1e-2, "beta": 0.05})
    r_std = standardise(strategy.engine.rewards(ctx))
    before = objective(strategy.probabilities(ctx), r_std, 0.05).item()
    for _ in range(5):
        strategy.update(ctx)
    after = objective(strategy.probabilities(ctx), r_std, 0.05).item()
    assert after > before + 1e-3


def test_free_logits_maximising_the_objective_reach_the_softmax_of_the_reward():
    """The temperature reading of beta: over free per-pixel values, argmax J is
    q = softmax(r~ / beta), a closed-form oracle for the objective's two terms."""
    torch.manual_seed(0)
    reward = standardise(torch.randn(2, 6, 5))
    for beta in (0.5, 2.0):
        logits = torch.zeros(2, 6, 5, requires_grad=True)
        optimizer = torch.optim.Adam([logits], lr=0.05)
        for _ in range(1500):
            optimizer.zero_grad()
            (-objective(torch.sigmoid(logits), reward, beta)).backward()
            optimizer.step()
        p = torch.sigmoid(logits.detach())
        q = p / p.sum(dim=(1, 2), keepdim=True)
        expected = torch.softmax((reward / beta).flatten(1), dim=1).view_as(q)
        assert torch.allclose(q, expected, atol=2e-3), float((q - expected).abs().max())


def test_objective_terms():
    uniform = torch.full((1, 4, 4), 0.5)
    spike = torch.full((1, 4, 4), 1e-9)
    spike[0, 0, 0] = 1.0
    assert normalised_entropy(uniform).item() == pytest.approx(1.0)
    assert normalised_entropy(spike).item() < 0.01
    reward = torch.zeros(1, 4, 4)
    reward[0, 0, 0] = 1.0
    # all weight on the rewarded pixel: mean(w * r) = 16 * 1 / 16
    assert objective(spike, reward, beta=0.0).item() == pytest.approx(1.0, rel=1e-6)
    assert objective(uniform, reward, beta=0.0).item() == pytest.approx(1 / 16)
    assert math.isfinite(objective(spike, reward, beta=1.0).item())


def test_adam_preconditioning_uses_the_optimiser_state():
    ctx = _context()
    ctx.loss_map.mean().backward()
    ctx.optimizer.step()
    g = meta_gradient(ctx.model, ctx.meta_batch())
    p = precondition(g, ctx.optimizer, ctx.model, "adam")
    name, param = next(iter(ctx.model.named_parameters()))
    state = ctx.optimizer.state[param]
    v_hat = state["exp_avg_sq"] / (1 - 0.999 ** float(state["step"]))
    assert torch.allclose(p[name], g[name] / (v_hat.sqrt() + 1e-8))


@pytest.mark.parametrize("meta_loss", ["train", "l2"])
def test_meta_loss_option_chooses_the_loss_whose_gradient_is_g_m(meta_loss):
    ctx = _context()
    strategy = build_strategy("l2rw", {"precondition": "identity", "meta_loss": meta_loss})
    direction = strategy.reward_direction(ctx)
    meta = ctx.meta_batch()
    error = ctx.model(meta["lr"]) - meta["hr"]
    # Independent oracle: the plain autograd gradient of the mean squared / absolute error.
    loss = (error**2).mean() if meta_loss == "l2" else error.abs().mean()
    ctx.model.zero_grad()
    loss.backward()
    for name, param in ctx.model.named_parameters():
        assert torch.allclose(direction[name], param.grad, atol=1e-7), name


def test_strategy_state_round_trip():
    ctx = _context()
    a = build_strategy("weightnet", scale=2, options={"lr": 1e-2})
    for step in range(2):
        a.update(_context(step))
    b = build_strategy("weightnet", scale=2, options={"lr": 1e-2})
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.weights(ctx), b.weights(ctx))
    a.update(_context(5)), b.update(_context(5))
    assert torch.equal(a.weights(ctx), b.weights(ctx))


def test_bad_options_are_user_errors():
    from srmeta.errors import SrmetaError

    with pytest.raises(SrmetaError, match="weightnet"):
        build_strategy("weightnet", scale=2, options={"inputs": ["depth"]})
    with pytest.raises(SrmetaError, match="meta_loss"):
        build_strategy("weightnet", scale=2, options={"meta_loss": "l3"})
    with pytest.raises(SrmetaError, match="unknown weighting"):
        build_strategy("focal", {})
