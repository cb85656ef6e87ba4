"""Where in frequency an SR model's error lives: mean error power per radial band.

PSNR is one number; it cannot tell whether a weighting that helps puts its gain in the
textures (high frequencies) or in smooth shading (low ones). This splits the error's
energy over frequency.

Definition used by :func:`band_errors`, for ``e = SR - HR`` (``C x H x W``):

- ``E_c = FFT2(e_c)`` per channel, orthonormal (so ``sum |E_c|^2 = sum e_c^2``, Parseval);
- each frequency gets a radius ``r = sqrt((2 f_y)^2 + (2 f_x)^2)`` with ``f`` in cycles per
  pixel (numpy's ``fftfreq``), so the Nyquist frequency along either axis is ``r = 1``;
- ``bands`` equal-width bands ``[k/bands, (k+1)/bands)`` over ``[0, 1]``; the diagonal
  corners with ``r > 1`` (and ``r = 1`` itself) join the last band;
- a band's value is the *mean* power ``|E_c|^2`` over its frequencies, then the mean over
  channels. The mean (not the sum) makes bands of different sizes and images of different
  sizes comparable: white noise of variance ``s^2`` gives ``s^2`` in every band.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import torch

from srmeta.atomic import check_writable
from srmeta.errors import SrmetaError
from srmeta.models.bicubic import Bicubic
from srmeta.report.weight_maps import (
    ImageSpec,
    load_run,
    new_figure,
    prepare_hr,
    resolve_image,
    run_names,
    write_png,
)


def band_index(height: int, width: int, bands: int) -> torch.Tensor:
    """``H x W`` band number of every FFT frequency (in ``torch.fft.fft2`` layout)."""
    if bands < 1:
        raise ValueError(f"bands must be >= 1, got {bands}")
    fy = torch.fft.fftfreq(height, dtype=torch.float64) * 2.0
    fx = torch.fft.fftfreq(width, dtype=torch.float64) * 2.0
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return torch.floor(radius * bands).long().clamp_max(bands - 1)


def band_counts(height: int, width: int, bands: int = 8) -> list[int]:
    """How many frequencies fall in each band of an ``H x W`` image."""
    return torch.bincount(band_index(height, width, bands).reshape(-1), minlength=bands).tolist()


def band_errors(sr: torch.Tensor, hr: torch.Tensor, bands: int = 8) -> list[float]:
    """Mean error power per radial frequency band (see the module docstring).

    ``sr`` and ``hr`` are ``C x H x W`` or ``H x W``, same shape, same value scale. A band
    with no frequencies (only for images a few pixels wide) is NaN.
    """
    if sr.shape != hr.shape:
        raise ValueError(f"band_errors: shapes differ, {tuple(sr.shape)} vs {tuple(hr.shape)}")
    error = sr.double() - hr.double()
    if error.dim() == 2:
        error = error[None]
    if error.dim() != 3:
        raise ValueError(f"band_errors: expected C x H x W or H x W, got {tuple(sr.shape)}")
    power = torch.fft.fft2(error, norm="ortho").abs().square().mean(0)
    index = band_index(power.shape[0], power.shape[1], bands).reshape(-1)
    energy = torch.zeros(bands, dtype=torch.float64).index_add_(0, index, power.reshape(-1))
    counts = torch.bincount(index, minlength=bands).double()
    means = torch.where(counts > 0, energy / counts.clamp_min(1), torch.nan)
    return means.tolist()


def band_labels(bands: int) -> list[str]:
    """``0.00-0.12`` ... ``0.88-1+``: the radial range of each band (Nyquist = 1)."""
    labels = [f"{k / bands:.2f}-{(k + 1) / bands:.2f}" for k in range(bands)]
    labels[-1] += "+"
    return labels


def _check_results(named_results: Mapping[str, Sequence[float]]) -> int:
    lengths = {len(values) for values in named_results.values()}
    if len(lengths) != 1 or not named_results:
        raise SrmetaError("band results must be non-empty and have equal numbers of bands")
    return lengths.pop()


def band_table(named_results: Mapping[str, Sequence[float]]) -> str:
    """A Markdown table: one row per model, one column per band, mean error power."""
    bands = _check_results(named_results)
    header = "| model | " + " | ".join(f"|f| {label}" for label in band_labels(bands)) + " |"
    lines = [header, "|---|" + "---:|" * bands]
    for name, values in named_results.items():
        cells = " | ".join("n/a" if math.isnan(v) else f"{v:.3e}" for v in values)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"


def save_band_figure(
    named_results: Mapping[str, Sequence[float]], path: str | os.PathLike, force: bool = False
) -> None:
    """A log-scale line per model: mean error power against band centre, as a PNG."""
    bands = _check_results(named_results)
    check_writable(path, force)
    figure = new_figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    centres = [(k + 0.5) / bands for k in range(bands)]
    for name, values in named_results.items():
        ax.plot(centres, list(values), marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("radial frequency |f| (Nyquist = 1), band centre")
    ax.set_ylabel("mean error power per frequency")
    ax.set_title("SR error by frequency band")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    write_png(figure, path, force)


def compare_runs_bands(
    run_dirs: Sequence[str | os.PathLike],
    image_paths: Sequence[ImageSpec],
    data_root: str | os.PathLike | None = None,
    crop: int | None = None,
    bands: int = 8,
    device: str = "cpu",
) -> dict[str, list[float]]:
    """Band errors of each run's shipped model (what ``srmeta eval`` scores), averaged over
    the images, plus ``"bicubic"`` on the same LR; keys are the runs' folder names.

    Every run must share scale and training degradation, so all models see one LR image and
    the bands compare like with like. SR is clamped to [0, 1], as evaluation does.
    """
    if not run_dirs:
        raise SrmetaError("give at least one run")
    paths = [resolve_image(p, data_root) for p in image_paths]
    if not paths:
        raise SrmetaError("give at least one image")
    runs = [load_run(r, data_root, device, raw=False) for r in run_dirs]
    first = runs[0].cfg
    for run in runs[1:]:
        if run.cfg.scale != first.scale or run.cfg.train_degradation() != first.train_degradation():
            raise SrmetaError(
                f"{run.run_dir} and {runs[0].run_dir} differ in scale or training degradation;"
                " compare runs of one setting"
            )
    scale, degradation = first.scale, first.train_degradation()
    models = dict(zip(run_names(run_dirs), (r.model.eval() for r in runs), strict=True))
    models["bicubic"] = Bicubic(scale)
    totals = {name: torch.zeros(bands, dtype=torch.float64) for name in models}
    seen = {name: torch.zeros(bands, dtype=torch.float64) for name in models}
    for path in paths:
        hr_u8 = prepare_hr(path, scale, crop)
        lr = (degradation.apply(hr_u8, scale).float() / 255.0)[None].to(device)
        hr = hr_u8.double() / 255.0
        for name, model in models.items():
            with torch.no_grad():
                sr = model(lr)[0].clamp(0, 1).cpu()
            values = torch.tensor(band_errors(sr, hr, bands), dtype=torch.float64)
            known = ~values.isnan()
            totals[name][known] += values[known]
            seen[name] += known.double()
    return {
        name: torch.where(
            seen[name] > 0, totals[name] / seen[name].clamp_min(1), torch.nan
        ).tolist()
        for name in models
    }
