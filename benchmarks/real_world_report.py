"""The real-world benchmark's docs section and issue 25's target check, from its JSON
payload (``real_world.py`` measures; this renders)."""

from __future__ import annotations

from artifact_measures import FLAT_STD, FLAT_WINDOW, HF_SIGMA, HF_SIZE

REFERENCE = "bicubic"
TARGET_DB = 0.8  # issue 25's margin over bicubic and srmeta-fast


def cell_key(model: str, degradation: str, dataset: str) -> str:
    return f"{model} | {degradation} | {dataset}"


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


def fmt(value: float | None, digits: int = 2) -> str:
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
        hf.append(fmt(value) + times)
        blocks.append(fmt(mine["blockiness"]))
        if model != REFERENCE:
            passes.append(value is not None and base is not None and value <= base)
    verdict = "" if model == REFERENCE else ("✓" if passes and all(passes) else "✗")
    return f"| `{deg}` | {model} | " + " | ".join(hf + blocks) + f" | {verdict} |"


def _truth_row(payload: dict) -> str:
    """The HR's own values under its mask: the same under every degradation, so one row."""
    hf, blocks = [], []
    for data in payload["datasets"]:
        cell = next((c for c in payload["cells"].values() if c["dataset"] == data), None)
        hf.append(fmt(cell and cell["gt_flat_hf"]))
        blocks.append(fmt(cell and cell["gt_blockiness"]))
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
