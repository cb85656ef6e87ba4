"""Weight maps of a trained run: where its weighting puts the loss, and why.

A loss-weighting strategy is only convincing if its weights can be looked at. For each
image this rebuilds the exact situation of the run's next training step (the newest
checkpoint's SR network, optimiser state, weighting state and meta batch), but on one whole
image instead of a random patch, and records the weight map the strategy would train with,
the reward map it learns from (meta strategies only), and the SR error. Summary statistics
then say in numbers whether the weights follow image structure or merely the error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srmeta.atomic import atomic_open, check_writable
from srmeta.checkpoints import list_states, load_state
from srmeta.color import rgb_to_y255
from srmeta.config import ExperimentConfig, load_config
from srmeta.data.benchmarks import find_dataset, load_hr, mod_crop
from srmeta.data.meta import MetaSet
from srmeta.data.training import as_rgb
from srmeta.errors import SrmetaError
from srmeta.losses import PixelLoss
from srmeta.models.loading import load_model
from srmeta.training.schedule import build_optimizer
from srmeta.weighting import StepContext, WeightingStrategy, build_strategy
from srmeta.weighting.classic import sobel_xy

ImageSpec = str | os.PathLike


@dataclass
class WeightMaps:
    """One image's maps (all on the CPU): ``hr`` is ``3 x H x W`` in [0, 1], the rest ``H x W``.

    ``reward`` is None for strategies that learn from no reward (not meta-learned).
    """

    name: str
    hr: torch.Tensor
    weights: torch.Tensor
    reward: torch.Tensor | None
    error: torch.Tensor


@dataclass
class LoadedRun:
    """A run folder as its newest checkpoint left it (``state`` None when it has none)."""

    run_dir: Path
    cfg: ExperimentConfig
    model: nn.Module
    state: dict[str, Any] | None

    @property
    def step(self) -> int:
        return int(self.state["step"]) if self.state is not None else self.cfg.train.steps


def load_run(
    run_dir: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    device: str = "cpu",
    raw: bool = True,
) -> LoadedRun:
    """The run's config (``data_root`` overriding its own) and SR network.

    ``raw``: the network the trainer is optimising, from the newest checkpoint (what the
    weighting saw), falling back to the shipped weights; else the shipped weights
    (``model_best``, else ``model_last``: what ``srmeta eval`` scores).
    """
    folder = Path(run_dir).expanduser()
    if not (folder / "config.yaml").is_file():
        raise SrmetaError(f"{folder}: not a training run (no config.yaml)")
    cfg = load_config(folder / "config.yaml")
    if data_root is not None:
        cfg.data_root = str(data_root)
    states = list_states(folder)
    state = load_state(states[-1][1], device) if states else None
    if raw and state is not None:
        model = load_model(cfg.model.arch, cfg.scale, **cfg.model.options)
        model.load_state_dict(state["model"])
    else:
        model = load_model(folder)
    return LoadedRun(folder, cfg, model.to(device), state)


def run_data_root(run_dir: str | os.PathLike) -> str | None:
    """The data root a run was trained with, so images named ``DATASET:name`` resolve as
    they did for the run when no other root is given."""
    config = Path(run_dir).expanduser() / "config.yaml"
    return load_config(config).data_root if config.is_file() else None


def run_names(run_dirs: Sequence[str | os.PathLike]) -> list[str]:
    """Display names (folder names) made unique with ``-2``, ``-3``... for file names."""
    names: list[str] = []
    for run_dir in run_dirs:
        base = Path(run_dir).expanduser().resolve().name or "run"
        name, n = base, 1
        while name in names or name == "bicubic":
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def resolve_image(spec: ImageSpec, data_root: str | os.PathLike | None = None) -> Path:
    """An image file by path, or ``DATASET:name`` (e.g. ``Set5:bird``) under the data root."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    text = os.fspath(spec)
    dataset, sep, stem = text.partition(":")
    if not sep or not dataset or not stem or "/" in dataset:
        raise SrmetaError(f"{text}: no such image file (give a path or DATASET:name)")
    found = find_dataset(dataset, data_root)
    for file in found.files:
        if stem in (file.stem, file.name):
            return file
    raise SrmetaError(f"{text}: no image '{stem}' in {found.name} ({found.folder})")


def prepare_hr(path: Path, scale: int, crop: int | None = None) -> torch.Tensor:
    """The HR image as uint8 ``3 x H x W``, mod-cropped, then centre-cropped to ``crop``.

    The crop is rounded down to a multiple of the scale (so the LR grid is whole); an
    image smaller than the crop is kept whole.
    """
    hr = mod_crop(as_rgb(load_hr(path)), scale)
    if crop is None:
        return hr.contiguous()
    size = crop - crop % scale
    if size < scale:
        raise SrmetaError(f"crop {crop} is smaller than the scale {scale}")
    h, w = hr.shape[-2:]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return hr[:, top : top + ch, left : left + cw].contiguous()


def _optimizer(cfg: ExperimentConfig, model: nn.Module, state: dict[str, Any] | None):
    """The run's optimiser with its saved moments, so Adam-preconditioned rewards match."""
    optimizer = build_optimizer(cfg.train.optimizer, model.parameters())
    if state is not None and state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    return optimizer


def _strategy(run: LoadedRun, device: str) -> WeightingStrategy:
    weighting = run.cfg.train.weighting
    strategy = build_strategy(weighting.name, weighting.options, run.cfg.scale)
    strategy = strategy.to(torch.device(device))
    if run.state is not None:
        strategy.load_state_dict(run.state["weighting"])
    elif strategy.state_dict():  # its learned state lives only in checkpoints
        raise SrmetaError(
            f"{run.run_dir}: no checkpoint (checkpoints/state_*.pt); the '{weighting.name}'"
            " weighting's state is kept only there"
        )
    return strategy


def _meta_draw(meta: MetaSet, step: int, device: str) -> Callable[[], dict[str, torch.Tensor]]:
    """The trainer's meta-batch draw for ``step`` (rank 0's), on ``device``."""

    def draw() -> dict[str, torch.Tensor]:
        return {k: v.to(device) for k, v in meta.batch(step).items()}

    return draw


def weight_maps(
    run_dir: str | os.PathLike,
    image_paths: Sequence[ImageSpec],
    *,
    data_root: str | os.PathLike | None = None,
    crop: int | None = None,
    device: str = "cpu",
) -> list[WeightMaps]:
    """The weight, reward and error maps of the run's weighting on each image.

    Each image is one batch of one: LR from the run's training degradation, SR from the
    checkpoint's raw network (kept in train mode, as the trainer has it), and a
    :class:`StepContext` at the checkpoint's step, so a meta strategy draws the meta batch
    and refreshes its meta gradient exactly as the next training step would.
    """
    paths = [resolve_image(p, data_root) for p in image_paths]
    run = load_run(run_dir, data_root, device)
    cfg, model, scale = run.cfg, run.model.train(), run.cfg.scale
    strategy = _strategy(run, device)
    optimizer = _optimizer(cfg, model, run.state)
    meta = MetaSet.from_config(cfg) if strategy.needs_meta else None
    meta_batch = None if meta is None else _meta_draw(meta, run.step, device)
    degradation = cfg.train_degradation()
    loss = PixelLoss(cfg.train.loss.kind, cfg.train.loss.eps)
    out: list[WeightMaps] = []
    for path in paths:
        hr_u8 = prepare_hr(path, scale, crop)
        lr = (degradation.apply(hr_u8, scale).float() / 255.0)[None].to(device)
        hr = (hr_u8.float() / 255.0)[None].to(device)
        with torch.no_grad():  # weights are detached by contract; rewards redo the forward
            sr = model(lr)
        ctx = StepContext(
            run.step, lr, hr, model, optimizer, meta_batch, loss, sr=sr, loss_map=loss(sr, hr)
        )
        seen = strategy.inspect(ctx)  # each image from the checkpoint's meta gradient
        weights, reward = seen.weights, seen.reward
        error = (sr.float() - hr).abs().mean(1)
        out.append(
            WeightMaps(
                path.stem,
                hr[0].cpu(),
                weights[0].float().cpu(),
                None if reward is None else reward[0].float().cpu(),
                error[0].cpu(),
            )
        )
    return out


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """0-based ranks of the flattened values; ties share their average rank."""
    flat = x.reshape(-1).double()
    order = torch.argsort(flat)
    _, inverse, counts = torch.unique_consecutive(
        flat[order], return_inverse=True, return_counts=True
    )
    ends = torch.cumsum(counts, 0)
    average = (ends - counts + ends - 1).double() / 2.0
    ranks = torch.empty_like(flat)
    ranks[order] = average[inverse]
    return ranks


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman's rank correlation (Pearson on tie-averaged ranks); NaN if one is constant."""
    if x.numel() != y.numel():
        raise ValueError(f"spearman: sizes differ, {x.numel()} vs {y.numel()}")
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = torch.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else math.nan


def structure_map(hr: torch.Tensor) -> torch.Tensor:
    """``H x W`` Sobel gradient magnitude of the luma of a ``3 x H x W`` image in [0, 1]."""
    y = rgb_to_y255(hr.double())[None] / 255.0
    dx, dy = sobel_xy(y)
    return torch.sqrt(dx * dx + dy * dy)[0, 0]


def weight_share_on_structure(
    weights: torch.Tensor, structure: torch.Tensor, fraction: float = 0.2
) -> float:
    """Share of the total weight on the ``fraction`` of pixels with the most structure.

    Uniform weights give ``fraction`` (0.2): a larger share means the weighting puts more
    than their pixel count's worth of weight on edges and texture.
    """
    count = max(1, round(fraction * structure.numel()))
    top = torch.argsort(structure.reshape(-1), descending=True, stable=True)[:count]
    w = weights.reshape(-1).double()
    return float(w[top].sum() / w.sum())


def weight_statistics(maps: Sequence[WeightMaps]) -> list[dict[str, Any]]:
    """Per image: weight mean/std/min/max, the weight share on the 20% most structured
    pixels, and rank correlations of the weight map with the error, the HR structure (Sobel
    magnitude of luma) and, for meta strategies, the reward.

    A weighting that only re-discovers "weigh hard pixels" correlates with the error; one
    that concentrates on edges and texture correlates with structure. NaN marks a constant
    map (uniform weights), where no correlation exists.
    """
    rows = []
    for m in maps:
        w = m.weights.double()
        structure = structure_map(m.hr)
        rows.append(
            {
                "image": m.name,
                "weight_mean": float(w.mean()),
                "weight_std": float(w.std(unbiased=False)),
                "weight_min": float(w.min()),
                "weight_max": float(w.max()),
                "spearman_weight_error": spearman(w, m.error),
                "spearman_weight_structure": spearman(w, structure),
                "weight_share_top20_structure": weight_share_on_structure(w, structure),
                "spearman_weight_reward": None if m.reward is None else spearman(w, m.reward),
            }
        )
    return rows


def new_figure(**options: Any):
    """A matplotlib ``Figure`` on the Agg canvas, without pyplot (so no GUI backend and no
    global state is touched, even inside a notebook)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SrmetaError("figures need matplotlib: install srmeta[report]") from None
    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def write_png(figure: Any, path: str | os.PathLike, force: bool = False, dpi: int = 120) -> None:
    """Save ``figure`` as a PNG atomically; an existing file only with ``force``."""
    with atomic_open(path, force) as handle:
        figure.savefig(handle, format="png", dpi=dpi)


def save_weight_figure(
    maps: Sequence[WeightMaps],
    path: str | os.PathLike,
    force: bool = False,
    title: str | None = None,
) -> None:
    """One row per image: HR | weight map | reward map | error map, each titled, the maps
    with colour bars (the reward on a diverging scale centred at 0)."""
    if not maps:
        raise SrmetaError("no weight maps to draw")
    check_writable(path, force)  # refuse before drawing
    h, w = maps[0].weights.shape
    panel = 3.2
    figure = new_figure(
        figsize=(4 * panel + 1.5, len(maps) * panel * h / w + 0.6), layout="constrained"
    )
    axes = figure.subplots(len(maps), 4, squeeze=False)
    for row, m in zip(axes, maps, strict=True):
        row[0].imshow(m.hr.permute(1, 2, 0).clamp(0, 1).numpy())
        row[0].set_title(f"{m.name}: HR")
        bound = (float(m.reward.abs().max()) if m.reward is not None else 0.0) or 1.0
        panels = [
            ("weight", m.weights, "viridis", (None, None)),
            ("reward", m.reward, "RdBu_r", (-bound, bound)),
            ("error |SR-HR|", m.error, "magma", (None, None)),
        ]
        for ax, (label, data, cmap, (vmin, vmax)) in zip(row[1:], panels, strict=True):
            ax.set_axis_off()
            if data is None:
                ax.set_title(f"{label}: none")
                ax.text(
                    0.5,
                    0.5,
                    "not a meta-learned\nweighting",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                )
                continue
            image = ax.imshow(data.numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(label)
            figure.colorbar(image, ax=ax, shrink=0.85)
        row[0].set_axis_off()
    if title:
        figure.suptitle(title)
    write_png(figure, path, force)
