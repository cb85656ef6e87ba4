"""How to tile a given network: its receptive field, and a tile size from a memory budget.

Both are measured on the network itself rather than read from a table, so they hold for
any architecture (and any weights file) srmeta can load:

- the receptive-field radius is where the gradient of one central output pixel with
  respect to a random input is non-zero (networks with global pooling reach the whole
  probe and get ``None``: their tiles are cross-faded; a network's image-wide layers are
  measured with their context held constant, since they are tiled exactly);
- the activation memory per LR pixel is the largest input+output of any layer, from
  forward hooks on a small probe.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from srmeta.errors import SrmetaError
from srmeta.inference.exact_tiling import local_only
from srmeta.inference.tiling import TilePlan
from srmeta.models.descriptor import model_info
from srmeta.models.imagewide import image_wide_layers

PROBE = 96  # LR side of the receptive-field probe: enough for EDSR-baseline-sized nets
DEFAULT_MEMORY_MIB = 512
FALLBACK_CONTEXT = 16  # for networks without a bounded receptive field
MIN_TILE, MAX_TILE = 32, 512
MAX_OVERLAP_WORK = 1.2  # pixels computed per pixel kept that a tile need not go below


def _probe_input(model: nn.Module, side: int) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    generator = torch.Generator().manual_seed(0)
    info = model_info(model)
    channels = info.in_channels if info is not None and info.in_channels else 3
    return torch.rand(1, channels, side, side, generator=generator).to(device, dtype)


def receptive_radius(model: nn.Module, scale: int, probe: int = PROBE) -> int | None:
    """LR pixels on each side that one output pixel depends on; None when unbounded.

    Uses the gradient of the output pixels of the central LR pixel (all ``scale x scale`` of
    them) with respect to a random input: non-zero exactly where they depend on it.
    """
    x = _probe_input(model, probe).requires_grad_()
    centre = probe // 2
    with torch.enable_grad():
        out = model(x)
        pixel = slice(centre * scale, (centre + 1) * scale)
        block = out[..., pixel, pixel]
        (grad,) = torch.autograd.grad(block.sum(), x)
    reached = grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = torch.nonzero(reached, as_tuple=True)
    radius = int(max((rows - centre).abs().max(), (cols - centre).abs().max()))
    return None if radius >= centre - 1 else radius


def bytes_per_lr_pixel(model: nn.Module, probe: int = 32) -> float:
    """Peak activation bytes per LR pixel of one inference pass (largest layer in + out)."""
    largest = [0]

    def hook(_module: nn.Module, inputs: tuple, output: object) -> None:
        size = sum(t.numel() * t.element_size() for t in inputs if isinstance(t, torch.Tensor))
        if isinstance(output, torch.Tensor):
            size += output.numel() * output.element_size()
        largest[0] = max(largest[0], size)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(_probe_input(model, probe))
    finally:
        for handle in handles:
            handle.remove()
    return largest[0] / (probe * probe)


def output_bytes_per_lr_pixel(model: nn.Module, scale: int) -> float:
    """Bytes of the network's output per LR pixel (``3 s^2`` values of its dtype)."""
    param = next(model.parameters(), None)
    size = param.element_size() if param is not None and param.is_floating_point() else 4
    return 3 * scale * scale * size


def plan_tiles(
    model: nn.Module,
    scale: int,
    memory_mib: float = DEFAULT_MEMORY_MIB,
    tile: int | None = None,
    batch_size: int = 1,
    exact: bool = True,
) -> TilePlan:
    """A :class:`TilePlan` for ``model``: exact context, tile side from ``memory_mib``.

    Working memory is taken as 1.25 times the largest layer's input+output (a residual
    branch keeps a narrower activation alive beside it) plus twice the output (the tile's
    output and the tensor it is shuffled from), for the whole batch of tiles.

    Bigger tiles waste less on context: a tile of side t with overlap o computes
    ``t^2 / (t - o)^2`` times the pixels it keeps. The tile is the smallest that keeps this
    under :data:`MAX_OVERLAP_WORK` (bigger ones only cost memory: a 16-channel network ran
    no faster on 512-pixel tiles than on 350-pixel ones), or what ``memory_mib`` allows.

    A network with image-wide layers (:mod:`srmeta.models.imagewide`) is tiled exactly by
    gathering those layers' input first (:mod:`exact_tiling`): the context is the receptive
    field of the rest, measured with their context held constant, and the tile is as big as
    ``memory_mib`` allows, since every extra tile costs a pass per such layer and an image
    in one tile needs no gathering at all. ``exact=False`` cross-fades their tiles instead,
    at the cost of seams: a fixed context, a blend, the tile of a convolutional network.
    """
    info = model_info(model)
    declared = info.receptive_radius if info is not None else None
    image_wide = bool(image_wide_layers(model))
    if image_wide:  # what a probe reaches of them says nothing of a bigger image
        radius = None
        if exact:
            with local_only(model):
                radius = receptive_radius(model, scale)
    else:
        radius = declared if declared is not None else receptive_radius(model, scale)
    context = FALLBACK_CONTEXT if radius is None else radius + 1
    if tile is not None and tile <= 2 * context:
        raise SrmetaError(
            f"tile {tile} is too small for this network: each tile needs {context} pixels of"
            f" context on every side, so at least {2 * context + 1}"
        )
    if tile is None:
        layers = 1.25 * bytes_per_lr_pixel(model)
        per_pixel = (layers + 2 * output_bytes_per_lr_pixel(model, scale)) * batch_size
        side = int(math.sqrt(memory_mib * 2**20 / per_pixel))
        enough = math.ceil(2 * context / (1 - MAX_OVERLAP_WORK**-0.5))
        wanted = side if image_wide and exact else min(side, enough, MAX_TILE)
        tile = max(wanted, MIN_TILE, 2 * context + 8)
    # With a bounded receptive field tiles are exact as they are and are cropped, not
    # blended; only networks that see the whole tile need the cross-fade to hide seams.
    blend = 0 if radius is not None else min(4, max(tile - 2 * context - 1, 0))
    return TilePlan(tile=tile, context=context, blend=blend)
