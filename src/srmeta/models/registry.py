"""Registry of SR architectures: a descriptor per name, listed explicitly (no folder scans).

What a descriptor holds is defined in :mod:`srmeta.models.descriptor`; turning a ``--model``
argument into a module is :func:`srmeta.models.loading.load_model`.
"""

from __future__ import annotations

from types import ModuleType

from torch import nn

from srmeta.errors import ModelError
from srmeta.models import bicubic, carn_m, edsr, espcn, fsrcnn, imdn, pan, rcan, repsr, rfdn, rlfn
from srmeta.models.descriptor import ModelDescriptor, attach_info, model_info
from srmeta.options import MODEL_OPTIONS

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")


def _network(
    module: ModuleType,
    name: str,
    summary: str,
    colour_option: str | None = None,
    checkpoints: str | None = None,
) -> ModelDescriptor:
    """A descriptor for a trained RGB-in, RGB-out network whose file defines ``build`` and
    ``detect``; its option model is ``MODEL_OPTIONS[name]`` (``colour_option``: the option
    saying whether it restores Y or RGB; ``checkpoints``: the official files that load)."""
    return ModelDescriptor(
        name=name,
        build=module.build,
        summary=summary,
        options=MODEL_OPTIONS[name],
        detect=module.detect,
        scales=(2, 3, 4),
        in_channels=3,
        out_channels=3,
        size_multiple=1,
        supports_bf16=True,
        colour_option=colour_option,
        receptive_radius=getattr(module, "receptive_radius", None),
        checkpoints=checkpoints,
    )


_REGISTRY: dict[str, ModelDescriptor] = {
    d.name: d
    for d in (
        ModelDescriptor(
            name="bicubic",
            build=bicubic.build,
            scales=(2, 3, 4),
            in_channels=None,
            out_channels=None,
            size_multiple=1,
            supports_bf16=False,
            needs_weights=False,
            accepts_uint8=True,
            options=MODEL_OPTIONS["bicubic"],
            summary="MATLAB imresize bicubic (uint8 in: MATLAB uint8 path, the tables' baseline)",
        ),
        _network(
            espcn, "espcn", "ESPCN (Shi 2016): 3 convs at LR + pixel shuffle, plus a bicubic skip"
        ),
        _network(
            fsrcnn, "fsrcnn", "FSRCNN (Dong 2016): hourglass convs at LR + 9x9 deconvolution, RGB"
        ),
        _network(edsr, "edsr", "EDSR (Lim 2017), baseline 16 blocks x 64 features by default"),
        _network(rcan, "rcan", "RCAN (Zhang 2018): 10 groups x 20 channel-attention blocks x 64"),
        _network(
            imdn,
            "imdn",
            "IMDN (Hui 2019): 6 multi-distillation blocks",
            checkpoints="Zheng222/IMDN checkpoints/IMDN_x2.pth, _x3, _x4",
        ),
        _network(
            rfdn,
            "rfdn",
            "RFDN (Liu 2020): 4 feature-distillation blocks with ESA, AIM 2020 winner",
            checkpoints="njulj/RFDN trained_model/RFDN_AIM.pth (x4)",
        ),
        _network(
            rlfn,
            "rlfn",
            "RLFN (Kong 2022): 4 local-feature blocks with ESA, NTIRE 2022 winner",
            checkpoints="ofsoundof/NTIRE2022_ESR model_zoo/team04_rlfn.pth (x4)",
        ),
        _network(
            pan,
            "pan",
            "PAN (Zhao 2020): 16 pixel-attention blocks x 40",
            checkpoints="zhaohengyuan1/PAN experiments/pretrained_models/PANx2_DF2K.pth, x3, x4",
        ),
        _network(
            carn_m,
            "carn_m",
            "CARN-M (Ahn 2018): cascading grouped residual units, x2/3/4 in one",
            checkpoints="nmhkahn/CARN-pytorch checkpoint/carn_m.pth (one file, x2/x3/x4)",
        ),
        _network(
            repsr,
            "repsr",
            "RepSR: SESR/ECBSR-style branches collapsed into a plain conv stack, Y or RGB",
            colour_option="colour",
        ),
    )
}


def registered_names() -> list[str]:
    """Names of all registered architectures."""
    return sorted(_REGISTRY)


def descriptors() -> list[ModelDescriptor]:
    """All descriptors, in registration order (the order detection tries them)."""
    return list(_REGISTRY.values())


def get_descriptor(name: str) -> ModelDescriptor:
    """The descriptor of a registered architecture (case-insensitive)."""
    descriptor = _REGISTRY.get(name.lower())
    if descriptor is None:
        known = ", ".join(registered_names())
        raise ModelError(f"unknown model '{name}'; registered models: {known}")
    return descriptor


def parameter_count(name: str, scale: int, **options: object) -> int:
    """Trainable parameters of a registered architecture at ``scale`` with ``options``."""
    return get_descriptor(name).parameter_count(scale, **options)


def inference_form(model: nn.Module) -> nn.Module:
    """The equivalent of ``model`` that is cheapest to run: re-parameterisable networks
    collapsed into their plain convolutions, anything else as it is."""
    if not isinstance(model, repsr.RepSR):
        return model
    info = model_info(model)
    collapsed = model.collapse().eval()
    return attach_info(collapsed, info) if info is not None else collapsed
