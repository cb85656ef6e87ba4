"""What `upscale_speed.py` writes: the Markdown section of docs/results.md, the acceptance
lines stated from the measured numbers, and the Pareto figure (Set5 PSNR against speed)."""

from __future__ import annotations

import math
from pathlib import Path

from speed_methods import BACKEND_LABELS, label, method_name, model_name, split_method

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCALE = 4  # the scale the speed targets are set at; other scales get suffixed files
SET5_FLOOR = 31.0  # srmeta-fast-x4's Set5 bar (dB)
KINDS = {  # figure colour and legend of each kind of method
    "srmeta": ("C0", "srmeta"),
    "zoo": ("C2", "official weights (--zoo)"),
    "peer": ("C1", "peers"),
}


def _cell(row: dict | None, key: str, form: str) -> str:
    if row is None:
        return "-"
    return "failed" if "error" in row else format(row[key], form)


def outputs(scale: int) -> tuple[Path, Path, str]:
    """The results file, figure and docs section of a run at ``scale``."""
    suffix = "" if scale == DEFAULT_SCALE else f"_x{scale}"
    return (
        REPO / "benchmarks" / "results" / f"upscale_speed{suffix}.json",
        REPO / "docs" / "figures" / f"upscale_pareto{suffix}.png",
        "upscale-speed" + suffix.replace("_", "-"),
    )


def scored_as(method: str) -> str:
    """The PSNR key of ``method``: a srmeta model is scored once, under torch."""
    srmeta = split_method(method)
    return f"{srmeta[0]}@torch" if srmeta else method


def markdown(payload: dict) -> str:
    """The docs section: speed table, srmeta's profile, memory, PSNR, acceptance lines."""
    env, speed, psnr = payload["environment"], payload["speed"], payload["psnr"]
    scale = payload["scale"]
    sizes = payload["sizes"]
    versions = ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("machine", "threads"))
    lines = [
        f"## Upscaling speed and quality against CPU peers (x{scale})",
        "",
        f"`benchmarks/upscale_speed.py`: {env['machine']}, {env['threads']} threads for every"
        f" method; {versions}. Input: Set14 barbara mirror-padded to N x N RGB uint8, whole"
        " image to uint8 array, fresh process per cell, warm-up first; MP/s = output"
        " megapixels / median time (3 runs, 1 at N = 1024); peak RSS = the process's"
        " high-water mark (libraries, model, input, output).",
        "",
        *(
            [
                f"The cells of {', '.join(payload['remeasured'])} were measured again, in a later"
                " window than the rest, after the model's weights changed.",
                "",
            ]
            if payload.get("remeasured")
            else []
        ),
        "| method | "
        + " | ".join(f"{n}² → {n * scale}²: MP/s | peak RSS (MiB)" for n in sizes)
        + " |",
        "|---|" + "---|---|" * len(sizes),
    ]
    for method, cells in speed.items():
        row = [
            f"{_cell(cells.get(str(n)), 'mp_per_s', '.2f')} | "
            f"{_cell(cells.get(str(n)), 'peak_rss_mib', '.0f')}"
            for n in sizes
        ]
        lines.append(f"| {label(method)} | " + " | ".join(row) + " |")
    profiled = [(m, str(n)) for m in speed for n in sizes if "profile" in speed[m].get(str(n), {})]
    if profiled:
        lines += [
            "",
            "Where srmeta's time goes (share of the timed upscale; tiles: forwards over tiles,"
            " with the passes that gather image-wide attention, which run on torch):",
            "",
            "| method | LR | tile / context / blend | tiles (batch) | network | quantise"
            " | tiling, copies |",
            "|---|---|---|---|---|---|---|",
        ]
        for method, n in profiled:
            p = speed[method][n]["profile"]
            ran_on = f", on {p['ran_on']}" if "ran_on" in p else ""
            lines.append(
                f"| {label(method)} | {n}² | {p['tile']} / {p['context']} / {p['blend']} |"
                f" {p['tiles']} ({p['batch']}{ran_on}) | {p['model']:.0%} |"
                f" {p['quantise']:.0%} | {p['other']:.0%} |"
            )
    lines += memory_table(payload)
    sets = list(dict.fromkeys(c["set"] for cells in psnr.values() for c in cells.values()))
    left_out = payload.get("excluded") or []
    note = (
        f"; every method without the srmeta models' meta images ({', '.join(left_out)})"
        if left_out
        else ""
    )
    lines += [
        "",
        f"PSNR (dB) / SSIM on Y, x{scale}, protocol `rgb`, border {scale}{note}.",
        "",
        "| method | " + " | ".join(sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for method, cells in psnr.items():
        by_set = {c["set"]: f"{c['psnr']:.2f} / {c['ssim']:.4f}" for c in cells.values()}
        row = " | ".join(by_set.get(s, "-") for s in sets)
        lines.append(f"| {method_name(method)} | {row} |")
    if payload.get("zoo"):
        names = ", ".join(model_name(m) for m in payload["zoo"])
        lines += ["", f"Official third-party weights (`--zoo`, see [zoo.md](zoo.md)): {names}."]
    if payload.get("skipped"):
        lines += [
            "",
            "Left out (export failed): "
            + "; ".join(f"{label(m)}: {why}" for m, why in payload["skipped"].items())
            + ".",
        ]
    if payload.get("figure"):
        lines += ["", f"![Set5 x{scale} PSNR against speed]({payload['figure']})"]
    return "\n".join([*lines, "", *acceptance(payload)])


def memory_table(payload: dict) -> list[str]:
    """Peak RSS against image size, split into the image arrays and everything else."""
    memory, sizes = payload.get("memory") or {}, payload.get("memory_sizes") or []
    scale = payload["scale"]
    if not memory:
        return []
    lines = [
        "",
        "Peak RSS against image size (MiB): the total, the uint8 input + output"
        " arrays, and the rest (libraries, model, tiling buffers):",
        "",
        "| method | "
        + " | ".join(f"{n}² → {n * scale}²: total / images / rest" for n in sizes)
        + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for method, cells in memory.items():
        row = []
        for n in sizes:
            cell = cells.get(str(n))
            if cell is None or "error" in cell:
                row.append(_cell(cell, "peak_rss_mib", ".0f"))
                continue
            rest = cell["peak_rss_mib"] - cell["image_mib"]
            row.append(f"{cell['peak_rss_mib']:.0f} / {cell['image_mib']:.0f} / {rest:.0f}")
        lines.append(f"| {label(method)} | " + " | ".join(row) + " |")
    return lines


def _speed(payload: dict, method: str) -> dict:
    return payload["speed"].get(method, {}).get(str(payload["sizes"][-1]), {})


def is_ours(payload: dict, method: str) -> bool:
    """Whether ``method`` runs a srmeta model other than a ``--zoo`` file."""
    srmeta = split_method(method)
    return srmeta is not None and srmeta[0] not in payload.get("zoo", [])


def acceptance(payload: dict) -> list[str]:
    """The fast model's acceptance checks (issue: real-time CPU upscaling), stated plainly;
    the ``--zoo`` files are measured beside it, not held to them."""
    psnr, out = payload["psnr"], []
    for method in psnr:
        srmeta = split_method(method)
        if srmeta is None or not is_ours(payload, method):
            continue
        ours = psnr[method]
        margins = [
            (ours[d]["psnr"] - psnr[p][d]["psnr"], d, p)
            for p in ("opencv-fsrcnn", "opencv-espcn")
            for d in ours
            if d in psnr.get(p, {})
        ]
        if margins:
            worst = min(margins)
            out.append(
                f"- {srmeta[0]} beats OpenCV FSRCNN and ESPCN on every set:"
                f" {'yes' if worst[0] > 0 else 'no'} (smallest margin {worst[0]:+.2f} dB,"
                f" {worst[1]}, vs {label(worst[2])})."
            )
        if "Set5" in ours and payload["scale"] == 4:  # the floor is set for x4
            set5 = ours["Set5"]["psnr"]
            verdict = "meets" if set5 >= SET5_FLOOR else "misses"
            out.append(f"- {srmeta[0]}: Set5 {set5:.2f} dB, {verdict} {SET5_FLOOR} dB.")
    big = payload["sizes"][-1]
    theirs = _speed(payload, "opencv-fsrcnn").get("mp_per_s")
    for method in payload["speed"]:
        if not is_ours(payload, method):
            continue
        mine = _speed(payload, method)
        if "mp_per_s" in mine:
            ratio = f", {mine['mp_per_s'] / theirs:.2f} x OpenCV FSRCNN" if theirs else ""
            out.append(f"- {label(method)} at {big}²: {mine['mp_per_s']:.2f} MP/s{ratio}.")
        if "peak_rss_mib" in mine:
            out.append(
                f"- {label(method)}, {big * payload['scale']}² output: peak RSS"
                f" {mine['peak_rss_mib']:.0f} MiB."
            )
    for method, cells in (payload.get("memory") or {}).items():
        if not is_ours(payload, method):
            continue
        rows = sorted((int(n), c) for n, c in cells.items() if "peak_rss_mib" in c)
        if len(rows) >= 2:
            rest = [c["peak_rss_mib"] - c["image_mib"] for _, c in rows]
            images = [c["image_mib"] for _, c in rows]
            out.append(
                f"- {label(method)}: from the smallest to the largest memory input the"
                f" image arrays grow by {images[-1] - images[0]:.0f} MiB and the rest of"
                f" the peak RSS by {rest[-1] - rest[0]:+.0f} MiB."
            )
    return out


BACKEND_MARKERS = {"torch": "o", "onnx": "s", "openvino": "^"}


def _figure_points(payload: dict) -> list[tuple[float, float, str, str, str | None]]:
    """(MP/s, Set5 PSNR, model or peer name, kind, backend or None) of each measured method;
    a srmeta model is scored once (under torch) and drawn once per backend."""
    points = []
    for method in payload["speed"]:
        srmeta = split_method(method)
        speed = _speed(payload, method)
        quality = payload["psnr"].get(scored_as(method), {}).get("Set5")
        if "mp_per_s" not in speed or not quality:
            continue
        kind = "peer" if srmeta is None else "srmeta" if is_ours(payload, method) else "zoo"
        name = method_name(method)
        points.append((speed["mp_per_s"], quality["psnr"], name, kind, srmeta and srmeta[1]))
    return points


def _spread(heights: list[float], gap: float, top: float) -> list[float]:
    """``heights`` moved apart to at least ``gap`` each, order kept, none above ``top``
    (pushed up from below first, then down from ``top`` where that overflows)."""
    order = sorted(range(len(heights)), key=heights.__getitem__)
    placed = list(heights)
    last = float("-inf")
    for i in order:
        placed[i] = last = max(heights[i], last + gap)
    ceiling = top + gap
    for i in reversed(order):
        placed[i] = ceiling = min(placed[i], ceiling - gap)
    return placed


def _tick(value: float, _position: object = None) -> str:
    """A log axis label for 1, 2 and 5 times a power of ten, as a plain number."""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if round(mantissa, 6) in (1, 2, 5) else ""


def pareto_figure(payload: dict, path: Path) -> bool:
    """Set5 PSNR against output MP/s at the largest size: one row of markers per model (one
    marker shape per backend, joined), peers as single points, the non-dominated points
    joined, one label per model placed so labels never overlap. Returns False when
    matplotlib or the numbers are missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return False
    points = _figure_points(payload)
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    groups: dict[str, list[tuple[float, float, str, str, str | None]]] = {}
    for point in points:
        groups.setdefault(point[2], []).append(point)
    for group in groups.values():
        colour = KINDS[group[0][3]][0]
        group.sort()
        if len(group) > 1:
            ax.plot([p[0] for p in group], [p[1] for p in group], color=colour, lw=0.8, alpha=0.5)
        for x, y, _, _, backend in group:
            ax.scatter(x, y, s=32, color=colour, marker=BACKEND_MARKERS.get(backend or "", "o"))
    frontier, best = [], float("-inf")
    for x, y, *_ in sorted(points, key=lambda p: -p[0]):
        if y > best:
            frontier.append((x, y))
            best = y
    ax.plot(*zip(*frontier, strict=True), color="0.6", lw=1, ls="--", zorder=0)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_tick))
    ax.xaxis.set_minor_formatter(FuncFormatter(_tick))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    low, high = min(p[1] for p in points), max(p[1] for p in points)
    anchors = [(max(p[0] for p in g), g[0][1], name) for name, g in groups.items()]
    heights = _spread([a[1] for a in anchors], (high - low + 0.5) * 0.045, high)
    for (x, y, name), shown in zip(anchors, heights, strict=True):
        ax.annotate(
            name,
            (x, y),
            xytext=(x * 1.08, shown),
            fontsize=7,
            va="center",
            arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.5} if shown != y else None,
        )
    kinds_seen = dict.fromkeys(p[3] for p in points)
    legend = [
        plt.Line2D([], [], ls="", marker="o", color=KINDS[k][0], label=KINDS[k][1])
        for k in kinds_seen
    ]
    backends_seen = dict.fromkeys(p[4] for p in points if p[4])
    legend += [
        plt.Line2D([], [], ls="", marker=BACKEND_MARKERS[b], color="0.3", label=BACKEND_LABELS[b])
        for b in backends_seen
    ]
    ax.legend(handles=legend, fontsize=7, loc="lower left")
    ax.set_xlim(right=ax.get_xlim()[1] * 1.6)  # room for the labels right of the points
    ax.set_xlabel(
        f"output MP/s, {payload['sizes'][-1]}² → {payload['sizes'][-1] * payload['scale']}²,"
        f" {payload['environment']['threads']} threads"
    )
    ax.set_ylabel(f"Set5 x{payload['scale']} PSNR (dB, Y)")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
