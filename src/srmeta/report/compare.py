"""``srmeta compare``: one HTML page comparing models, score folders and training runs.

Models are scored by :func:`srmeta.evaluation.evaluate` (bicubic always with them), so
their columns are exactly what ``srmeta eval`` prints; ``srmeta eval --out`` folders add
columns, refused if scored another way. For the images where the models disagree most (or
those asked for), the models run once more through ``evaluate`` on those images only, and
its ``on_image`` hook hands over the ground truth and the outputs as they were scored: the
LR is made, cached and fed exactly as for the scores. Crops are cut where the per-pixel
errors differ most (:mod:`crops`). Training runs add their curves and ``srmeta weights``
figures. Everything cheap to check is checked by :func:`plan` before any model runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from srmeta.atomic import atomic_write_text, check_writable
from srmeta.data.benchmarks import HRDataset, find_dataset
from srmeta.data.lr_cache import LRCache
from srmeta.degradations import parse_degradation
from srmeta.errors import SrmetaError
from srmeta.evaluation import ImageScore, evaluate
from srmeta.models.bundled import display_name, is_bundled_name
from srmeta.models.files import meta_images_of
from srmeta.models.loading import load_model
from srmeta.pixels import quantize
from srmeta.protocol import RGB, EvalProtocol, get_protocol
from srmeta.report.compare_html import render_page
from srmeta.report.comparison import BICUBIC, Comparison, Figure, ImageKey, ScoreColumn
from srmeta.report.crops import crop_view
from srmeta.report.run_curves import read_metrics, run_charts, weight_figures
from srmeta.report.score_columns import (
    check_same_protocol,
    column_from_report,
    most_different,
    read_eval_folder,
    spread_labels,
    unique_labels,
)
from srmeta.report.weight_maps import run_names


@dataclass
class CompareRequest:
    """What to compare; see ``srmeta compare --help`` for each field's meaning."""

    models: Sequence[str] = ()
    evals: Sequence[str] = ()
    runs: Sequence[str] = ()
    weight_maps: str | None = None
    datasets: Sequence[str] = ("Set5",)
    scales: Sequence[int] = (4,)
    images: Sequence[str] = ()
    crops: int = 3
    crop_size: int = 96
    degradation: str = ""
    data_root: str | Path | None = None
    cache: LRCache | None = None
    device: str = "cpu"
    skip_meta: bool = False
    title: str | None = None
    progress: bool = False


@dataclass
class Plan:
    """A request with every input found, read and loaded once: what :func:`build` runs."""

    request: CompareRequest
    protocol: EvalProtocol | None
    models: dict[str, str] = field(default_factory=dict)  # label -> model
    sets: list[HRDataset] = field(default_factory=list)
    images: list[ImageKey] = field(default_factory=list)
    evals: list[ScoreColumn] = field(default_factory=list)
    runs: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    exclude: set[str] = field(default_factory=set)


def check_output(out: str | os.PathLike, force: bool) -> Path:
    """Refuse an output that cannot be written, before anything is computed."""
    path = Path(out).expanduser()
    check_writable(path, force)
    folder = next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise SrmetaError(f"{path}: cannot write in {folder}")
    return path


def protocol_of(settings: dict[str, Any]) -> EvalProtocol:
    """The protocol an eval folder's summary names (its ``protocol``, ``degradation`` and
    ``y_channel`` fields)."""
    degradation = parse_degradation(str(settings.get("degradation") or ""))
    rounded = settings.get("y_channel") == "rounded"
    return get_protocol(str(settings.get("protocol"))).with_options(
        degradation=degradation, round_y=rounded
    )


def _model_label(model: str) -> str:
    if is_bundled_name(model):
        return display_name(model)
    path = Path(model)
    return path.stem if path.suffix else path.name or model


def _image_keys(plan: Plan, specs: Sequence[str]) -> list[ImageKey]:
    """``DATASET:name`` specs as keys at every scale; each must be in a compared set."""
    keys = []
    for spec in specs:
        dataset, sep, stem = spec.partition(":")
        if not sep or not stem:
            raise SrmetaError(f"--images {spec}: give DATASET:name, e.g. Set5:baby")
        name = find_dataset(dataset, plan.request.data_root).name
        found = next((s for s in plan.sets if s.name == name), None)
        if found is None:
            raise SrmetaError(f"--images {spec}: {name} is not among --datasets")
        if stem not in {f.stem for f in found.files}:
            raise SrmetaError(f"--images {spec}: no image '{stem}' in {name} ({found.folder})")
        keys += [(name, scale, stem) for scale in plan.request.scales]
    return keys


def plan(request: CompareRequest) -> Plan:
    """Check and read every input (eval folders, runs, datasets, images, models)."""
    if not (request.models or request.evals or request.runs):
        raise SrmetaError("nothing to compare: give --model, --eval or --run")
    degradation = parse_degradation(request.degradation) if request.degradation else None
    result = Plan(request, RGB.with_options(degradation=degradation) if request.models else None)
    if request.models:
        given = [m for m in request.models if m.lower() != BICUBIC]
        names = [BICUBIC, *dict.fromkeys(given)]
        labels = unique_labels([_model_label(m) for m in names], names)
        result.models = dict(zip(labels, names, strict=True))
        result.sets = [find_dataset(name, request.data_root) for name in request.datasets]
    elif request.images:
        raise SrmetaError("--images needs --model: crops are made by running models")
    result.images = _image_keys(result, request.images)
    folders = unique_labels([Path(e).name for e in request.evals], request.evals, [*result.models])
    for folder, label in zip(request.evals, folders, strict=True):
        column, settings = read_eval_folder(folder, label)
        result.protocol = result.protocol or protocol_of(settings)
        check_same_protocol(settings, result.protocol.settings(), f"--eval {folder}")
        result.evals.append(column)
    result.runs = list(zip(run_names(request.runs), map(read_metrics, request.runs), strict=True))
    if request.weight_maps is not None:
        if not Path(request.weight_maps).expanduser().is_dir():
            raise SrmetaError(f"--weight-maps {request.weight_maps}: no such folder")
        result.figures = weight_figures(request.weight_maps)
        if not result.figures:
            raise SrmetaError(f"--weight-maps {request.weight_maps}: no srmeta weights figures")
    else:  # srmeta weights --out RUN puts them in the run folder
        result.figures = [f for run in request.runs for f in weight_figures(run)]
    for model in result.models.values():  # an unknown or broken model fails now, not later
        for scale in request.scales:
            load_model(model, scale, trained=True)
        if Path(model).exists():  # every column leaves out every model's meta images
            result.exclude.update(meta_images_of(model))
    return result


EVALUATE_FIELDS = ("degradation", "data_root", "cache", "device", "skip_meta", "progress")
"""The request's fields that go to :func:`evaluate` as they are."""


def _evaluate(plan: Plan, model: str, sets: list[HRDataset], scales: Sequence[int], **kw: Any):
    options = {name: getattr(plan.request, name) for name in EVALUATE_FIELDS}
    return evaluate(model, sets, scales, exclude=plan.exclude, **options, **kw)


Outputs = dict[ImageKey, dict[str, torch.Tensor]]


def _keeper(truth: dict[ImageKey, torch.Tensor], outputs: Outputs, dataset: str, label: str):
    """The ``on_image`` hook that files each image's ground truth and ``label``'s output
    (uint8) under ``dataset``, the name the key was chosen under."""

    def keep(score: ImageScore, hr: torch.Tensor, sr: torch.Tensor) -> None:
        key = (dataset, score.scale, score.image)
        truth.setdefault(key, hr)
        outputs.setdefault(key, {})[label] = sr if sr.dtype == torch.uint8 else quantize(sr)

    return keep


def _outputs(plan: Plan, keys: list[ImageKey]) -> tuple[dict[ImageKey, torch.Tensor], Outputs]:
    """Ground truth and every model's output of the chosen images, as scored."""
    truth: dict[ImageKey, torch.Tensor] = {}
    outputs: Outputs = {}
    groups: dict[tuple[str, int], set[str]] = {}
    for dataset, scale, image in keys:
        groups.setdefault((dataset, scale), set()).add(image)
    for label, model in plan.models.items():
        for (dataset, scale), names in groups.items():
            keep = _keeper(truth, outputs, dataset, label)
            chosen = _set_of(plan, dataset).subset(names, "")
            _evaluate(plan, model, [chosen], [scale], on_image=keep)
    return truth, outputs


def _set_of(plan: Plan, dataset: str) -> HRDataset:
    """The compared set named ``dataset``, or the one a model's scores named ``dataset``
    after leaving out its meta images (``Urban100-95`` is cut from ``Urban100``)."""
    prefix, _, size = dataset.rpartition("-")
    for candidate in plan.sets:
        if dataset == candidate.name or (prefix == candidate.name and size.isdigit()):
            return candidate
    raise ValueError(f"no compared set named {dataset}")


def build(plan: Plan) -> Comparison:
    """Score the models, cut the crops, draw the curves: the report's content."""
    request = plan.request
    columns = [
        column_from_report(_evaluate(plan, model, plan.sets, request.scales), label, model)
        for label, model in plan.models.items()
    ]
    spread = spread_labels(columns)
    keys = plan.images or most_different(columns, request.crops)
    truth, outputs = _outputs(plan, keys) if keys else ({}, {})
    shown = [k for k in keys if len(outputs.get(k, ())) == len(plan.models)]  # none skipped
    crops = [
        crop_view(k, truth[k], outputs[k], request.crop_size, spread, border=k[1]) for k in shown
    ]
    models = [c for c in columns if c.label != BICUBIC]
    mean = {c.label: sum(s.psnr for s in c.sets.values()) / len(c.sets) for c in models}
    title = request.title or "srmeta compare: " + ", ".join(
        [*plan.models, *(c.label for c in plan.evals), *(name for name, _ in plan.runs)]
    )
    return Comparison(
        title=title,
        protocol=plan.protocol.describe() if plan.protocol is not None else "",
        columns=[*columns, *plan.evals],
        crops=crops,
        charts=run_charts(plan.runs),
        figures=plan.figures,
        spread=spread,
        slider=max(mean, key=mean.__getitem__) if mean else None,
    )


def write_report(comparison: Comparison, out: str | os.PathLike, force: bool = False) -> int:
    """Write the page atomically (nothing is left on failure); returns its size in bytes."""
    text = render_page(comparison)
    atomic_write_text(out, text, force=force)
    return len(text.encode("utf-8"))
