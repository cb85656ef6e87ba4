"""The jvp reward engine against a brute-force per-pixel backward (float64)."""

from __future__ import annotations

import pytest
import torch

from srmeta.losses import PixelLoss, pixel_loss_map
from srmeta.models.loading import load_model
from srmeta.models.registry import registered_names
from srmeta.weighting.reward import forward_with_rewards, meta_gradient, precondition, rewards

SMALL = {
    "espcn": {"features": (6, 4)},
    "fsrcnn": {"d": 6, "s": 4, "m": 1},
    "edsr": {"n_resblocks": 1, "n_feats": 6},
    "rcan": {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4},
    "imdn": {"n_feats": 8, "n_modules": 1},
    "rfdn": {"n_feats": 4, "n_modules": 1},
    "rlfn": {"n_feats": 4, "mid_feats": 4, "n_blocks": 1, "esa_feats": 2},
    "pan": {"nf": 4, "unf": 4, "nb": 1},
    "carn_m": {"n_feats": 8, "group": 2, "multi_scale": False},
    "repsr": {
        "features": 4,
        "blocks": 1,
        "expand": 6,
        "branches": ("expand", "conv1x1", "identity", "sobel", "laplacian"),
    },
}
NETS = [n for n in registered_names() if n != "bicubic"]


def test_every_network_is_covered():
    assert sorted(SMALL) == sorted(NETS)


def _adam_after_one_step(model, lr, hr):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pixel_loss_map(model(lr), hr).mean().backward()
    optimizer.step()
    optimizer.zero_grad()
    return optimizer


def _brute_force(model, lr, hr, direction, kind):
    """One backward per pixel: r_i = <grad l_i, P g_M>."""
    loss_map = pixel_loss_map(model(lr), hr, kind)
    params = [p for p in model.parameters() if p.requires_grad]
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    out = torch.zeros_like(loss_map)
    for index in range(loss_map.numel()):
        grads = torch.autograd.grad(
            loss_map.flatten()[index], params, retain_graph=True, allow_unused=True
        )
        out.view(-1)[index] = sum(
            (g * direction[n]).sum() for g, n in zip(grads, names, strict=True) if g is not None
        )
    return out


@pytest.mark.parametrize("arch", NETS)
@pytest.mark.parametrize("kind", ["l1", "charbonnier", "l2"])
@pytest.mark.parametrize("preconditioner", ["identity", "adam"])
def test_jvp_reward_equals_brute_force(arch, kind, preconditioner):
    torch.manual_seed(0)
    scale = 2
    model = load_model(arch, scale, **SMALL[arch]).double().train()
    lr = torch.rand(2, 3, 4, 3, dtype=torch.float64)
    hr = torch.rand(2, 3, 8, 6, dtype=torch.float64)
    meta = {
        "lr": torch.rand(1, 3, 5, 5, dtype=torch.float64),
        "hr": torch.rand(1, 3, 10, 10, dtype=torch.float64),
    }
    optimizer = _adam_after_one_step(model, lr, hr) if preconditioner == "adam" else None
    direction = precondition(
        meta_gradient(model, meta, PixelLoss(kind)),
        optimizer,
        model,
        "adam" if optimizer else "identity",
    )
    if optimizer is not None:  # the preconditioner really changed the direction
        g = meta_gradient(model, meta, PixelLoss(kind))
        assert any(not torch.allclose(direction[k], g[k]) for k in g)
    loss_map, fast = rewards(model, {"lr": lr, "hr": hr}, direction, PixelLoss(kind))
    slow = _brute_force(model, lr, hr, direction, kind)
    assert torch.allclose(loss_map, pixel_loss_map(model(lr), hr, kind).detach())
    rel = (fast - slow).abs().max() / slow.abs().max()
    assert rel < 1e-10, float(rel)

    # The trainer's fused pass: the same rewards, and an ordinary graph for the SR step.
    sr, fused_loss, fused = forward_with_rewards(model, lr, hr, direction, PixelLoss(kind))
    assert ((fused - slow).abs().max() / slow.abs().max()) < 1e-10
    fused_loss.mean().backward()
    fused_grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    plain_sr = model(lr)
    pixel_loss_map(plain_sr, hr, kind).mean().backward()
    assert torch.allclose(sr.detach(), plain_sr.detach(), rtol=0, atol=1e-12)
    for name, param in model.named_parameters():
        assert torch.allclose(fused_grads[name], param.grad, rtol=1e-10, atol=1e-14), name


def test_meta_gradient_is_the_gradient_of_the_mean_meta_loss():
    torch.manual_seed(1)
    model = load_model("espcn", 2, **SMALL["espcn"]).double()
    meta = {
        "lr": torch.rand(2, 3, 5, 5, dtype=torch.float64),
        "hr": torch.rand(2, 3, 10, 10, dtype=torch.float64),
    }
    g = meta_gradient(model, meta)
    pixel_loss_map(model(meta["lr"]), meta["hr"]).mean().backward()
    for name, p in model.named_parameters():
        assert torch.allclose(g[name], p.grad)


def test_first_order_meaning_of_the_reward():
    """An SGD step of size a on pixel i's loss changes the meta loss by about -a * r_i."""
    torch.manual_seed(2)
    model = load_model("edsr", 2, **SMALL["edsr"]).double()
    lr = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    hr = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    meta = {
        "lr": torch.rand(1, 3, 4, 4, dtype=torch.float64),
        "hr": torch.rand(1, 3, 8, 8, dtype=torch.float64),
    }
    _, reward = rewards(model, {"lr": lr, "hr": hr}, meta_gradient(model, meta))
    index = int(reward.abs().argmax())
    before = pixel_loss_map(model(meta["lr"]), meta["hr"]).mean()
    pixel_loss_map(model(lr), hr).flatten()[index].backward()
    step = 1e-6
    with torch.no_grad():
        for p in model.parameters():
            p -= step * p.grad
    after = pixel_loss_map(model(meta["lr"]), meta["hr"]).mean()
    assert (before - after).item() == pytest.approx(step * float(reward.flatten()[index]), rel=1e-3)


@pytest.mark.parametrize("arch", NETS)
def test_forward_difference_reward_approximates_the_exact_jvp(arch):
    """The ``fd`` method: a forward difference of the output, the loss's exact derivative.
    Oracle: the exact jvp reward (itself checked against brute force above)."""
    from srmeta.weighting.reward import difference_rewards

    torch.manual_seed(1)
    model = load_model(arch, 2, **SMALL[arch]).train()
    lr, hr = torch.rand(2, 3, 12, 10), torch.rand(2, 3, 24, 20)
    meta = {"lr": torch.rand(2, 3, 8, 8), "hr": torch.rand(2, 3, 16, 16)}
    direction = meta_gradient(model, meta, PixelLoss("l2"))
    for kind in ("l1", "l2"):
        _, exact = rewards(model, {"lr": lr, "hr": hr}, direction, PixelLoss(kind))
        with torch.no_grad():
            sr = model(lr)
        approx = difference_rewards(model, {"lr": lr, "hr": hr}, direction, PixelLoss(kind), sr)
        error = float((approx - exact).norm() / exact.norm())
        assert error < 3e-2, (arch, kind, error)
        both = torch.stack([approx.flatten(), exact.flatten()])
        assert torch.corrcoef(both)[0, 1] > 0.999
    zero = {k: torch.zeros_like(v) for k, v in direction.items()}
    assert not difference_rewards(model, {"lr": lr, "hr": hr}, zero, sr=sr).any()


def test_fd_strategies_train_and_agree_between_fused_and_separate_paths():
    from srmeta.weighting import StepContext, build_strategy

    torch.manual_seed(2)
    model = load_model("espcn", 2, features=(8, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    lr, hr = torch.rand(2, 3, 6, 5), torch.rand(2, 3, 12, 10)
    meta = {"lr": torch.rand(1, 3, 6, 6), "hr": torch.rand(1, 3, 12, 12)}
    sr = model(lr)
    ctx = StepContext(
        0, lr, hr, model, optimizer, lambda: meta, sr=sr, loss_map=pixel_loss_map(sr, hr)
    )
    strategy = build_strategy("weightnet", {"reward": "fd"}, scale=2)
    assert strategy.reward_method == "fd"
    separate = strategy.engine.rewards(ctx)  # the path DDP and bf16 take
    from srmeta.weighting.reward import difference_rewards

    fused = difference_rewards(model, {"lr": lr, "hr": hr}, strategy.reward_direction(ctx), sr=sr)
    assert torch.allclose(separate, fused, atol=1e-6)
    strategy.update(ctx)
    assert torch.isfinite(strategy.weights(ctx)).all()
    with pytest.raises(Exception, match="reward: Input should be 'jvp' or 'fd'"):
        build_strategy("l2rw", {"reward": "exact"})
