"""The evaluation protocol as one object: everything that decides how a score is computed.

A score is only comparable with another when both were made the same way (docs/protocol.md):
how the LR input is made from the HR (the degradation, on uint8 or in double precision), which
colour plane is scored (the BT.601 Y of RGB images, or the HR's own rounded Y plane), whether
Y is rounded, and how many border pixels are cropped. :class:`EvalProtocol` holds all of it,
and evaluation, training-time validation, reports and the command line all read it from there.

Two named protocols:

:data:`RGB` (``rgb``; default, how every model is scored)
    HR uint8, mod-cropped -> LR by the degradation (MATLAB bicubic on uint8 by default) ->
    model -> SR quantised to uint8 -> crop ``scale`` px -> Y (float) -> PSNR / SSIM.
:data:`Y_PLANE` (``y-plane``; how the published *bicubic* row was made)
    HR -> Y rounded to uint8 -> that single plane degraded in double precision, unrounded ->
    model (bicubic in double) -> rounded -> crop -> PSNR / SSIM. Needs a model that accepts
    one channel.

Single-channel HR images (Set14 ``bridge``) are their own Y for models that take them as
they are (bicubic), and are replicated to RGB for RGB networks, LR and ground truth alike.
Each reproduces its published Set14 cells (docs/evaluation.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from srmeta.color import rgb_to_ycbcr
from srmeta.degradations import AnyDegradation
from srmeta.degrade import Degradation
from srmeta.errors import SrmetaError
from srmeta.metrics import Scores, score


def image_index(name: str) -> int:
    """An image's index for the degradation's per-image random stream (:func:`rng_for`).

    Derived from the image's name, so it does not change when a folder gains images.
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


@dataclass(frozen=True)
class EvalProtocol:
    """How a score is computed; see the module docstring for the two named instances.

    Attributes:
        name: what reports call it (``rgb``, ``y-plane``).
        description: one line for reports (the ``protocol_description`` JSON field).
        colour: ``rgb``: images keep their channels and metrics use the BT.601 Y of RGB
            (MATLAB ``rgb2ycbcr``); ``y-plane``: the HR is reduced to its Y plane, rounded
            to uint8, before anything else, and only that plane goes through.
        lr_precision: ``uint8``: the degradation runs on the uint8 HR and gives uint8 LR
            (MATLAB's ``imresize`` on uint8, rounded after each pass); ``double``: on the HR
            in float64, unrounded and unclamped.
        degradation: how LR is made from HR; MATLAB bicubic by default (the benchmark LR).
        round_y: round Y to integers before the metrics (lowers Set5 bicubic ~0.034 dB).
    """

    name: str
    description: str
    colour: Literal["rgb", "y-plane"]
    lr_precision: Literal["uint8", "double"]
    degradation: AnyDegradation = field(default_factory=Degradation)
    round_y: bool = False

    def with_options(
        self, *, degradation: AnyDegradation | None = None, round_y: bool | None = None
    ) -> EvalProtocol:
        """The same protocol with another degradation and/or Y rounding; name unchanged."""
        return replace(
            self,
            degradation=self.degradation if degradation is None else degradation,
            round_y=self.round_y if round_y is None else round_y,
        )

    def border(self, scale: int) -> int:
        """Pixels cropped on every side before the metrics: the scale, as published tables do."""
        return scale

    @property
    def caches_lr(self) -> bool:
        """Whether LR images can be kept as 8-bit files (only uint8 LR is exact as a PNG)."""
        return self.lr_precision == "uint8"

    def ground_truth(self, hr: torch.Tensor, rgb_model: bool) -> torch.Tensor:
        """The uint8 ``C x H x W`` HR (already mod-cropped) as this protocol scores it.

        ``rgb_model``: the model needs three channels. A gray HR is its own Y for models that
        take it as it is (bicubic: the published bicubic row); for RGB networks it is
        replicated to RGB and scored on that image's Y, as the published evaluations of RGB
        models do (IMDN's Set14 reproduces only this way).
        """
        if self.colour == "y-plane":
            if rgb_model:
                raise SrmetaError(
                    f"the {self.name} protocol needs a model that accepts one channel"
                )
            return rgb_to_ycbcr(hr)[:1] if hr.shape[0] == 3 else hr
        return hr.expand(3, -1, -1).contiguous() if rgb_model and hr.shape[0] == 1 else hr

    def make_lr(self, hr: torch.Tensor, scale: int, image: str) -> torch.Tensor:
        """The LR input of the ground truth ``hr`` (from :meth:`ground_truth`) of image
        ``image`` (its name seeds the degradation's random values): uint8, or float64 in
        [0, 1] unrounded for ``lr_precision="double"``."""
        index = image_index(image)
        if self.lr_precision == "double":  # as the published bicubic pipeline
            x = hr.to(torch.float64) / 255.0
            return self.degradation.apply(x, scale, index=index, quantize=False)
        return self.degradation.apply(hr, scale, index=index)

    def score(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> Scores:
        """PSNR / SSIM on Y (and PSNR on all channels) of an SR output against its ground
        truth from :meth:`ground_truth`; a float SR in [0, 1] is quantised first."""
        return score(sr, hr, border=self.border(scale), round_y=self.round_y)

    def settings(self) -> dict[str, Any]:
        """The report fields that name this protocol (JSON-safe)."""
        return {
            "protocol": self.name,
            "protocol_description": self.description,
            "degradation": self.degradation.to_string(),
            "y_channel": "rounded" if self.round_y else "float",
        }

    def describe(self) -> str:
        """One line for a report's header."""
        y = "rounded Y" if self.round_y else "float Y"
        return (
            f"protocol {self.name}; degradation {self.degradation.to_string()}; {y};"
            " border crop = scale"
        )


RGB = EvalProtocol(
    name="rgb",
    description="RGB LR uint8 -> model -> uint8 SR -> float Y (BT.601), crop = scale",
    colour="rgb",
    lr_precision="uint8",
)
Y_PLANE = EvalProtocol(
    name="y-plane",
    description="Y plane only (rounded), degraded and upscaled in double, rounded, crop = scale",
    colour="y-plane",
    lr_precision="double",
)
PROTOCOLS: dict[str, EvalProtocol] = {p.name: p for p in (RGB, Y_PLANE)}
"""The named protocols, by name (what ``srmeta eval --protocol`` offers)."""


def get_protocol(protocol: str | EvalProtocol) -> EvalProtocol:
    """A named protocol (``rgb``, ``y-plane``); an :class:`EvalProtocol` is returned as is."""
    if isinstance(protocol, EvalProtocol):
        return protocol
    if protocol not in PROTOCOLS:
        raise SrmetaError(f"unknown protocol '{protocol}'; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]
