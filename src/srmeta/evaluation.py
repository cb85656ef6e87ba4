"""Benchmark evaluation under the published protocol, for any model.

Two named protocols:

``rgb`` (default; how every model is scored)
    HR uint8, mod-cropped -> LR by the degradation (MATLAB bicubic on uint8 by default) ->
    model -> SR quantised to uint8 -> crop ``scale`` px -> Y (float) -> PSNR / SSIM.
``y-plane`` (how the published *bicubic* row was made)
    HR -> Y rounded to uint8 -> that single plane degraded in double precision, unrounded ->
    model (bicubic in double) -> rounded -> crop -> PSNR / SSIM. Needs a model that accepts
    one channel.

Single-channel HR images (Set14 ``bridge``) are their own Y for models that take them as
they are (bicubic), and are replicated to RGB for RGB networks, LR and ground truth alike.
Each reproduces its published Set14 cells (docs/evaluation.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from srmeta.color import rgb_to_ycbcr
from srmeta.data.benchmarks import HRDataset, find_dataset, load_hr, mod_crop
from srmeta.data.lr_cache import LRCache
from srmeta.degrade import Degradation
from srmeta.devices import torch_device
from srmeta.errors import SrmetaError
from srmeta.metrics import lr_consistency, score
from srmeta.models.descriptor import model_info
from srmeta.models.files import meta_images_of
from srmeta.models.loading import load_model
from srmeta.models.registry import inference_form
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
        return model, lambda scale: inference_form(load_model(model, scale, trained=True))
    if isinstance(model, nn.Module):
        return type(model).__name__, lambda _scale: model
    return getattr(model, "__name__", "model"), model


def check_image_sizes(
    sets: Iterable[HRDataset], scales: Iterable[int], hr_crop: int | None = None
) -> None:
    """Refuse, before any work, an image the protocol cannot score: after cropping to a
    multiple of the scale and removing ``scale`` pixels per border nothing would be left.
    Reads image headers only."""
    for path in (path for dataset in sets for path in dataset.files):
        try:
            with Image.open(path) as image:
                width, height = image.size
        except OSError:
            continue  # an unreadable file is reported when it is read
        side = min(width, height, hr_crop or width)
        for scale in scales:
            need = 3 * scale  # the smallest multiple of s that keeps a pixel inside the borders
            if side - side % scale < need:
                raise SrmetaError(
                    f"{path}: {width}x{height} is too small to score at x{scale} (the"
                    f" protocol needs at least {need} pixels per side)"
                )


def _model_dtype(model: nn.Module) -> torch.dtype:
    param = next(iter(model.parameters()), None)
    return param.dtype if param is not None else torch.float32


def run_model(model: nn.Module, lr: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """One LR image (``C x H x W``, uint8 or float in [0,1]) through a model.

    uint8 goes in as is to models that accept it (bicubic, like MATLAB); otherwise as float
    in [0, 1]. A gray image is replicated for models that need three channels. Returns
    ``C x sH x sW``, uint8 or float in [0, 1].
    """
    info = model_info(model)
    x = lr.expand(3, -1, -1) if _takes_rgb(model) and lr.shape[0] == 1 else lr
    if not (x.dtype == torch.uint8 and info is not None and info.accepts_uint8):
        x = x.to(torch.float64) / 255.0 if x.dtype == torch.uint8 else x
        x = x.to(_model_dtype(model))
    with torch.inference_mode():
        return model(x.unsqueeze(0).to(device))[0].cpu()


def _takes_rgb(model: nn.Module) -> bool:
    """RGB networks get gray images replicated; a module without an info is taken to be one."""
    info = model_info(model)
    return info is None or info.in_channels == 3


def _prepare(
    hr: torch.Tensor, scale: int, protocol: str, crop: int | None, rgb: bool
) -> torch.Tensor:
    """Ground truth as the protocol scores it for this model.

    A gray HR is its own Y for models that take it as it is (bicubic: the published bicubic
    row). For RGB networks it is replicated to RGB and scored on that image's Y, as the
    published evaluations of RGB models do (IMDN's Set14 reproduces only this way).
    """
    if crop is not None:  # a centred window, for quick validation during training
        top, left = max(0, (hr.shape[-2] - crop) // 2), max(0, (hr.shape[-1] - crop) // 2)
        hr = hr[..., top : top + crop, left : left + crop]
    hr = mod_crop(hr, scale)
    if protocol == "y-plane":
        if rgb:
            raise SrmetaError("the y-plane protocol needs a model that accepts one channel")
        return rgb_to_ycbcr(hr)[:1] if hr.shape[0] == 3 else hr
    return hr.expand(3, -1, -1).contiguous() if rgb and hr.shape[0] == 1 else hr


def _without_meta(dataset: HRDataset, exclude: set[str], skip: bool) -> HRDataset:
    clash = sorted({f.stem for f in dataset.files} & exclude)
    if not clash:
        return dataset
    if not skip:
        raise SrmetaError(
            f"{dataset.name} holds images of the model's meta-dataset ({', '.join(clash)});"
            " scoring on them would be unfair; use --skip-meta to score the rest"
        )
    kept = {f.stem for f in dataset.files} - exclude
    return dataset.subset(kept, f"-{len(kept)}")


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
    skip_meta: bool = False,
    progress: bool = False,
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
        exclude: image stems that must not be scored. A run's meta-dataset images (recorded
            in its model file) are always added. An evaluation that would include one fails
            with a message naming it, unless ``skip_meta``.
        skip_meta: drop such images instead, renaming the set by its size (Urban100-90).
        max_pixels: refuse larger images (decompression-bomb guard); None: the default.
        hr_crop: score only a centred ``hr_crop`` square of each image (fast validation;
            not the protocol, so never for reported numbers).
    """
    if protocol not in PROTOCOLS:
        raise SrmetaError(f"unknown protocol '{protocol}'; choose one of {', '.join(PROTOCOLS)}")
    if not isinstance(degradation, Degradation):
        degradation = Degradation.from_spec(degradation or "")
    device = str(torch_device(device))  # an unknown or missing device fails before any work
    name, factory = _model_factory(model)
    exclude = set(exclude)
    if isinstance(model, str) and Path(model).exists():
        exclude |= set(meta_images_of(model))
    sets = [d if isinstance(d, HRDataset) else find_dataset(d, data_root) for d in datasets]
    sets = [_without_meta(dataset, exclude, skip_meta) for dataset in sets]
    check_image_sizes(sets, scales, hr_crop)
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
    if job.cache is None:
        return make()
    return job.cache.get(dataset, path, scale, degradation, make, channels=hr.shape[0])


def _score_image(
    net: nn.Module, dataset: HRDataset, path: Path, scale: int, job: _Settings
) -> ImageScore:
    hr = load_hr(path, job.max_pixels)
    hr = _prepare(hr, scale, job.protocol, job.hr_crop, _takes_rgb(net))
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
