"""Benchmark evaluation under the published protocol, for any model.

How a score is computed (LR making, colour handling, Y rounding, border crop) is the
:class:`~srmeta.protocol.EvalProtocol` named by ``protocol`` (:mod:`srmeta.protocol`); this
module runs it over datasets and scales, with an LR cache, and collects the scores.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from srmeta.data.benchmarks import HRDataset, find_dataset, load_hr, mod_crop
from srmeta.data.lr_cache import LRCache
from srmeta.data.pairs import PairDataset, PairFiles, load_pair
from srmeta.degradations import AnyDegradation, parse_degradation
from srmeta.degrade import Degradation
from srmeta.devices import torch_device
from srmeta.errors import SrmetaError
from srmeta.metrics import lr_consistency
from srmeta.models.descriptor import model_info
from srmeta.models.files import meta_images_of
from srmeta.models.loading import load_model
from srmeta.models.registry import inference_form
from srmeta.pixels import quantize
from srmeta.protocol import EvalProtocol, get_protocol


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
    """Everything an evaluation measured, with the protocol needed to reproduce it."""

    model: str
    protocol: EvalProtocol
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
            **self.protocol.settings(),
            "summary": [asdict(s) for s in self.summary()],
        }


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)


ModelFactory = Callable[[int], nn.Module]
ImageHook = Callable[[ImageScore, torch.Tensor, torch.Tensor], None]
"""Called with each image's scores, its ground truth and the model's output (see
:func:`evaluate`'s ``on_image``)."""


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
    x = lr.expand(3, -1, -1) if takes_rgb(model) and lr.shape[0] == 1 else lr
    if not (x.dtype == torch.uint8 and info is not None and info.accepts_uint8):
        x = x.to(torch.float64) / 255.0 if x.dtype == torch.uint8 else x
        x = x.to(_model_dtype(model))
    with torch.inference_mode():
        return model(x.unsqueeze(0).to(device))[0].cpu()


def takes_rgb(model: nn.Module) -> bool:
    """RGB networks get gray images replicated; a module without an info is taken to be one."""
    info = model_info(model)
    return info is None or info.in_channels == 3


def _prepare(
    hr: torch.Tensor, scale: int, protocol: EvalProtocol, crop: int | None, rgb: bool
) -> torch.Tensor:
    """Ground truth as the protocol scores it for this model (see
    :meth:`EvalProtocol.ground_truth`), after the optional centred ``crop`` and mod-crop."""
    if crop is not None:  # a centred window, for quick validation during training
        top, left = max(0, (hr.shape[-2] - crop) // 2), max(0, (hr.shape[-1] - crop) // 2)
        hr = hr[..., top : top + crop, left : left + crop]
    return protocol.ground_truth(mod_crop(hr, scale), rgb)


def _without_meta(
    dataset: HRDataset | PairDataset, exclude: set[str], skip: bool
) -> HRDataset | PairDataset:
    names = _image_names(dataset)
    clash = sorted(set(names) & exclude)
    if not clash:
        return dataset
    if not skip:
        raise SrmetaError(
            f"{dataset.name} holds images of the model's meta-dataset ({', '.join(clash)});"
            " scoring on them would be unfair; use --skip-meta to score the rest"
        )
    kept = set(names) - exclude
    if isinstance(dataset, PairDataset):
        return dataset.without(exclude, f"-{len(kept)}")
    return dataset.subset(kept, f"-{len(kept)}")


def _image_names(dataset: HRDataset | PairDataset) -> list[str]:
    if isinstance(dataset, PairDataset):
        return [p.key for p in dataset.pairs]
    return [f.stem for f in dataset.files]


def _check_pairs_protocol(sets: Sequence[HRDataset | PairDataset], protocol: EvalProtocol):
    """Pairs bring their LR: only the protocol's scoring applies, not its LR making."""
    if not any(isinstance(d, PairDataset) for d in sets):
        return
    if protocol.colour != "rgb":
        raise SrmetaError(f"pairs are scored under the rgb protocol, not {protocol.name}")
    if protocol.degradation != Degradation():
        raise SrmetaError("pairs bring their own LR; --degradation does not apply to them")


def checked_scales(scales: object) -> list[int]:
    """``scales`` as a list of positive ints: one int, or a sequence (list, tuple, range) of
    them. A string is refused, even ``"4"``: the command line's ``--scales 2,3`` is text to
    parse, but in Python a string is most likely a slip, and iterating it would read ``"24"``
    as 2 and 4."""
    values = [scales] if isinstance(scales, numbers.Integral) else scales
    if isinstance(scales, str | bytes) or not isinstance(values, Sequence) or not values:
        raise SrmetaError(
            f"scales must be an int or a list of ints, e.g. 4 or [2, 3, 4], not {scales!r}"
        )
    checked = []
    for value in values:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise SrmetaError(f"scales must be positive ints, e.g. [2, 3, 4]; got {value!r}")
        checked.append(int(value))
    return checked


def evaluate(
    model: str | nn.Module | ModelFactory,
    datasets: Sequence[str | HRDataset | PairDataset],
    scales: int | Sequence[int],
    *,
    degradation: AnyDegradation | str | None = None,
    protocol: str | EvalProtocol = "rgb",
    round_y: bool | None = None,
    data_root: str | Path | None = None,
    cache: LRCache | None = None,
    device: str = "cpu",
    exclude: Collection[str] = (),
    max_pixels: int | None = None,
    hr_crop: int | None = None,
    skip_meta: bool = False,
    progress: bool = False,
    on_image: ImageHook | None = None,
) -> EvalReport:
    """Score a model on benchmark datasets at the given scales.

    Args:
        model: ``bicubic``, a weights file, a training run folder, a module (for one
            scale), or ``scale -> module``.
        datasets: names (``Set5``, ``B100``...), folders, or :class:`HRDataset` objects.
        scales: an int (``4``) or a list of ints (``[2, 3, 4]``); a string, even ``"4"``,
            is an error (:func:`checked_scales`).
        degradation: how LR is made from HR: a :class:`Degradation` or
            :class:`~srmeta.degrade_real.RealisticDegradation`, a short string (``realistic``
            for the latter) or a YAML file path; None or ``""``: the protocol's own (MATLAB
            bicubic, the benchmark LR, for the named protocols).
        protocol: ``rgb`` or ``y-plane``, or an :class:`EvalProtocol` (:mod:`srmeta.protocol`).
        round_y: round Y to integers before the metrics (lowers Set5 bicubic ~0.034 dB);
            None: the protocol's own (float Y for the named protocols).
        cache: where LR images are kept between runs; None computes them every time.
        exclude: image stems that must not be scored. A run's meta-dataset images (recorded
            in its model file) are always added. An evaluation that would include one fails
            with a message naming it, unless ``skip_meta``.
        skip_meta: drop such images instead, renaming the set by its size (Urban100-90).
        max_pixels: refuse larger images (decompression-bomb guard); None: the default.
        hr_crop: score only a centred ``hr_crop`` square of each image (fast validation;
            not the protocol, so never for reported numbers).
        on_image: called after each image with its :class:`ImageScore`, the ground truth
            as scored (uint8 ``C x H x W``) and the model's output as it was scored (uint8,
            or float in [0, 1], ``C x H x W``): how reports get SR images made exactly
            as the scores were.
    """
    scales = checked_scales(scales)
    chosen = get_protocol(protocol)
    if isinstance(degradation, str):
        degradation = parse_degradation(degradation) if degradation else None
    chosen = chosen.with_options(degradation=degradation, round_y=round_y)
    device = str(torch_device(device))  # an unknown or missing device fails before any work
    name, factory = _model_factory(model)
    exclude = set(exclude)
    if isinstance(model, str) and Path(model).exists():
        exclude |= set(meta_images_of(model))
    sets = [d if not isinstance(d, str) else find_dataset(d, data_root) for d in datasets]
    sets = [_without_meta(dataset, exclude, skip_meta) for dataset in sets]
    _check_pairs_protocol(sets, chosen)
    check_image_sizes([d for d in sets if isinstance(d, HRDataset)], scales, hr_crop)
    settings = _Settings(chosen, cache, device, max_pixels, hr_crop, on_image)
    report = EvalReport(name, chosen)
    for scale in scales:
        net = factory(scale)
        if isinstance(net, nn.Module):
            net = net.to(device).eval()
        for dataset in sets:
            desc = f"{dataset.name} x{scale}"
            if isinstance(dataset, PairDataset):
                pairs = tqdm(dataset.pairs, desc=desc, disable=not progress, leave=False)
                report.images.extend(_score_pair(net, dataset, p, scale, settings) for p in pairs)
            else:
                files = tqdm(dataset.files, desc=desc, disable=not progress, leave=False)
                report.images.extend(_score_image(net, dataset, p, scale, settings) for p in files)
    return report


@dataclass(frozen=True)
class _Settings:
    """How every image of one evaluation is prepared and scored."""

    protocol: EvalProtocol
    cache: LRCache | None
    device: str
    max_pixels: int | None
    hr_crop: int | None
    on_image: ImageHook | None = None


def _make_lr(
    hr: torch.Tensor, dataset: HRDataset, path: Path, scale: int, job: _Settings
) -> torch.Tensor:
    protocol = job.protocol
    make = lambda: protocol.make_lr(hr, scale, path.stem)  # noqa: E731
    # A crop's LR is not the full image's, and only uint8 LR is exact as a file: no cache.
    if job.cache is None or job.hr_crop is not None or not protocol.caches_lr:
        return make()
    return job.cache.get(dataset, path, scale, protocol.degradation, make, channels=hr.shape[0])


def _score_image(
    net: nn.Module, dataset: HRDataset, path: Path, scale: int, job: _Settings
) -> ImageScore:
    hr = load_hr(path, job.max_pixels)
    hr = _prepare(hr, scale, job.protocol, job.hr_crop, takes_rgb(net))
    lr = _make_lr(hr, dataset, path, scale, job)
    return _score(net, dataset.name, path.stem, lr, hr, scale, job)


def _score_pair(
    net: nn.Module, dataset: PairDataset, files: PairFiles, scale: int, job: _Settings
) -> ImageScore:
    pair = load_pair(files, scale, dataset.align)
    lr, hr = pair.lr, pair.hr
    if job.hr_crop is not None:  # a centred window on the LR grid, for quick validation
        side = job.hr_crop // scale
        top, left = ((n - side) // 2 for n in lr.shape[-2:])
        top, left = max(top, 0), max(left, 0)
        lr = lr[:, top : top + side, left : left + side]
        hr = hr[:, top * scale : (top + side) * scale, left * scale : (left + side) * scale]
    return _score(net, dataset.name, files.name, lr, hr, scale, job)


def _score(
    net: nn.Module,
    dataset: str,
    image: str,
    lr: torch.Tensor,
    hr: torch.Tensor,
    scale: int,
    job: _Settings,
) -> ImageScore:
    start = time.perf_counter()
    sr = run_model(net, lr, job.device)
    seconds = time.perf_counter() - start
    if sr.shape[-2:] != hr.shape[-2:]:
        raise SrmetaError(
            f"{image}: model output {tuple(sr.shape[-2:])} does not match HR "
            f"{tuple(hr.shape[-2:])} at x{scale}"
        )
    scores = job.protocol.score(sr, hr, scale)
    lr_u8 = lr if lr.dtype == torch.uint8 else quantize(lr)
    result = ImageScore(
        dataset=dataset,
        scale=scale,
        image=image,
        psnr=scores.psnr,
        ssim=scores.ssim,
        psnr_rgb=scores.psnr_rgb,
        lr_psnr=lr_consistency(sr, lr_u8, scale),
        seconds=seconds,
    )
    if job.on_image is not None:
        job.on_image(result, hr, sr)
    return result
