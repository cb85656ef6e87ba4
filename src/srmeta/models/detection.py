"""Reading an official state dict's keys and shapes to tell which architecture, scale and
options it holds: helpers every ``detect`` uses, so detection reads shapes and never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

StateDict = Mapping[str, torch.Tensor]
# What an architecture's ``detect`` returns: the scale (None when the weights do not say)
# and the full option dict of the architecture.
Detected = tuple[int | None, dict[str, object]]


def out_channels(state: StateDict, key: str) -> int:
    """Output channels of the conv whose weight is ``key``."""
    return int(state[key].shape[0])


def in_channels(state: StateDict, key: str) -> int:
    """Input channels of the conv whose weight is ``key``."""
    return int(state[key].shape[1])


def indices(state: StateDict, prefix: str) -> list[int]:
    """Sorted distinct integers ``i`` of keys that start with ``prefix + 'i.'``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for key in state if (m := pattern.match(key))}
    return sorted(found)


def scale_from_shuffle(channels: int, colors: int = 3) -> int | None:
    """The scale ``s`` with ``channels == colors * s^2``, if it is 1, 2, 3 or 4. Scale 1 is
    a restoration network of a known family (denoising, deblurring): detected, so that
    loading can say so instead of "unknown architecture"."""
    for s in (1, 2, 3, 4):
        if channels == colors * s * s:
            return s
    return None


def upsampler_scale(state: StateDict, prefix: str, n_feats: int) -> int | None:
    """The scale of an :class:`Upsampler` stored under ``prefix`` (e.g. ``tail.0.``)."""
    first = state.get(prefix + "0.weight")
    if first is None:
        return None
    if first.shape[0] == 9 * n_feats:
        return 3
    if first.shape[0] == 4 * n_feats:
        return 4 if prefix + "2.weight" in state else 2
    return None


def detect_distillation(
    state: StateDict, prefix: str, block_key: str
) -> tuple[int, int, int] | None:
    """Scale, features and block count of a :class:`DistillationNetwork` state dict whose
    blocks ``{prefix}i`` each hold ``block_key`` (e.g. ``c1.weight``); None if it is not
    one. The scale comes from the upsampler's ``3 s^2`` channels."""
    needed = ("fea_conv.weight", f"{prefix}1.{block_key}", "LR_conv.weight", "upsampler.0.weight")
    if not all(key in state for key in needed) or in_channels(state, "fea_conv.weight") != 3:
        return None
    scale = scale_from_shuffle(out_channels(state, "upsampler.0.weight"))
    if scale is None:
        return None
    blocks = [i for i in indices(state, prefix) if f"{prefix}{i}.{block_key}" in state]
    return scale, out_channels(state, "fea_conv.weight"), len(blocks)
