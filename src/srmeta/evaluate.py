"""Benchmark evaluation under the published protocol, for any model.

Two named protocols:

``rgb`` (default; how every model is scored)
    HR uint8, mod-cropped -> LR by the degradation (MATLAB bicubic on uint8 by default) ->
    model -> SR quantised to uint8 -> crop ``scale`` px -> Y (float) -> PSNR / SSIM.
``y-plane`` (how the published *bicubic* row was made)
    HR -> Y rounded to uint8 -> that single plane degraded in double precision, unrounded ->
    model (bicubic in double) -> rounded -> crop -> PSNR / SSIM. Needs a model that accepts
    one channel.

Single-channel HR images (Set14 ``bridge``) are their own Y in both protocols, and models
that need three channels get the gray LR replicated and their output's luma scored
against it (see docs/evaluation.md for why this reproduces the published Set14 cell).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from srmeta.color import rgb_to_gray, rgb_to_ycbcr
from srmeta.data.benchmarks import HRDataset, find_dataset, load_hr, mod_crop
from srmeta.data.lr_cache import LRCache
from srmeta.degrade import Degradation
from srmeta.errors import ModelError, SrmetaError
from srmeta.metrics import lr_consistency, score
from srmeta.models.registry import load_model, parameter_count, registered_names
from srmeta.pixels import quantize

PROTOCOLS: dict[str, str] = {
    "rgb": "RGB LR uint8 -> model -> uint8 SR -> float Y (BT.601), crop = scale",
    "y-plane": "Y plane only (rounded), degraded and upscaled in double, rounded, crop = scale",
}


@dataclass(frozen=True)
class ImageScore:
    """Scores of one image at one scale."""

    dataset: str
    scale: int
    image: str
    psnr: float
    ssim: float
    psnr_rgb: float
    lr_psnr: float
    seconds: float


@dataclass(frozen=True)
class DatasetScore:
    """Mean scores of a dataset at one scale (the mean of per-image values)."""

    dataset: str
    scale: int
    images: int
    psnr: float
    ssim: float
    psnr_rgb: float
    lr_psnr: float


@dataclass
class EvalReport:
    """Everything an evaluation measured, with the settings needed to reproduce it."""

    model: str
    protocol: str
    degradation: str
    round_y: bool
    images: list[ImageScore] = field(default_factory=list)

    def summary(self) -> list[DatasetScore]:
        groups: dict[tuple[str, int], list[ImageScore]] = {}
        for row in self.images:
            groups.setdefault((row.dataset, row.scale), []).append(row)
        return [
            DatasetScore(
                dataset=name,
                scale=scale,
                images=len(rows),
                psnr=_mean(r.psnr for r in rows),
                ssim=_mean(r.ssim for r in rows),
                psnr_rgb=_mean(r.psnr_rgb for r in rows),
                lr_psnr=_mean(r.lr_psnr for r in rows),
            )
            for (name, scale), rows in groups.items()
        ]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "protocol": self.protocol,
            "protocol_description": PROTOCOLS[self.protocol],
            "degradation": self.degradation,
            "y_channel": "rounded" if self.round_y else "float",
            "summary": [asdict(s) for s in self.summary()],
        }


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)


ModelFactory = Callable[[int], nn.Module]


def _model_factory(model: str | nn.Module | ModelFactory) -> tuple[str, ModelFactory]:
    if isinstance(model, str):
        if model.lower() in registered_names() and parameter_count(model, 2) > 0:
            raise ModelError(
                f"'{model}' is an architecture without trained weights; pass a weights file "
                "(.safetensors/.pth) or a training run folder"
            )
        return model, lambda scale: load_model(model, scale)
    if isinstance(model, nn.Module):
        return type(model).__name__, lambda _scale: model
    return getattr(model, "__name__", "model"), model


def _model_dtype(model: nn.Module) -> torch.dtype:
    param = next(iter(model.parameters()), None)
    return param.dtype if param is not None else torch.float32


def run_model(model: nn.Module, lr: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """One LR image (``C x H x W``, uint8 or float in [0,1]) through a model.

    uint8 goes in as is to models that accept it (bicubic, like MATLAB); otherwise as float
    in [0, 1]. A gray image is replicated for models that need three channels; their output
    then comes back as its full-range luma, comparable with the gray HR. Returns
    ``C x sH x sW``, uint8 or float in [0, 1].
    """
    wants_rgb = getattr(model, "in_channels", None) == 3 and lr.shape[0] == 1
    x = lr.expand(3, -1, -1) if wants_rgb else lr
    if not (x.dtype == torch.uint8 and getattr(model, "accepts_uint8", False)):
        x = x.to(torch.float64) / 255.0 if x.dtype == torch.uint8 else x
        x = x.to(_model_dtype(model))
    with torch.inference_mode():
        out = model(x.unsqueeze(0).to(device))[0].cpu()
    if wants_rgb:
        out = rgb_to_gray(out.to(torch.float64) / 255.0 if out.dtype == torch.uint8 else out)
    return out


def _prepare(hr: torch.Tensor, scale: int, protocol: str, crop: int | None) -> torch.Tensor:
    if crop is not None:  # a centred window, for quick validation during training
        top, left = max(0, (hr.shape[-2] - crop) // 2), max(0, (hr.shape[-1] - crop) // 2)
        hr = hr[..., top : top + crop, left : left + crop]
    hr = mod_crop(hr, scale)
    if protocol == "y-plane" and hr.shape[0] == 3:
        hr = rgb_to_ycbcr(hr)[:1]
    return hr


def _stable_index(name: str) -> int:
    """A per-image seed offset that does not change when a folder gains images."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def evaluate(
    model: str | nn.Module | ModelFactory,
    datasets: Sequence[str | HRDataset],
    scales: Sequence[int],
    *,
    degradation: Degradation | str | None = None,
    protocol: str = "rgb",
    round_y: bool = False,
    data_root: str | Path | None = None,
    cache: LRCache | None = None,
    device: str = "cpu",
    exclude: Collection[str] = (),
    max_pixels: int | None = None,
    hr_crop: int | None = None,
    progress: bool = True,
) -> EvalReport:
    """Score a model on benchmark datasets at the given scales.

    Args:
        model: ``bicubic``, a weights file, a training run folder, a module (for one
            scale), or ``scale -> module``.
        datasets: names (``Set5``, ``B100``...), folders, or :class:`HRDataset` objects.
        degradation: how LR is made from HR: a :class:`Degradation`, a short string or a
            YAML file path; default MATLAB bicubic (the benchmark LR).
        protocol: ``rgb`` or ``y-plane`` (see the module docstring).
        round_y: round Y to integers before the metrics (lowers Set5 bicubic ~0.034 dB).
        cache: where LR images are kept between runs; None computes them every time.
        exclude: image stems that must not be scored (e.g. a run's meta-dataset); an
            evaluation that would include one fails with a message naming it.
        max_pixels: refuse larger images (decompression-bomb guard); None: the default.
        hr_crop: score only a centred ``hr_crop`` square of each image (fast validation;
            not the protocol, so never for reported numbers).
    """
    if protocol not in PROTOCOLS:
        raise SrmetaError(f"unknown protocol '{protocol}'; choose one of {', '.join(PROTOCOLS)}")
    if not isinstance(degradation, Degradation):
        degradation = Degradation.from_spec(degradation or "")
    name, factory = _model_factory(model)
    sets = [d if isinstance(d, HRDataset) else find_dataset(d, data_root) for d in datasets]
    for dataset in sets:
        clash = sorted({f.stem for f in dataset.files} & set(exclude))
        if clash:
            raise SrmetaError(
                f"{dataset.name} holds images of the run's meta-dataset ({', '.join(clash)});"
                " evaluating on them would be unfair; exclude them or use another set"
            )
    settings = _Settings(degradation, protocol, round_y, cache, device, max_pixels, hr_crop)
    report = EvalReport(name, protocol, degradation.to_string(), round_y)
    for scale in scales:
        net = factory(scale)
        if isinstance(net, nn.Module):
            net = net.to(device).eval()
        for dataset in sets:
            files = tqdm(
                dataset.files, desc=f"{dataset.name} x{scale}", disable=not progress, leave=False
            )
            report.images.extend(_score_image(net, dataset, p, scale, settings) for p in files)
    return report


@dataclass(frozen=True)
class _Settings:
    """How every image of one evaluation is prepared and scored."""

    degradation: Degradation
    protocol: str
    round_y: bool
    cache: LRCache | None
    device: str
    max_pixels: int | None
    hr_crop: int | None


def _make_lr(hr: torch.Tensor, dataset: HRDataset, path: Path, scale: int, job: _Settings):
    degradation = job.degradation
    index = _stable_index(path.stem)
    if job.hr_crop is not None:  # a crop's LR is not the full image's: never cache it
        job = replace(job, cache=None)
    if job.protocol == "y-plane":  # double precision, unrounded, as the published pipeline
        return degradation.apply(hr.to(torch.float64) / 255.0, scale, index=index, quantize=False)
    make = lambda: degradation.apply(hr, scale, index=index)  # noqa: E731
    return make() if job.cache is None else job.cache.get(dataset, path, scale, degradation, make)


def _score_image(
    net: nn.Module, dataset: HRDataset, path: Path, scale: int, job: _Settings
) -> ImageScore:
    hr = _prepare(load_hr(path, job.max_pixels), scale, job.protocol, job.hr_crop)
    lr = _make_lr(hr, dataset, path, scale, job)
    start = time.perf_counter()
    sr = run_model(net, lr, job.device)
    seconds = time.perf_counter() - start
    if sr.shape[-2:] != hr.shape[-2:]:
        raise SrmetaError(
            f"{path.name}: model output {tuple(sr.shape[-2:])} does not match HR "
            f"{tuple(hr.shape[-2:])} at x{scale}"
        )
    scores = score(sr, hr, border=scale, round_y=job.round_y)
    lr_u8 = lr if lr.dtype == torch.uint8 else quantize(lr)
    return ImageScore(
        dataset=dataset.name,
        scale=scale,
        image=path.stem,
        psnr=scores.psnr,
        ssim=scores.ssim,
        psnr_rgb=scores.psnr_rgb,
        lr_psnr=lr_consistency(sr, lr_u8, scale),
        seconds=seconds,
    )
