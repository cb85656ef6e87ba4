"""Normalisation scope, image-level meta-weightings and Weight-Net's inputs, against
hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from srmeta.errors import SrmetaError
from srmeta.losses import pixel_loss_map
from srmeta.models.loading import load_model
from srmeta.resize import imresize
from srmeta.weighting import StepContext, build_strategy
from srmeta.weighting.base import normalise
from srmeta.weighting.meta import entropy, normalised_entropy, objective
from srmeta.weighting.weightnet import weightnet_inputs


def _context(seed: int = 0, batch: int = 3) -> StepContext:
    torch.manual_seed(seed)
    model = load_model("espcn", 2, features=(8, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    lr, hr = torch.rand(batch, 3, 6, 5), torch.rand(batch, 3, 12, 10)
    meta = {"lr": torch.rand(1, 3, 6, 6), "hr": torch.rand(1, 3, 12, 12)}
    sr = model(lr)
    return StepContext(
        0, lr, hr, model, optimizer, lambda: meta, sr=sr, loss_map=pixel_loss_map(sr, hr)
    )


def test_batch_normalisation_has_mean_one_over_the_batch_not_per_image():
    raw = torch.tensor([[[1.0, 3.0]], [[0.0, 0.0]], [[2.0, 2.0]]])  # 3 images of 1 x 2 pixels
    batch = normalise(raw, "batch")
    # the batch mean is 8 / 6, so every weight is raw * 6 / 8
    assert batch.flatten().tolist() == [0.75, 2.25, 0.0, 0.0, 1.5, 1.5]
    per_image = normalise(raw, "image")
    assert per_image.flatten().tolist() == [0.5, 1.5, 1.0, 1.0, 1.0, 1.0]
    assert normalise(torch.zeros(2, 2, 2), "batch").eq(1).all()
    with pytest.raises(ValueError, match="image or batch"):
        normalise(raw, "pixel")


def test_batch_scope_entropy_and_objective():
    uniform = torch.full((2, 3, 3), 0.5)
    assert entropy(uniform, "batch").item() == pytest.approx(math.log(18))
    assert normalised_entropy(uniform, "batch").item() == pytest.approx(1.0)
    # image 0 holds all the weight: the batch entropy is that of 9 equal pixels
    half = torch.cat([torch.full((1, 3, 3), 1.0), torch.full((1, 3, 3), 1e-12)])
    assert entropy(half, "batch").item() == pytest.approx(math.log(9), rel=1e-6)
    assert entropy(half, "image").tolist() == pytest.approx([math.log(9)] * 2, rel=1e-6)
    reward = torch.stack([torch.ones(3, 3), -torch.ones(3, 3)])
    # batch scope: w = 2 on image 0, 0 on image 1 -> mean(w * r) = (9 * 2) / 18 = 1
    assert objective(half, reward, 0.0, "batch").item() == pytest.approx(1.0, rel=1e-6)
    # image scope cannot move weight between images: mean(w * r) = 0
    assert objective(half, reward, 0.0, "image").item() == pytest.approx(0.0, abs=1e-6)


def test_free_logits_with_batch_scope_reach_the_softmax_over_the_whole_batch():
    torch.manual_seed(1)
    reward = torch.randn(2, 3, 4)
    reward = (reward - reward.mean()) / reward.std(unbiased=False)
    logits = torch.zeros(2, 3, 4, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(1500):
        optimizer.zero_grad()
        (-objective(torch.sigmoid(logits), reward, 1.0, "batch")).backward()
        optimizer.step()
    p = torch.sigmoid(logits.detach())
    q = p / p.sum()
    expected = torch.softmax(reward.flatten(), 0).view_as(q)
    assert torch.allclose(q, expected, atol=2e-3), float((q - expected).abs().max())


def test_image_level_l2rw_weights_each_image_by_its_positive_mean_reward():
    ctx = _context()
    strategy = build_strategy("l2rw", {"level": "image"})
    assert strategy.scope == "batch"
    strategy.last_reward = torch.tensor(
        [[[3.0, -1.0]], [[-2.0, 0.0]], [[0.0, 2.0]]]
    )  # image means 1, -1, 1 -> positive parts 1, 0, 1 -> batch mean 2/3
    weights = strategy.weights(ctx)
    assert weights.flatten().tolist() == [1.5, 1.5, 0.0, 0.0, 1.5, 1.5]
    pixel_batch = build_strategy("l2rw", {"normalise": "batch"})
    pixel_batch.last_reward = strategy.last_reward
    # positive parts 3, 0, 0, 0, 0, 2: mean 5/6
    assert pixel_batch.weights(ctx).flatten().tolist() == pytest.approx(
        [3.6, 0.0, 0.0, 0.0, 0.0, 2.4]
    )


def test_image_level_mwnet_maps_each_image_mean_loss_to_one_weight():
    ctx = _context()
    strategy = build_strategy("mwnet", {"hidden": 1, "level": "image"})
    first, second = strategy.net[0], strategy.net[2]
    with torch.no_grad():
        first.weight.fill_(4.0), first.bias.fill_(0.0)
        second.weight.fill_(1.0), second.bias.fill_(-1.0)
    means = ctx.loss_map.detach().mean(dim=(1, 2))
    p = 1e-4 + (1 - 1e-4) * torch.sigmoid(4.0 * means - 1.0)
    expected = (p / p.mean())[:, None, None].expand_as(ctx.loss_map)
    weights = strategy.weights(ctx)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert weights.mean().item() == pytest.approx(1.0, rel=1e-6)
    strategy.update(ctx)  # trains on the image-level objective without error
    assert torch.isfinite(strategy.weights(ctx)).all()


def test_image_level_with_per_image_normalisation_is_refused():
    with pytest.raises(SrmetaError, match="level image needs normalise batch"):
        build_strategy("mwnet", {"level": "image", "normalise": "image"})
    with pytest.raises(SrmetaError, match="level: Input should be 'pixel' or 'image'"):
        build_strategy("l2rw", {"level": "patch"})
    with pytest.raises(SrmetaError, match="normalise: Input should be 'image' or 'batch'"):
        build_strategy("weightnet", {"normalise": "dataset"}, scale=2)


def test_weightnet_with_batch_scope_can_turn_a_whole_image_down():
    ctx = _context()
    strategy = build_strategy("weightnet", {"normalise": "batch", "image_head": True}, scale=2)
    assert torch.equal(strategy.weights(ctx), torch.ones_like(ctx.loss_map))  # starts uniform
    # reward: image 0 helps everywhere, the others hurt everywhere
    ctx.reward = torch.stack([torch.ones(12, 10), -torch.ones(12, 10), -torch.ones(12, 10)])
    for _ in range(30):
        strategy.update(ctx)
    per_image = strategy.weights(ctx).mean(dim=(1, 2))
    assert per_image.mean().item() == pytest.approx(1.0, rel=1e-5)
    assert per_image[0] > 1.5 and (per_image[1:] < 0.8).all(), per_image.tolist()


def test_weightnet_inputs_are_the_named_content_on_each_grid():
    ctx = _context()
    s = 2
    lr_grid = weightnet_inputs(ctx, ["lr", "consistency"], s, grid="lr")
    residual = imresize(ctx.hr, 1 / s) - ctx.lr
    assert torch.allclose(lr_grid, torch.cat([ctx.lr, residual], 1), atol=1e-6)
    hr_grid = weightnet_inputs(ctx, ["lr"], s, grid="hr")
    assert torch.equal(hr_grid, ctx.lr.repeat_interleave(s, -2).repeat_interleave(s, -1))
    for names, channels in [
        (["lr"], 3),
        (["hr", "lr", "error"], 12 + 3 + 4),
        (["consistency", "lr_up"], 6),
    ]:
        strategy = build_strategy("weightnet", {"inputs": names}, scale=s)
        assert strategy.net.body[0].in_channels == channels
        assert strategy.probabilities(ctx).shape == ctx.loss_map.shape


def test_running_rms_scales_each_input_channel_and_only_learns_in_updates():
    from srmeta.weighting.weightnet import RunningRMS

    norm = RunningRMS(2, momentum=0.5)
    x = torch.zeros(2, 2, 3, 3)
    x[:, 0] = 0.5
    x[:, 1] = 0.01
    with torch.no_grad():  # computing weights: no statistics change
        assert torch.equal(norm(x), x / (1 + 1e-6))
    out = norm(x)  # an update: the first batch sets the RMS
    assert torch.allclose(norm.rms, torch.tensor([0.5, 0.01]))
    assert torch.allclose(out, torch.ones_like(x), atol=1e-4)
    norm(2 * x)  # then an EMA with the momentum: 0.5 * 1 + 0.5 * 2 times the first RMS
    assert torch.allclose(norm.rms, torch.tensor([0.75, 0.015]))


def test_weightnet_with_input_norm_starts_uniform_and_round_trips():
    ctx = _context()
    options = {
        "input_norm": True,
        "image_head": True,
        "normalise": "batch",
        "inputs": ["lr", "consistency"],
    }
    a = build_strategy("weightnet", options, scale=2)
    assert torch.equal(a.weights(ctx), torch.ones_like(ctx.loss_map))
    ctx.reward = torch.randn_like(ctx.loss_map)
    a.update(ctx)
    b = build_strategy("weightnet", options, scale=2)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.weights(ctx), b.weights(ctx))
    assert int(b.net[0].updates) == 1


def test_image_temperature_optimum_is_the_two_level_softmax():
    """Closed form of the two-temperature objective over free logits (see objective)."""
    torch.manual_seed(2)
    reward = torch.randn(3, 2, 3)
    reward = (reward - reward.mean()) / reward.std(unbiased=False)
    beta, image_beta = 1.0, 0.4
    logits = torch.zeros(3, 2, 3, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(3000):
        optimizer.zero_grad()
        p = torch.sigmoid(logits)
        (-objective(p, reward, beta, "batch", image_beta)).backward()
        optimizer.step()
    p = torch.sigmoid(logits.detach())
    q = p / p.sum()
    q_image = q.sum(dim=(1, 2))
    values = beta * torch.logsumexp(reward.flatten(1) / beta, dim=1)
    assert torch.allclose(q_image, torch.softmax(values / image_beta, 0), atol=3e-3)
    within = (q / q_image[:, None, None]).flatten(1)
    assert torch.allclose(within, torch.softmax(reward.flatten(1) / beta, 1), atol=3e-3)
    # with equal temperatures it is the one-temperature objective
    same = objective(p, reward, beta, "batch", beta)
    assert same.item() == pytest.approx(objective(p, reward, beta, "batch").item())
    with pytest.raises(SrmetaError, match="image_beta needs normalise batch"):
        build_strategy("weightnet", {"image_beta": 0.1}, scale=2)


def test_centred_logits_ignore_a_common_shift_and_keep_the_weights_responsive():
    ctx = _context()
    strategy = build_strategy("weightnet", {"center": True, "normalise": "batch"}, scale=2)
    head = strategy.net.body[-1]
    with torch.no_grad():
        head.bias.copy_(torch.tensor([1.0, -1.0, 0.5, 0.0]))
    before = strategy.weights(ctx)
    with torch.no_grad():
        head.bias.sub_(200.0)  # every logit far into the sigmoid's floor
    after = strategy.weights(ctx)
    assert torch.allclose(before, after, atol=1e-5) and before.std() > 0.1
    plain = build_strategy("weightnet", {"normalise": "batch"}, scale=2)
    with torch.no_grad():
        plain.net.body[-1].bias.fill_(-200.0)
    assert torch.equal(plain.weights(ctx), torch.ones_like(ctx.loss_map))  # saturated: flat


def test_mwnet_input_norm_divides_the_loss_by_its_running_rms():
    ctx = _context()
    strategy = build_strategy("mwnet", {"hidden": 1, "input_norm": True, "level": "image"})
    first, second = strategy.mlp[0], strategy.mlp[2]
    with torch.no_grad():
        first.weight.fill_(1.0), first.bias.fill_(0.0)
        second.weight.fill_(1.0), second.bias.fill_(0.0)
    loss = ctx.loss_map.detach()
    strategy.input_norm(loss[:, None])  # an update's forward sets the RMS of the pixel losses
    rms = loss.pow(2).mean().sqrt()
    assert strategy.input_norm.rms.item() == pytest.approx(rms.item(), rel=1e-5)
    p = 1e-4 + (1 - 1e-4) * torch.sigmoid(loss.mean(dim=(1, 2)) / rms)
    expected = (p / p.mean())[:, None, None].expand_as(loss)
    assert torch.allclose(strategy.weights(ctx), expected, atol=1e-5)
