"""RepSR: a re-parameterisable SR network, trained with linear multi-branch blocks and run as
a plain stack of convolutions.

Why: on a CPU the cost of a network is its multiply-adds and the number of times it walks
memory. A plain stack of narrow 3x3 convolutions (SESR's and ECBSR's deploy form) is about
the cheapest SR network per output pixel that still learns, and backends run it near the
CPU's peak. It trains poorly as it is, though; written during training as a sum of linear
branches (a wide expansion, a 1x1, an identity, fixed edge filters) it optimises much
better, and since every branch is linear the sum is again one convolution.

Each :class:`RepConv` therefore computes its collapsed kernel from its branches on every
forward pass and runs a single convolution (SESR's efficient training: the cost of a step is
the deploy network's, plus a small weight product). Branches are ordered so the collapse is
exact with zero padding: any spatial filter comes first and only 1x1 maps follow it, so a
bias never meets a padded border. :meth:`RepConv.forward_branches` computes the branches one
by one, the oracle the collapse is tested against. :meth:`RepSR.collapse` returns the deploy
form, whose weights are plain ``nn.Conv2d`` layers (option ``deploy: true``).

Layout (SESR's): head ``k x k`` conv + PReLU, ``blocks`` 3x3 convs + PReLU with a residual
around them, tail ``k x k`` conv to ``colours * s^2`` channels, plus the input repeated
``s^2`` times (a nearest-neighbour skip), then a pixel shuffle.

``colour: y`` runs the network on the luma only, as FSRCNN and SESR do: the output is the
MATLAB-bicubic upscale of the RGB input with its luma replaced by the network's (the
change in Y spread over R, G and B by the inverse BT.601 matrix). Input and output are RGB
in both variants, so evaluation, tiling, export and backends need no special case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from srmeta.color import luma_weights
from srmeta.errors import ModelError
from srmeta.models.detection import Detected, StateDict, in_channels, indices, out_channels
from srmeta.models.polyphase import BicubicUpsample
from srmeta.options import RepSROptions

SPREAD = 255 / 219  # d(RGB)/dY of MATLAB's ycbcr2rgb, the same on every channel
BRANCHES = ("expand", "conv1x1", "identity", "sobel", "laplacian")
COLOURS = ("y", "rgb")

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
_GAIN = {  # L2 norm of each edge filter
    "sobel": math.sqrt(sum(v * v for row in _SOBEL_X for v in row)),
    "laplacian": math.sqrt(sum(v * v for row in _LAPLACIAN for v in row)),
}


def _edge_filters(kind: str, k: int) -> torch.Tensor:
    """The fixed 3x3 filters of an edge branch, centred in ``k x k``: ``n x k x k``."""
    if kind == "sobel":
        sobel_x = torch.tensor(_SOBEL_X)
        base = torch.stack([sobel_x, sobel_x.T])
    else:
        base = torch.tensor(_LAPLACIAN).unsqueeze(0)
    pad = (k - 3) // 2
    return F.pad(base, (pad, pad, pad, pad))


def _conv(module: nn.Module) -> nn.Conv2d:
    """A branch of a :class:`RepConv`, all convs (containers type their items as Module)."""
    return cast(nn.Conv2d, module)


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """The bias of a branch conv; every conv here is built with one."""
    if conv.bias is None:
        raise ModelError("a RepConv branch has no bias")
    return conv.bias


class RepConv(nn.Module):
    """A ``k x k`` convolution trained as a sum of linear branches.

    Always a plain ``k x k`` conv, plus any of: ``expand`` (``k x k`` to ``expand``
    channels, then 1x1 back), ``conv1x1``, ``identity`` (when in = out channels), ``sobel``
    and ``laplacian`` (fixed depthwise edge filters, then a learned 1x1 mix).
    """

    def __init__(self, cin: int, cout: int, k: int, branches: Sequence[str], expand: int) -> None:
        super().__init__()
        self.cin, self.cout, self.k = cin, cout, k
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        self.expand: nn.Sequential | None = None
        if "expand" in branches:
            self.expand = nn.Sequential(
                nn.Conv2d(cin, expand, k, padding=k // 2), nn.Conv2d(expand, cout, 1)
            )
        self.conv1x1: nn.Conv2d | None = nn.Conv2d(cin, cout, 1) if "conv1x1" in branches else None
        self.identity = "identity" in branches and cin == cout
        self.edges = nn.ModuleDict()
        for kind in ("sobel", "laplacian"):
            if kind in branches:
                filters = _edge_filters(kind, k)
                self.register_buffer(f"{kind}_filters", filters, persistent=False)
                mix = nn.Conv2d(cin * len(filters), cout, 1)
                with torch.no_grad():  # the filters' gain (3.5 to 4.5) would compound per layer
                    mix.weight.div_(_GAIN[kind])
                self.edges[kind] = mix
        # k learned branches, each initialised like a conv, would start with k times one
        # conv's variance and compound it layer after layer: start the sum at one conv's.
        learned = [self.conv, *self.edges.values()]
        learned += [self.expand[1]] if self.expand is not None else []
        learned += [self.conv1x1] if self.conv1x1 is not None else []
        with torch.no_grad():
            for layer in learned:
                layer.weight.mul_(len(learned) ** -0.5)

    def kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The one ``k x k`` kernel and bias equal to the sum of the branches."""
        weight, bias = self.conv.weight, _bias(self.conv)
        c = self.k // 2
        if self.expand is not None:
            spatial, mix = _conv(self.expand[0]), _conv(self.expand[1])
            m = mix.weight[:, :, 0, 0]
            weight = weight + torch.einsum("op,pikl->oikl", m, spatial.weight)
            bias = bias + m @ _bias(spatial) + _bias(mix)
        if self.conv1x1 is not None:
            weight = weight + F.pad(self.conv1x1.weight, (c, c, c, c))
            bias = bias + _bias(self.conv1x1)
        if self.identity:
            eye = torch.eye(self.cin, dtype=weight.dtype, device=weight.device)
            weight = weight + F.pad(eye[:, :, None, None], (c, c, c, c))
        for kind, module in self.edges.items():
            mix = _conv(module)
            filters = getattr(self, f"{kind}_filters").to(weight.dtype)  # n x k x k
            m = mix.weight[:, :, 0, 0].reshape(self.cout, self.cin, len(filters))
            weight = weight + torch.einsum("oin,nkl->oikl", m, filters)
            bias = bias + _bias(mix)
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.kernel_bias()
        return F.conv2d(x, weight, bias, padding=self.k // 2)

    def forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        """The branches computed one by one and summed (the collapse's reference)."""
        out = self.conv(x)
        if self.expand is not None:
            out = out + self.expand(x)
        if self.conv1x1 is not None:
            out = out + self.conv1x1(x)
        if self.identity:
            out = out + x
        for kind, mix in self.edges.items():
            filters = getattr(self, f"{kind}_filters").to(x.dtype)
            depthwise = filters.repeat(self.cin, 1, 1).unsqueeze(1)  # cin*n x 1 x k x k
            out = out + mix(F.conv2d(x, depthwise, padding=self.k // 2, groups=self.cin))
        return out

    def collapsed(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` computing the same function."""
        weight, bias = self.kernel_bias()
        conv = nn.Conv2d(
            self.cin,
            self.cout,
            self.k,
            padding=self.k // 2,
            device=weight.device,
            dtype=weight.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(weight)
            _bias(conv).copy_(bias)
        return conv


def receptive_radius(scale: int, options: Mapping[str, object]) -> int:
    """LR pixels on each side one output pixel depends on: ``kernel // 2`` for the head and
    for the tail, one per 3x3 block; the bicubic path of the Y form (2) is never wider."""
    kernel, blocks = options["kernel"], options["blocks"]
    assert isinstance(kernel, int) and isinstance(blocks, int)
    return max(2 * (kernel // 2) + blocks, 2)


class RepSR(nn.Module):
    """The network; see the module docstring. Input and output RGB in [0, 1]."""

    luma: torch.Tensor  # a buffer, registered for colour "y"

    def __init__(
        self,
        scale: int,
        features: int = 16,
        blocks: int = 11,
        colour: str = "y",
        branches: Sequence[str] = ("expand", "identity"),
        expand: int = 256,
        kernel: int = 5,
        deploy: bool = False,
    ) -> None:
        super().__init__()
        branches = tuple(branches)
        self.scale, self.colour, self.deploy = scale, colour, deploy
        self.options: dict[str, Any] = {
            "features": features,
            "blocks": blocks,
            "colour": colour,
            "branches": branches,
            "expand": expand,
            "kernel": kernel,
        }
        c = 1 if colour == "y" else 3
        shapes = [
            (c, features, kernel),
            *[(features, features, 3)] * blocks,
            (features, c * scale * scale, kernel),
        ]

        def layer(cin: int, cout: int, k: int) -> nn.Module:
            if deploy:
                return nn.Conv2d(cin, cout, k, padding=k // 2)
            return RepConv(cin, cout, k, branches, expand)

        self.layers = nn.ModuleList([layer(*shape) for shape in shapes])
        self.acts = nn.ModuleList([nn.PReLU(features) for _ in range(blocks + 1)])
        if colour == "y":
            self.upsample = BicubicUpsample(scale)
            self.register_buffer("luma", luma_weights().view(1, 3, 1, 1), persistent=False)

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """The conv stack on ``B x c x h x w`` (c = 1 for Y, 3 for RGB): ``c s^2`` phases of
        the output, before the pixel shuffle."""
        head, *body, tail = self.layers
        features = self.acts[0](head(x))
        y = features
        for conv, act in zip(body, self.acts[1:], strict=True):
            y = act(conv(y))
        return tail(y + features) + x.repeat_interleave(self.scale * self.scale, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.colour == "rgb":
            return F.pixel_shuffle(self.phases(x), self.scale)
        # Output = bicubic(x) + SPREAD (net(Y) - bicubic(Y)) per colour, Y = luma(x) without
        # the 16/255 offset (it cancels). Bicubic is linear and the same on every channel, so
        # bicubic(x) - SPREAD bicubic(Y) = bicubic(x - SPREAD Y): everything stays on the LR
        # grid until the one pixel shuffle, so no full-resolution temporaries are made.
        luma = (x * self.luma).sum(1, keepdim=True)
        base = self.upsample.phases(x - SPREAD * luma)
        net = self.phases(luma).repeat(1, 3, 1, 1)
        return F.pixel_shuffle(base + SPREAD * net, self.scale)

    def collapse(self) -> RepSR:
        """The deploy form: the same function with every :class:`RepConv` as one conv."""
        if self.deploy:
            return self
        param = next(self.parameters())
        deployed = RepSR(self.scale, **self.options, deploy=True)
        deployed.to(device=param.device, dtype=param.dtype)
        deployed.layers = nn.ModuleList([cast(RepConv, layer).collapsed() for layer in self.layers])
        deployed.acts.load_state_dict(self.acts.state_dict())
        return deployed.train(self.training)


def build(scale: int, **options: Any) -> RepSR:  # options checked by the descriptor
    return RepSR(scale, **options)


def detect(state: StateDict) -> Detected | None:
    """RepSR from ``layers.i`` and ``acts.i``: the deploy form (plain convs) or the
    training form (``layers.i.conv`` plus branch keys, which name the branches)."""
    layers, acts = indices(state, "layers."), indices(state, "acts.")
    if len(layers) < 3 or len(acts) != len(layers) - 1:
        return None
    last = len(layers) - 1
    deploy = "layers.0.weight" in state
    prefix = "" if deploy else "conv."
    first, tail = f"layers.0.{prefix}weight", f"layers.{last}.{prefix}weight"
    if first not in state or tail not in state:
        return None
    c = in_channels(state, first)
    if c not in (1, 3):
        return None
    squares = out_channels(state, tail) // c
    scale = next((s for s in (2, 3, 4) if s * s == squares), None)
    if scale is None or out_channels(state, tail) != c * squares:
        return None
    features, kernel = out_channels(state, first), int(state[first].shape[-1])
    branches: list[str] = []
    expand = RepSROptions().expand
    if not deploy:
        if "layers.0.expand.0.weight" in state:
            branches.append("expand")
            expand = out_channels(state, "layers.0.expand.0.weight")
        if "layers.0.conv1x1.weight" in state:
            branches.append("conv1x1")
        branches.append("identity")  # leaves no trace in the weights; srmeta files say
        branches += [k for k in ("sobel", "laplacian") if f"layers.0.edges.{k}.weight" in state]
    options = {
        "features": features,
        "blocks": len(layers) - 2,
        "colour": "y" if c == 1 else "rgb",
        "branches": tuple(branches) or RepSROptions().branches,
        "expand": expand,
        "kernel": kernel,
        "deploy": deploy,
    }
    return scale, options
