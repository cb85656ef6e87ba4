"""How models do on realistically degraded inputs: PSNR / SSIM and two artifact measures.

The bundled models are trained on clean MATLAB-bicubic LR; on noisy, JPEG-compressed inputs
they score below bicubic and sharpen the JPEG block grid. This benchmark is the yardstick for
a blind model family (srmeta-real-xS, issue 25): its target is at least +0.8 dB over bicubic
and over srmeta-fast on Set5 / Set14 / BSD100 under several degradations, with no visible
block grid (flat-region high-frequency energy no higher than bicubic's).

Degradations (:data:`DEGRADATIONS`, srmeta's own strings, README "Degradations"): noise +
JPEG, blur + noise + JPEG, anisotropic blur + noise, JPEG alone, and one draw of the
``realistic`` second-order chain. Each is scored with :func:`srmeta.evaluation.evaluate`
under the ``rgb`` protocol (PSNR / SSIM on float BT.601 Y, border = scale), so the numbers
are those ``srmeta eval --degradation ...`` prints.

Models: ``bicubic``, ``srmeta-fast-xS``, ``srmeta-xS`` and every ``--model NAME=PATH`` (a
weights file or a training run folder). Images of any model's meta-dataset are left out for
every model, so all rows score the same images.

Artifact measures, from each image's ground truth and SR output as scored (uint8, the
protocol's border of S pixels cropped, Y = BT.601 luma on 0..255 in float64; filters pad by
mirroring without repeating the edge pixel, numpy's ``reflect``):

* *flat mask*: HR pixels whose HR Y has a population standard deviation below
  :data:`FLAT_STD` = 2 gray levels in the :data:`FLAT_WINDOW` = 7 x 7 window around them.
  Flat in the truth, so any texture the SR puts there is an artifact (noise left in, ringing,
  block edges). About 15% of the pixels of these sets are flat.
* *flat-region HF energy*: HF = SR Y minus its 5 x 5 Gaussian blur (sigma 1, taps normalised
  to sum 1); energy = mean of HF^2 over the flat pixels, pooled over a dataset's images (sum
  of HF^2 over all flat pixels / their count, so an image with a handful of flat pixels does
  not weigh as much as one with a sky). A model *passes* on a cell when its energy is at most
  bicubic's on the same inputs.
* *blockiness*: the LR's JPEG blocks are 8 x 8 LR pixels from the LR's corner, so their
  edges fall between HR columns (rows) ``8S*k - 1`` and ``8S*k``. Blockiness = mean |Y
  difference| of horizontally and vertically adjacent SR pixels that straddle such an edge
  divided by the mean over the other pairs of the same phase, those straddling the edge
  between two LR pixels' footprints (``S*k - 1 | S*k``) but no block edge; both pixels of a
  pair flat; pooled over the dataset like the energy. The same phase, not all other pairs,
  because every upscaler has a period-S structure: bicubic's steepest slope is midway
  between LR samples, so against all pairs clean bicubic LR upscaled by bicubic scores 1.5
  on Set14 x4, against the same phase 1.06. A model that sharpens the blocks is above
  bicubic. Only the final JPEG of ``realistic`` is on that grid. Many HR photos were JPEGs
  themselves, and their own 8-pixel grid holds the LR's 8S one, so the ground truth is a
  little above 1 (1.09 to 1.28 on these sets at x4).

The ground truth's own values under its mask (``gt_flat_hf``, ``gt_blockiness``) are recorded:
what a perfect output scores.

    python benchmarks/real_world.py --data-root ../shared/data       # x4, ~5 min, 1 core
    python benchmarks/real_world.py --model srmeta-real-x4=runs/real_x4 --resume
    python benchmarks/real_world.py --quick                           # Set5, one degradation
    python benchmarks/real_world.py --datasets DIR --model a=runs/a --results sel.json

Writes benchmarks/results/real_world.json (x2, x3: real_world_x2.json, ...) after every
finished cell; ``--resume`` keeps the cells of a previous run whose model weights, scale and
degradation are unchanged. Then the "real-world" (``-x2``, ...) section of docs/results.md.
``--quick`` writes to a temporary file unless ``--results`` is given, and leaves the docs
alone unless ``--docs``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import update_section

REPO = Path(__file__).resolve().parents[1]
DEGRADATIONS = (
    "down:bicubic noise:6 jpeg:30 seed:1",
    "blur:iso:1.5 down:bicubic noise:4 jpeg:50 seed:2",
    "blur:aniso:2.5,1.0,30 down:bicubic noise:10 seed:3",
    "down:bicubic jpeg:20 seed:4",
    "realistic seed:11",
)
DATASETS, QUICK_DATASETS = ("Set5", "Set14", "BSD100"), ("Set5",)
REFERENCE = "bicubic"
FLAT_WINDOW = 7
FLAT_STD = 2.0
HF_SIZE = 5
HF_SIGMA = 1.0
JPEG_BLOCK = 8
TARGET_DB = 0.8  # issue 25's margin over bicubic and srmeta-fast


# --- the artifact measures -------------------------------------------------------------


def filter_separable(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``image`` (H x W, float64) filtered by ``taps`` along both axes (odd length), mirror
    padded without edge repeat, same size out."""
    half = len(taps) // 2
    padded = np.pad(image, half, mode="reflect")
    height, width = image.shape
    rows = sum(t * padded[:, k : k + width] for k, t in enumerate(taps))
    return sum(t * rows[k : k + height, :] for k, t in enumerate(taps))


def gaussian_taps(size: int = HF_SIZE, sigma: float = HF_SIGMA) -> np.ndarray:
    """1-D Gaussian taps summing to 1; their outer product is the normalised 2-D kernel."""
    x = np.arange(size, dtype=np.float64) - size // 2
    taps = np.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()


def flat_mask(hr_y: np.ndarray, window: int = FLAT_WINDOW, limit: float = FLAT_STD) -> np.ndarray:
    """Pixels whose ``window`` x ``window`` neighbourhood of ``hr_y`` has a population
    standard deviation below ``limit`` (gray levels)."""
    box = np.full(window, 1.0 / window)
    mean = filter_separable(hr_y, box)
    variance = np.maximum(filter_separable(hr_y * hr_y, box) - mean * mean, 0.0)
    return variance < limit * limit


def high_pass(y: np.ndarray) -> np.ndarray:
    """``y`` minus its 5 x 5 Gaussian blur (sigma 1): the detail a sharpening model adds."""
    return y - filter_separable(y, gaussian_taps())


def flat_hf_sums(sr_y: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(sum of HF^2 over the mask, mask pixels): pooled over images before dividing."""
    hf = high_pass(sr_y)
    return float(np.sum(hf[mask] ** 2)), int(mask.sum())


def block_edges(length: int, scale: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """For the ``length - 1`` differences ``y[i + 1] - y[i]`` of a cropped line (``offset``
    pixels were cropped before index 0): whether the pair straddles an LR JPEG block edge
    (uncropped index ``8 * scale * k``), and whether it straddles only an LR pixel edge
    (``scale * k``, not a block edge): the pairs of the same phase to compare with."""
    index = np.arange(1, length) + offset
    edge = index % (JPEG_BLOCK * scale) == 0
    return edge, (index % scale == 0) & ~edge


def blockiness_sums(
    sr_y: np.ndarray, mask: np.ndarray, scale: int, offset: int
) -> tuple[float, int, float, int]:
    """(sum |difference| across block edges, their count, the same for the same-phase pairs
    off the block edges, count), over horizontal and vertical neighbour pairs whose two
    pixels are both in ``mask``."""
    sums = [0.0, 0, 0.0, 0]
    for axis in (0, 1):
        diff = np.abs(np.diff(sr_y, axis=axis))
        both = mask[1:, :] & mask[:-1, :] if axis == 0 else mask[:, 1:] & mask[:, :-1]
        for i, line in zip((0, 2), block_edges(sr_y.shape[axis], scale, offset), strict=True):
            where = both & (line[:, None] if axis == 0 else line[None, :])
            sums[i] += float(diff[where].sum())
            sums[i + 1] += int(where.sum())
    return sums[0], sums[1], sums[2], sums[3]


def blockiness(sr_y: np.ndarray, mask: np.ndarray, scale: int, offset: int) -> float:
    """Mean |difference| across block edges over that at the same phase elsewhere (NaN
    without both)."""
    return ratio_of_means(*blockiness_sums(sr_y, mask, scale, offset))


def ratio_of_means(edge_sum: float, edges: int, other_sum: float, others: int) -> float:
    if edges == 0 or others == 0 or other_sum == 0:
        return math.nan
    return (edge_sum / edges) / (other_sum / others)


@dataclass(frozen=True)
class Artifacts:
    """One image's sums, kept so a dataset pools them (see the module docstring)."""

    flat_pixels: int
    hf_sum: float
    edge_sum: float
    edges: int
    other_sum: float
    others: int

    def __add__(self, other: Artifacts) -> Artifacts:
        return Artifacts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def flat_hf(self) -> float:
        return self.hf_sum / self.flat_pixels if self.flat_pixels else math.nan

    @property
    def blockiness(self) -> float:
        return ratio_of_means(self.edge_sum, self.edges, self.other_sum, self.others)


NONE = Artifacts(0, 0.0, 0.0, 0, 0.0, 0)


def image_y(image: torch.Tensor, border: int) -> np.ndarray:
    """The Y the metrics see: uint8 (a float SR in [0, 1] quantised), border cropped."""
    from srmeta.metrics import crop_border, luma
    from srmeta.pixels import quantize

    if image.dtype != torch.uint8:
        image = quantize(image)
    return luma(crop_border(image, border))[0].numpy()


def artifacts_of(y: np.ndarray, mask: np.ndarray, scale: int, border: int) -> Artifacts:
    hf_sum, flat = flat_hf_sums(y, mask)
    return Artifacts(flat, hf_sum, *blockiness_sums(y, mask, scale, border))


# --- scoring ---------------------------------------------------------------------------


def score_cell(
    model: str,
    degradation: str,
    dataset: str,
    scale: int,
    args: argparse.Namespace,
    exclude: list[str],
) -> dict:
    """One model on one dataset under one degradation: protocol scores and artifacts."""
    from srmeta.evaluation import ImageScore, evaluate
    from srmeta.protocol import RGB

    per_image: dict[str, dict] = {}
    total = truth = NONE
    border = RGB.border(scale)

    def hook(row: ImageScore, hr: torch.Tensor, sr: torch.Tensor) -> None:
        nonlocal total, truth
        hr_y, sr_y = image_y(hr, border), image_y(sr, border)
        mask = flat_mask(hr_y)
        mine = artifacts_of(sr_y, mask, scale, border)
        total, truth = total + mine, truth + artifacts_of(hr_y, mask, scale, border)
        values = {
            "psnr": row.psnr,
            "ssim": row.ssim,
            "flat_hf": _finite(mine.flat_hf),
            "blockiness": _finite(mine.blockiness),
            "flat_fraction": mine.flat_pixels / hr_y.size,
        }  # 5 decimals: far below any difference that counts, and a third of the file
        per_image[row.image] = {k: v if v is None else round(v, 5) for k, v in values.items()}

    report = evaluate(
        model,
        [dataset],
        [scale],
        degradation=degradation,
        data_root=args.data_root,
        device=args.device,
        exclude=exclude,
        skip_meta=True,
        on_image=hook,
    )
    (summary,) = report.summary()
    return {
        "model": model,
        "degradation": degradation,
        "dataset": dataset,
        "scored_as": summary.dataset,  # BSD100-98 when meta-dataset images were left out
        "images": summary.images,
        "psnr": summary.psnr,
        "ssim": summary.ssim,
        "flat_hf": _finite(total.flat_hf),
        "blockiness": _finite(total.blockiness),
        "flat_pixels": total.flat_pixels,
        "gt_flat_hf": _finite(truth.flat_hf),
        "gt_blockiness": _finite(truth.blockiness),
        "per_image": per_image,
    }


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined measure (no flat pixel) is null."""
    return None if math.isnan(value) else value


def parse_models(scale: int, extra: list[str], quick: bool = False) -> dict[str, str]:
    """Row name -> what :func:`evaluate` loads: the reference, the bundled models this
    installation ships at ``scale`` (clean families first; only srmeta-fast when ``quick``,
    a smoke run of the ``NAME=PATH`` models), then those entries in order."""
    from srmeta.models.bundled import shipped_models

    models = {REFERENCE: REFERENCE}
    for family, s in shipped_models():
        if s == scale and (family == "srmeta-fast" or not quick):
            models[f"{family}-x{scale}"] = f"{family}-x{scale}"
    for entry in extra:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--model takes NAME=PATH, not {entry!r}")
        if name in models:  # a second row of one name would overwrite the first's cells
            raise SystemExit(f"--model {name}: that name is taken; choose another")
        if not Path(path).exists():
            raise SystemExit(f"--model {name}: {path} does not exist")
        models[name] = str(Path(path).resolve())
    return models


def model_digest(model: str, scale: int) -> str:
    """What a cell's numbers depend on besides the inputs: the weights (bicubic: none)."""
    if model == REFERENCE:
        return REFERENCE
    from srmeta.models.bundled import resolve_model_name
    from srmeta.models.files import weights_digest

    return weights_digest(resolve_model_name(model, scale))


def excluded_images(models: dict[str, str], scale: int) -> list[str]:
    """Every model's meta-dataset images: left out for all, so rows compare alike."""
    from srmeta.models.bundled import resolve_model_name
    from srmeta.models.files import meta_images_of

    return sorted(
        {
            n
            for m in models.values()
            if m != REFERENCE
            for n in meta_images_of(resolve_model_name(m, scale))
        }
    )


def code_commit() -> str:
    """``git rev-parse HEAD``, marked when tracked files under src/ or benchmarks/ differ."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "src", "benchmarks")
    return git("rev-parse", "HEAD") + (" (with uncommitted changes)" if dirty else "")


def environment(threads: int, device: str) -> dict[str, str]:
    import srmeta

    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": str(threads),
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "srmeta": getattr(srmeta, "__version__", "unknown"),
    }


def compact_json(payload: dict) -> str:
    """Indented JSON with every innermost object (an image's numbers, the environment) on
    one line: 1500 per-image rows stay readable and diffable without a line per number."""
    text = json.dumps(payload, indent=1)
    one_line = lambda m: "{" + " ".join(m.group()[1:-1].split()) + "}"  # noqa: E731
    return re.sub(r"\{[^{}\[\]]*\}", one_line, text) + "\n"


def cell_key(model: str, degradation: str, dataset: str) -> str:
    return f"{model} | {degradation} | {dataset}"


def kept_cells(old: dict, scale: int, digests: dict[str, str], exclude: list[str]) -> dict:
    """The cells of a previous run still valid: same scale and excluded images, and the
    model's weights unchanged."""
    if old.get("scale") != scale or old.get("excluded") != exclude:
        return {}
    return {
        key: cell
        for key, cell in old.get("cells", {}).items()
        if digests.get(cell["model"]) is not None and cell.get("digest") == digests[cell["model"]]
    }


# --- the report ------------------------------------------------------------------------


def markdown(payload: dict) -> str:
    """The docs section: what was run, the PSNR table, the artifact table, the target."""
    cells, scale = payload["cells"], payload["scale"]
    models, degradations, datasets = payload["models"], payload["degradations"], payload["datasets"]

    def cell(model: str, deg: str, data: str) -> dict | None:
        return cells.get(cell_key(model, deg, data))

    env = payload["environment"]
    lines = [
        f"## Realistically degraded inputs (x{scale})",
        "",
        f"`benchmarks/real_world.py`, cells measured at commit {_commits(cells)}:"
        f" {env['machine']}, {env['threads']} thread(s), torch {env['torch']}. Protocol `rgb`"
        f" (PSNR / SSIM on float Y, border {scale}) on LR made by each degradation string"
        " (`srmeta eval --degradation`). The target of the blind models (issue 25): at least"
        f" +{TARGET_DB} dB over bicubic and over srmeta-fast, and flat-region HF energy no"
        " higher than bicubic's.",
        "",
        "PSNR (dB), Δ to bicubic on the same inputs; mean Δ: over the datasets:",
        "",
        "| degradation | model | " + " | ".join(datasets) + " | mean Δ |",
        "|---|---|" + "---|" * (len(datasets) + 1),
    ]
    for deg in degradations:
        for model in models:
            row, deltas = [], []
            for data in datasets:
                mine, ref = cell(model, deg, data), cell(REFERENCE, deg, data)
                if mine is None:
                    row.append("–")
                    continue
                if model == REFERENCE or ref is None:
                    row.append(f"{mine['psnr']:.2f}")
                    continue
                deltas.append(mine["psnr"] - ref["psnr"])
                row.append(f"{mine['psnr']:.2f} ({deltas[-1]:+.2f})")
            mean = f"{sum(deltas) / len(deltas):+.2f}" if deltas else "–"
            lines.append(f"| `{deg}` | {model} | " + " | ".join(row) + f" | {mean} |")
    lines += [
        "",
        "Artifacts: flat-region HF energy (gray levels², × bicubic's) and blockiness (mean"
        " |step| across the LR's 8-pixel JPEG grid over that across the other LR pixel"
        " edges, in flat regions; 1: no grid). ✓: energy ≤ bicubic's on every dataset.",
        "",
        "| degradation | model | "
        + " | ".join(f"HF {d}" for d in datasets)
        + " | "
        + " | ".join(f"blocks {d}" for d in datasets)
        + " | ≤ bicubic |",
        "|---|---|" + "---|" * (2 * len(datasets) + 1),
    ]
    for deg in degradations:
        lines += [_artifact_row(payload, model, deg) for model in models]
    lines.append(_truth_row(payload))
    lines += ["", *_target_lines(payload), "", *_definitions(scale)]
    return "\n".join(lines)


def _commits(cells: dict) -> str:
    """The commits that measured the cells (several after a ``--resume`` across commits)."""
    found = dict.fromkeys(cell["commit"] for cell in cells.values())
    return ", ".join(f"`{c[:10]}`{c[40:]}" for c in found) or "–"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _delta(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _artifact_row(payload: dict, model: str, deg: str) -> str:
    hf, blocks, passes = [], [], []
    for data in payload["datasets"]:
        ref = payload["cells"].get(cell_key(REFERENCE, deg, data))
        mine = payload["cells"].get(cell_key(model, deg, data))
        if mine is None:
            hf.append("–")
            blocks.append("–")
            continue
        value, base = mine["flat_hf"], ref and ref["flat_hf"]
        times = (
            f" ({value / base:.2f}×)" if value is not None and base and model != REFERENCE else ""
        )
        hf.append(_fmt(value) + times)
        blocks.append(_fmt(mine["blockiness"]))
        if model != REFERENCE:
            passes.append(value is not None and base is not None and value <= base)
    verdict = "" if model == REFERENCE else ("✓" if passes and all(passes) else "✗")
    return f"| `{deg}` | {model} | " + " | ".join(hf + blocks) + f" | {verdict} |"


def _truth_row(payload: dict) -> str:
    """The HR's own values under its mask: the same under every degradation, so one row."""
    hf, blocks = [], []
    for data in payload["datasets"]:
        cell = next((c for c in payload["cells"].values() if c["dataset"] == data), None)
        hf.append(_fmt(cell and cell["gt_flat_hf"]))
        blocks.append(_fmt(cell and cell["gt_blockiness"]))
    return "| (any) | *ground truth* | " + " | ".join(hf + blocks) + " |  |"


def target_check(payload: dict, model: str) -> dict[str, float | int | None]:
    """Issue 25's numbers for one model over every (degradation, dataset) cell: the worst
    and mean Δ PSNR against bicubic and srmeta-fast, and how many cells keep flat regions
    as clean as bicubic."""
    fast = f"srmeta-fast-x{payload['scale']}"
    out: dict[str, float | int | None] = {}
    for ref, label in ((REFERENCE, "bicubic"), (fast, "fast")):
        deltas = [
            mine["psnr"] - other["psnr"]
            for deg in payload["degradations"]
            for data in payload["datasets"]
            if (mine := payload["cells"].get(cell_key(model, deg, data)))
            and (other := payload["cells"].get(cell_key(ref, deg, data)))
        ]
        out[f"min_vs_{label}"] = min(deltas) if deltas else None
        out[f"mean_vs_{label}"] = sum(deltas) / len(deltas) if deltas else None
    clean = [
        mine["flat_hf"] <= ref["flat_hf"]
        for deg in payload["degradations"]
        for data in payload["datasets"]
        if (mine := payload["cells"].get(cell_key(model, deg, data)))
        and (ref := payload["cells"].get(cell_key(REFERENCE, deg, data)))
        and mine["flat_hf"] is not None
        and ref["flat_hf"] is not None
    ]
    out["flat_clean"], out["cells"] = sum(clean), len(clean)
    return out


def _target_lines(payload: dict) -> list[str]:
    fast = f"srmeta-fast-x{payload['scale']}"
    lines = [
        f"Target check over all {len(payload['degradations']) * len(payload['datasets'])}"
        " (degradation, dataset) cells: Δ PSNR worst / mean, cells with flat-region HF energy"
        " ≤ bicubic's:",
        "",
        f"| model | Δ bicubic | Δ {fast} | flat HF ≤ bicubic | meets the target |",
        "|---|---|---|---|---|",
    ]
    for model in payload["models"]:
        if model == REFERENCE:
            continue
        c = target_check(payload, model)
        vs_fast = (
            "–" if model == fast else f"{_delta(c['min_vs_fast'])} / {_delta(c['mean_vs_fast'])}"
        )
        met = (
            model != fast
            and c["min_vs_bicubic"] is not None
            and c["min_vs_fast"] is not None
            and min(c["min_vs_bicubic"], c["min_vs_fast"]) >= TARGET_DB
            and c["flat_clean"] == c["cells"]
        )
        lines.append(
            f"| {model} | {_delta(c['min_vs_bicubic'])} / {_delta(c['mean_vs_bicubic'])} |"
            f" {vs_fast} | {c['flat_clean']} / {c['cells']} | {'yes' if met else 'no'} |"
        )
    return lines


def _definitions(scale: int) -> list[str]:
    return [
        f"Flat pixels: HR Y (border cropped) with standard deviation < {FLAT_STD:g} gray levels"
        f" in the {FLAT_WINDOW}×{FLAT_WINDOW} window around them; HF = SR Y minus its"
        f" {HF_SIZE}×{HF_SIZE} Gaussian blur (σ {HF_SIGMA:g}); energy = mean HF² over the flat"
        " pixels of all a dataset's images. Blockiness pools likewise. *Ground truth*: the HR's"
        " own values under the same mask, what a perfect output scores (bicubic's blur stays"
        " below its energy; its blockiness is above 1 where the HR photos were JPEGs on the"
        " same grid). Per-image numbers are in"
        f" `benchmarks/results/{payload_name(scale)}`.",
    ]


def payload_name(scale: int) -> str:
    return "real_world.json" if scale == 4 else f"real_world_x{scale}.json"


def section_name(scale: int) -> str:
    return "real-world" if scale == 4 else f"real-world-x{scale}"


# --- the command -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), default=4)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="an extra model (weights file or run folder), repeatable",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--quick", action="store_true", help="Set5, one degradation, bicubic and srmeta-fast"
    )
    parser.add_argument(
        "--datasets",
        help="comma-separated names or folders in place of Set5,Set14,BSD100 (e.g. a"
        " validation set to choose a recipe on); like --quick, writes to a temporary file"
        " unless --results is given and leaves the docs alone",
    )
    parser.add_argument("--results", type=Path, help="JSON output (default: see the docstring)")
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        help="write the docs/results.md section (default: not --quick)",
    )
    parser.add_argument("--resume", action="store_true", help="keep finished cells")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = parse_models(args.scale, args.model, quick=args.quick)
    degradations = DEGRADATIONS[:1] if args.quick else DEGRADATIONS
    datasets = QUICK_DATASETS if args.quick else DATASETS
    side_run = args.quick or args.datasets is not None  # not the benchmark's own table
    if args.datasets is not None:
        datasets = tuple(d for d in args.datasets.split(",") if d)
    default = Path(tempfile.gettempdir()) / "real_world_quick.json" if side_run else None
    results = args.results or default or REPO / "benchmarks" / "results" / payload_name(args.scale)
    digests = {name: model_digest(path, args.scale) for name, path in models.items()}
    exclude = excluded_images(models, args.scale)
    payload = {
        "commit": code_commit(),
        "environment": environment(args.threads, args.device),
        "scale": args.scale,
        "quick": args.quick,
        "protocol": "rgb",
        "models": list(models),
        "model_files": {n: p for n, p in models.items() if n != REFERENCE},
        "digests": digests,
        "degradations": list(degradations),
        "datasets": list(datasets),
        "excluded": exclude,
        "definitions": {
            "flat_window": FLAT_WINDOW,
            "flat_std": FLAT_STD,
            "hf_gaussian": [HF_SIZE, HF_SIGMA],
            "jpeg_block_lr": JPEG_BLOCK,
            "pooling": "sums over a dataset's images, then divided",
        },
        "cells": {},
    }
    if args.resume and results.is_file():
        payload["cells"] = kept_cells(json.loads(results.read_text()), args.scale, digests, exclude)
        print(f"resuming: {len(payload['cells'])} finished cells kept", flush=True)

    def save() -> None:
        results.parent.mkdir(parents=True, exist_ok=True)
        tmp = results.with_suffix(".tmp")
        tmp.write_text(compact_json(payload))
        os.replace(tmp, results)

    for deg in degradations:
        for name, model in models.items():
            for data in datasets:
                key = cell_key(name, deg, data)
                if key in payload["cells"]:
                    continue
                cell = score_cell(model, deg, data, args.scale, args, exclude)
                cell.update(model=name, digest=digests[name], commit=payload["commit"])
                payload["cells"][key] = cell
                print(
                    f"{key}: {cell['psnr']:.3f} dB, flat HF {_fmt(cell['flat_hf'], 3)},"
                    f" blockiness {_fmt(cell['blockiness'], 3)}",
                    flush=True,
                )
                save()
    order = [cell_key(m, d, s) for d in degradations for m in models for s in datasets]
    payload["cells"] = {k: payload["cells"][k] for k in order}
    save()
    text = markdown(payload)
    if args.docs if args.docs is not None else not side_run:
        update_section(section_name(args.scale), text)
    print(text)


if __name__ == "__main__":
    main()
