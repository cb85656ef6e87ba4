"""What exact tiling of image-wide attention costs, and what cross-faded tiles get wrong.

IMDN, RFDN and RLFN pool attention over the whole image. srmeta tiles them exactly by
gathering each such layer's input from the tiles first (:mod:`srmeta.inference.exact_tiling`);
the usual alternative (Real-ESRGAN's, and srmeta's before) runs each tile as it is and
cross-fades the seams. For each official file this measures, on one real image used as the
LR input (Set14 barbara's HR, 576 x 720), in one process with one thread, the variants
interleaved in rounds (the median per variant):

- ``whole``: one forward pass over the image (the reference output);
- ``exact (default plan)``: the upscaler as shipped (tile from the 512 MiB budget);
- ``exact (tile 256)``: more tiles, so more gathering;
- ``cross-faded (tile 368)``: tiles as they are, 16 pixels of context, a 4-pixel blend.

Per variant: seconds and the ratio to ``whole``, the largest and mean absolute difference
from ``whole`` (output in [0, 1]), and the share of output values that differ after
rounding to 8 bits.

    python benchmarks/exact_tiling.py --data-root ../shared/data --peers ../shared/peers

Writes benchmarks/results/exact_tiling.json and the "exact-tiling" section of docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import update_section
from meta_experiments import git_commit

from srmeta.inference.planning import FALLBACK_CONTEXT
from srmeta.inference.tiling import TilePlan, upscale_tiled
from srmeta.inference.upscaler import Upscaler

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "exact_tiling.json"
FILES = ("IMDN_x4.pth", "RFDN_AIM_x4.pth", "RLFN_NTIRE2022_x4.pth")
CROSS_FADED = TilePlan(tile=368, context=FALLBACK_CONTEXT, blend=4)
FORCED_TILE = 256


def variants(weights: Path) -> dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str]]:
    """Each variant's upscale function (``3 x h x w`` float -> output) and its plan."""
    shipped = Upscaler(weights, backend="torch")
    small = Upscaler(weights, backend="torch", tile=FORCED_TILE)
    module = shipped.module

    def whole(lr: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(lr[None])[0]

    def cross_faded(lr: torch.Tensor) -> torch.Tensor:
        out = torch.empty(3, lr.shape[1] * shipped.scale, lr.shape[2] * shipped.scale)

        def sink(top: int, left: int, block: torch.Tensor) -> None:
            out[:, top : top + block.shape[1], left : left + block.shape[2]] = block

        with torch.inference_mode():
            upscale_tiled(module, lr, shipped.scale, CROSS_FADED, sink, 1)
        return out

    def describe(up: Upscaler, h: int, w: int) -> str:
        p = up.plan
        return f"{p.tile} / {p.context} / {p.blend}; {up.tiles_for(h, w)} tile forwards"

    return {
        "whole": (whole, "one pass"),
        "exact (default plan)": (shipped.upscale_tensor, describe(shipped, 576, 720)),
        f"exact (tile {FORCED_TILE})": (small.upscale_tensor, describe(small, 576, 720)),
        f"cross-faded (tile {CROSS_FADED.tile})": (
            cross_faded,
            f"{CROSS_FADED.tile} / {CROSS_FADED.context} / {CROSS_FADED.blend}",
        ),
    }


def eight_bit(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round()


def measure(weights: Path, lr: torch.Tensor, rounds: int) -> dict[str, dict[str, object]]:
    runs = variants(weights)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, torch.Tensor] = {}
    for _ in range(rounds):
        for name, (upscale, _plan) in runs.items():
            start = time.perf_counter()
            outputs[name] = upscale(lr)
            seconds[name].append(time.perf_counter() - start)
    reference = outputs["whole"]
    base = statistics.median(seconds["whole"])
    rows: dict[str, dict[str, object]] = {}
    for name, (_upscale, plan) in runs.items():
        difference = (outputs[name] - reference).abs()
        rows[name] = {
            "plan": plan,
            "seconds": seconds[name],
            "ratio_to_whole": statistics.median(seconds[name]) / base,
            "max_abs": float(difference.max()),
            "mean_abs": float(difference.mean()),
            "uint8_differ": float(
                (eight_bit(outputs[name]) != eight_bit(reference)).double().mean()
            ),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--peers", type=Path, default=REPO.parent / "shared" / "peers")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = np.array(Image.open(args.data_root / "Set14" / "HR" / "barbara.png").convert("RGB"))
    lr = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    commit, dirty = git_commit(REPO)
    payload: dict[str, object] = {
        "commit": commit[:10] + (" (with uncommitted changes)" if dirty else ""),
        "machine": f"{platform.machine()}, 1 thread, torch {torch.__version__}",
        "input": f"Set14 barbara HR as the LR input, {lr.shape[1]} x {lr.shape[2]}",
        "rounds": args.rounds,
        "files": {},
    }
    files: dict[str, object] = {}
    for name in FILES:
        files[name] = measure(args.peers / "torch" / name, lr, args.rounds)
        payload["files"] = files
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "## Exact tiling of image-wide attention",
        "",
        f"`benchmarks/exact_tiling.py` at commit `{payload['commit']}`: {payload['machine']};"
        f" {payload['input']}, x4; {args.rounds} interleaved rounds, median time. Differences"
        " are from the whole-image pass (output in [0, 1]); plan = tile / context / blend.",
        "",
        "| file | variant | plan | time (s) | × whole | max diff | mean diff | 8-bit values"
        " differing |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in files.items():
        assert isinstance(rows, dict)
        for variant, row in rows.items():
            lines.append(
                f"| {name} | {variant} | {row['plan']} | {statistics.median(row['seconds']):.1f}"
                f" | {row['ratio_to_whole']:.2f} | {row['max_abs']:.1e} | {row['mean_abs']:.1e}"
                f" | {row['uint8_differ']:.4%} |"
            )
    update_section("exact-tiling", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
