"""Upscaling speed, peak memory and PSNR of srmeta's bundled x4 model against CPU peers.

Peers: PIL bicubic, srmeta's MATLAB bicubic (PSNR only) and OpenCV's ``dnn_superres``
FSRCNN, FSRCNN-small and ESPCN (model files from ``--peers``/opencv). srmeta runs through
the production :class:`~srmeta.inference.upscaler.Upscaler` with the torch and the
onnxruntime backend. Every method gets the same thread count (``--threads``, 2 by default).

Speed: a natural RGB uint8 input (Set14 ``barbara`` mirror-padded to N x N, N = 256 and
1024) is upscaled x4, whole image in and uint8 array out, in a fresh process per method and
size, so the peak resident set size (the process's high-water mark: libraries, model, input
and output) belongs to that method alone. After a warm-up on a 48 x 48 crop (lazy set-up,
tile planning, kernel selection) the upscale is timed 3 times (N = 256) or once (N = 1024);
output MP/s = output megapixels / median seconds. OpenCV timings include the RGB <-> BGR
flips (a few ms). For srmeta the time is split into the backend calls (the network), the
uint8 quantisation and the rest (tiling, blending, copies): where the time goes.

Memory against image size: srmeta alone upscales N x N inputs that are exactly 2, 4 and 8
of its planned tiles per side (N = n (tile - overlap) + overlap; 600, 1154 and 2262 for the
bundled x4's 323-pixel tile), once each, in fresh processes. Every size then runs the same
tile, so only the image size changes. (Other sizes shrink the tile to the smallest side
that needs no more tiles, and the activations shrink with it.) The peak RSS is split into
the image arrays (the uint8 input and output, which any in-memory upscaler must hold) and
the rest: libraries, model, and the tiling's working memory.

Quality: PSNR / SSIM (Y, border 4) at x4 on Set5, Set14, BSD100 and Urban100 under the
evaluation protocol (``rgb``). Images in the bundled model's meta-dataset (recorded in its
file; none for a uniform-L1 model) are left out for every method, so all score the same set.

    python benchmarks/upscale_speed.py --data-root ../shared/data --peers ../shared/peers
    python benchmarks/upscale_speed.py --quick --results /tmp/upscale_speed.json

Needs ``opencv-contrib-python-headless`` for the OpenCV methods (4.14 and 5.0 give the same
images); it is a benchmark-only requirement, not a dependency of srmeta. Writes
benchmarks/results/upscale_speed.json after every finished cell (``--resume`` keeps the
cells of an interrupted run of the same model and versions) and the "upscale-speed" section
of docs/results.md. ``--quick`` (64 and 96 px inputs, Set5, no ONNX export) is a smoke run:
it writes to a temporary file unless ``--results`` is given and leaves the docs alone unless
``--docs`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import update_section

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "upscale_speed.json"
SCALE = 4
OPENCV = {"opencv-fsrcnn": ("fsrcnn", "FSRCNN_x4.pb"), "opencv-espcn": ("espcn", "ESPCN_x4.pb"),
          "opencv-fsrcnn-small": ("fsrcnn", "FSRCNN-small_x4.pb")}  # fmt: skip
LABELS = {"srmeta-torch": "srmeta x4 (torch)", "srmeta-onnx": "srmeta x4 (onnxruntime)",
          "bicubic": "bicubic (srmeta, MATLAB)", "pil-bicubic": "PIL bicubic",
          "opencv-fsrcnn": "OpenCV FSRCNN", "opencv-fsrcnn-small": "OpenCV FSRCNN-small",
          "opencv-espcn": "OpenCV ESPCN"}  # fmt: skip
SPEED_METHODS = ("srmeta-torch", "srmeta-onnx", "pil-bicubic", *OPENCV)
PSNR_METHODS = ("bicubic", "pil-bicubic", *OPENCV, "srmeta-torch")
QUICK_METHODS = ("srmeta-torch", "pil-bicubic", "bicubic", *OPENCV)  # ONNX export is slow
DATASETS, QUICK_DATASETS = ("Set5", "Set14", "BSD100", "Urban100"), ("Set5",)
SIZES, QUICK_SIZES = (256, 1024), (64, 96)
MEMORY_TILES, QUICK_MEMORY_SIZES = (2, 4, 8), (96, 192)  # tiles per side; quick: untiled
MEMORY_METHODS = ("srmeta-torch", "srmeta-onnx")
RSS_LIMIT_MIB = 2048  # acceptance: a 4096 x 4096 output in under 2 GiB
Upsample = Callable[[np.ndarray], np.ndarray]  # H x W x 3 RGB uint8 -> sH x sW x 3


def make_upsampler(method: str, peers: Path, threads: int) -> tuple[Upsample, Any]:
    """The method as an RGB uint8 -> RGB uint8 function, plus srmeta's Upscaler (or None)."""
    if method == "pil-bicubic":
        from PIL import Image

        def pil(rgb: np.ndarray) -> np.ndarray:
            size = (rgb.shape[1] * SCALE, rgb.shape[0] * SCALE)
            return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))

        return pil, None
    if method in OPENCV:
        import cv2

        cv2.setNumThreads(threads)
        algorithm, file = OPENCV[method]
        net = cv2.dnn_superres.DnnSuperResImpl_create()
        net.readModel(str(peers / "opencv" / file))
        net.setModel(algorithm, SCALE)

        def opencv(rgb: np.ndarray) -> np.ndarray:  # OpenCV works in BGR
            return np.ascontiguousarray(net.upsample(rgb[..., ::-1].copy())[..., ::-1])

        return opencv, None
    if method in ("srmeta-torch", "srmeta-onnx"):
        import torch

        from srmeta.imageio import ImageData
        from srmeta.inference.upscaler import Upscaler

        torch.set_num_threads(threads)
        up = Upscaler(scale=SCALE, backend=method.removeprefix("srmeta-"), threads=threads)
        return lambda rgb: up.upscale_image(ImageData(rgb, None, "PNG")).colour, up
    raise SystemExit(f"unknown method {method!r}; choose from {', '.join(LABELS)}")


class Profile:
    """Seconds spent in the Upscaler's backend calls and in its uint8 quantisation.

    The backend is wrapped on the instance; ``quantise`` is looked up as a global of the
    upscaler module at call time, so wrapping that global times every call it makes.
    """

    def __init__(self, upscaler: Any) -> None:
        import srmeta.inference.upscaler as module

        self.seconds = {"model": 0.0, "quantise": 0.0}
        upscaler.run = self._timed(upscaler.run, "model")
        module.quantise = self._timed(module.quantise, "quantise")

    def _timed(self, function: Callable, key: str) -> Callable:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                self.seconds[key] += time.perf_counter() - start

        return timed


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident set (``VmRSS``) or its high-water mark (``VmHWM``), in MiB.

    Not ``ru_maxrss``: Linux carries it over fork and exec, so a child would report the
    parent's peak; ``VmHWM`` belongs to the address space the child's exec created.
    """
    with open("/proc/self/status") as handle:
        line = next(row for row in handle if row.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def speed_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One method on one input, in this (fresh) process: timings, memory, srmeta profile."""
    image = np.load(spec["input"])
    upsample, upscaler = make_upsampler(spec["method"], Path(spec["peers"]), spec["threads"])
    upsample(image[:48, :48])
    profile = Profile(upscaler) if upscaler is not None else None
    setup_mib, times = rss_mib(), []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        out = upsample(image)
        times.append(time.perf_counter() - start)
        if out.shape != (image.shape[0] * SCALE, image.shape[1] * SCALE, 3):
            raise SystemExit(f"{spec['method']}: output shape {out.shape}")
        del out
    median = statistics.median(times)
    image_mib = image.nbytes * (1 + SCALE**2) / 2**20  # uint8 input and output
    megapixels = image.shape[0] * image.shape[1] * SCALE**2 / 1e6
    row: dict[str, Any] = {
        "lr": list(image.shape[:2]), "seconds": times, "median_s": median,
        "mp_per_s": megapixels / median, "setup_rss_mib": setup_mib,
        "peak_rss_mib": rss_mib("VmHWM"), "image_mib": image_mib,
    }  # fmt: skip
    if profile is not None:
        total = sum(times)
        plan = upscaler.plan
        row["profile"] = {
            **{key: seconds / total for key, seconds in profile.seconds.items()},
            "other": 1 - sum(profile.seconds.values()) / total,
            "tile": plan.tile, "context": plan.context, "blend": plan.blend,
            "tiles": upscaler.tiles_for(*image.shape[:2]), "batch": upscaler.batch_size,
        }  # fmt: skip
    return row


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`speed_child` in a new interpreter; a crash becomes an ``error`` entry."""
    threads = str(spec["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                          capture_output=True, text=True, cwd=REPO)  # fmt: skip
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": f"exit status {done.returncode}: {lines[-1] if lines else ''}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def natural_input(data_root: str, size: int) -> np.ndarray:
    """Set14 ``barbara`` (textures and flat areas), mirror-padded or cropped to size x size."""
    from PIL import Image

    from srmeta.data.benchmarks import find_dataset

    folder = find_dataset("Set14", data_root).folder
    with Image.open(folder / "barbara.png") as im:
        rgb = np.asarray(im.convert("RGB"))
    pad = ((0, max(0, size - rgb.shape[0])), (0, max(0, size - rgb.shape[1])), (0, 0))
    return np.ascontiguousarray(np.pad(rgb, pad, mode="symmetric")[:size, :size])


def as_module(upsample: Upsample) -> Any:
    """An upsampler as the ``nn.Module`` :func:`srmeta.evaluate.evaluate` scores."""
    import torch
    from torch import nn

    class Wrapped(nn.Module):
        in_channels = 3  # grey HR (Set14 bridge) is replicated, as for RGB networks
        accepts_uint8 = True  # the LR uint8 as it is: no float round trip

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            images = [upsample(np.ascontiguousarray(i.permute(1, 2, 0).numpy())) for i in x]
            return torch.stack([torch.from_numpy(i.copy()).permute(2, 0, 1) for i in images])

    return Wrapped()


def psnr_cell(method: str, dataset: str, args: argparse.Namespace, exclude: list[str]) -> dict:
    """Mean Y PSNR / SSIM of one method on one set, the bundled model's meta images excluded."""
    import torch

    from srmeta.evaluate import evaluate
    from srmeta.models.bundled import bundled_path

    torch.set_num_threads(args.threads)
    if method == "srmeta-torch":
        model: Any = str(bundled_path(SCALE))  # a path: evaluate reads its meta images too
    elif method == "bicubic":
        model = "bicubic"
    else:
        model = as_module(make_upsampler(method, Path(args.peers), args.threads)[0])
    report = evaluate(model, [dataset], [SCALE], data_root=args.data_root, exclude=exclude,
                      skip_meta=True, progress=False)  # fmt: skip
    (row,) = report.summary()
    return {"set": row.dataset, "images": row.images, "psnr": row.psnr, "ssim": row.ssim}


def environment(threads: int) -> dict[str, str]:
    """Versions that the numbers depend on (absent packages are named as such)."""
    import importlib.metadata as meta

    import torch

    from srmeta.models.bundled import bundled_path

    info = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "threads": str(threads), "torch": torch.__version__,
            "bundled_sha256": hashlib.sha256(bundled_path(SCALE).read_bytes()).hexdigest(),
            }  # fmt: skip
    for package in ("onnxruntime", "opencv-contrib-python-headless", "pillow"):
        try:
            info[package] = meta.version(package)
        except meta.PackageNotFoundError:
            info[package] = "not installed"
    return info


def _cell(row: dict | None, key: str, form: str) -> str:
    if row is None:
        return "-"
    return "failed" if "error" in row else format(row[key], form)


def markdown(payload: dict) -> str:
    """The docs section: speed table, srmeta's profile, PSNR table and the acceptance lines."""
    env, speed, psnr = payload["environment"], payload["speed"], payload["psnr"]
    sizes = payload["sizes"]
    lines = [
        "## Upscaling speed and quality against CPU peers (x4)",
        "",
        f"`benchmarks/upscale_speed.py`: {env['machine']}, {env['threads']} threads for every"
        f" method; torch {env['torch']}, onnxruntime {env['onnxruntime']}, OpenCV"
        f" {env['opencv-contrib-python-headless']}, Pillow {env['pillow']}. Input: Set14 barbara"
        " mirror-padded to N x N RGB uint8, whole image to uint8 array, fresh process per cell,"
        " warm-up first; MP/s = output megapixels / median time (3 runs, 1 at N = 1024);"
        " peak RSS = the process's high-water mark (libraries, model, input, output).",
        "",
        "| method | "
        + " | ".join(f"{n}² → {n * SCALE}²: MP/s | peak RSS (MiB)" for n in sizes)
        + " |",
        "|---|" + "---|---|" * len(sizes),
    ]
    for method, cells in speed.items():
        row = [f"{_cell(cells.get(str(n)), 'mp_per_s', '.2f')} | "
               f"{_cell(cells.get(str(n)), 'peak_rss_mib', '.0f')}" for n in sizes]  # fmt: skip
        lines.append(f"| {LABELS[method]} | " + " | ".join(row) + " |")
    profiled = [(m, str(n)) for m in speed for n in sizes
                if "profile" in speed[m].get(str(n), {})]  # fmt: skip
    if profiled:
        lines += ["", "Where srmeta's time goes (share of the timed upscale):", "",
                  "| backend | LR | tile / context / blend | tiles (batch) | network | quantise"
                  " | tiling, blending, copies |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for method, n in profiled:
            p = speed[method][n]["profile"]
            lines.append(
                f"| {method.removeprefix('srmeta-')} | {n}² | {p['tile']} / {p['context']} /"
                f" {p['blend']} | {p['tiles']} ({p['batch']}) | {p['model']:.0%} |"
                f" {p['quantise']:.0%} | {p['other']:.0%} |"
            )
    lines += memory_table(payload)
    sets = list(dict.fromkeys(c["set"] for cells in psnr.values() for c in cells.values()))
    left_out = payload.get("excluded") or []
    note = (f"; every method without the bundled model's meta images ({', '.join(left_out)})"
            if left_out else "")  # fmt: skip
    lines += ["", f"PSNR (dB) / SSIM on Y, x{SCALE}, protocol `rgb`, border {SCALE}{note}.", "",
              "| method | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]  # fmt: skip
    for method, cells in psnr.items():
        by_set = {c["set"]: f"{c['psnr']:.2f} / {c['ssim']:.4f}" for c in cells.values()}
        lines.append(f"| {LABELS[method]} | " + " | ".join(by_set.get(s, "-") for s in sets) + " |")
    return "\n".join([*lines, "", *acceptance(payload)])


def whole_tile_sizes(counts: tuple[int, ...]) -> tuple[int, ...]:
    """Input sides covered by exactly ``n`` unshrunk tiles of the bundled model's plan."""
    from srmeta.inference.upscaler import Upscaler

    plan = Upscaler(scale=SCALE).plan
    return tuple(n * (plan.tile - plan.overlap) + plan.overlap for n in counts)


def memory_table(payload: dict) -> list[str]:
    """Peak RSS against image size, split into the image arrays and everything else."""
    memory = payload.get("memory") or {}
    sizes = payload.get("memory_sizes") or []
    if not memory:
        return []
    lines = ["", "Peak RSS against image size (MiB), inputs of whole tiles (2, 4 and 8 per side,"
             " the same tile for every size): the total, the uint8 input + output arrays, and"
             " the rest (libraries, model, tiling buffers):", "",
             "| backend | " + " | ".join(f"{n}² → {n * SCALE}²: total / images / rest"
                                       for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]  # fmt: skip
    for method, cells in memory.items():
        row = []
        for n in sizes:
            cell = cells.get(str(n))
            if cell is None or "error" in cell:
                row.append(_cell(cell, "peak_rss_mib", ".0f"))
                continue
            rest = cell["peak_rss_mib"] - cell["image_mib"]
            row.append(f"{cell['peak_rss_mib']:.0f} / {cell['image_mib']:.0f} / {rest:.0f}")
        lines.append(f"| {method.removeprefix('srmeta-')} | " + " | ".join(row) + " |")
    return lines


def acceptance(payload: dict) -> list[str]:
    """The issue's acceptance checks, stated from the measured numbers."""
    speed, psnr, out = payload["speed"], payload["psnr"], []
    ours = psnr.get("srmeta-torch", {})
    margins = [(ours[d]["psnr"] - psnr[p][d]["psnr"], d, p) for p in ("opencv-fsrcnn",
               "opencv-espcn") for d in ours if d in psnr.get(p, {})]  # fmt: skip
    if margins:
        worst = min(margins)
        verdict = "yes" if worst[0] > 0 else "no"
        out.append(f"- Bundled x4 beats OpenCV FSRCNN and ESPCN on every set: {verdict} (smallest"
                   f" margin {worst[0]:+.2f} dB, {worst[1]}, vs {LABELS[worst[2]]}).")  # fmt: skip
    big = str(payload["sizes"][-1])
    theirs = speed.get("opencv-fsrcnn", {}).get(big, {})
    for method in ("srmeta-torch", "srmeta-onnx"):
        mine = speed.get(method, {}).get(big, {})
        if "mp_per_s" in mine and "mp_per_s" in theirs:
            ratio = mine["mp_per_s"] / theirs["mp_per_s"]
            out.append(f"- {LABELS[method]} at {big}²: {mine['mp_per_s']:.2f} MP/s, {ratio:.2f} x"
                       " OpenCV FSRCNN" + ("." if ratio >= 1 else "; the profile above shows"
                       " where the time goes."))  # fmt: skip
        if "peak_rss_mib" in mine:
            n = int(big) * SCALE
            ok = "under" if mine["peak_rss_mib"] < RSS_LIMIT_MIB else "NOT under"
            out.append(f"- {LABELS[method]}, {n} x {n} output: peak RSS"
                       f" {mine['peak_rss_mib']:.0f} MiB, {ok} {RSS_LIMIT_MIB} MiB.")  # fmt: skip
    for method, cells in (payload.get("memory") or {}).items():
        rows = [(int(n), c) for n, c in cells.items() if "peak_rss_mib" in c]
        if len(rows) >= 2:
            rest = [c["peak_rss_mib"] - c["image_mib"] for _, c in sorted(rows)]
            images = [c["image_mib"] for _, c in sorted(rows)]
            out.append(f"- {LABELS[method]}: from the smallest to the largest memory input the"
                       f" image arrays grow by {images[-1] - images[0]:.0f} MiB and the rest of"
                       f" the peak RSS by {rest[-1] - rest[0]:+.0f} MiB.")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--peers", default=str(REPO.parent / "shared" / "peers"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", help=f"comma-separated subset of: {', '.join(LABELS)}")
    parser.add_argument("--quick", action="store_true", help="64/96 px, Set5, no ONNX: a smoke run")
    parser.add_argument("--results", type=Path, help="JSON output (default: see the docstring)")
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        help="write docs/results.md (default: yes for full runs, no for --quick)",
    )
    parser.add_argument("--resume", action="store_true", help="keep finished cells of this model")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(speed_child(json.loads(args.child))))
        return
    methods = args.methods.split(",") if args.methods else list(QUICK_METHODS if args.quick
                                                                 else LABELS)  # fmt: skip
    if unknown := [m for m in methods if m not in LABELS]:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(LABELS)}")
    if any(m in OPENCV for m in methods) and importlib.util.find_spec("cv2") is None:
        parser.error("the OpenCV methods need opencv-contrib-python-headless; leave them out"
                     " with --methods")  # fmt: skip
    results = args.results or (Path(tempfile.gettempdir()) / "upscale_speed_quick.json"
                               if args.quick else RESULTS)  # fmt: skip
    sizes, datasets = (QUICK_SIZES, QUICK_DATASETS) if args.quick else (SIZES, DATASETS)
    memory_sizes = QUICK_MEMORY_SIZES if args.quick else whole_tile_sizes(MEMORY_TILES)
    payload = {"environment": environment(args.threads), "quick": args.quick,
               "sizes": list(sizes), "memory_sizes": list(memory_sizes), "speed": {},
               "memory": {}, "psnr": {}}  # fmt: skip
    if args.resume and results.is_file():
        old = json.loads(results.read_text())
        if old.get("environment") == payload["environment"] and old.get("quick") == args.quick:
            for key in ("speed", "memory", "psnr"):
                payload[key] = old.get(key, {})

    def save() -> None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(payload, indent=2) + "\n")

    if "srmeta-onnx" in methods:  # export once here, so no child's peak RSS includes it
        from srmeta.export import cached_onnx
        from srmeta.models.registry import load_model

        cached_onnx(load_model("default", SCALE), SCALE)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"lr{size}.npy"
            np.save(path, natural_input(args.data_root, size))
            for method in (m for m in methods if m in SPEED_METHODS):
                cells = payload["speed"].setdefault(method, {})
                if "mp_per_s" in cells.get(str(size), {}):  # done; a failed cell is retried
                    continue
                spec = {"method": method, "input": str(path), "peers": args.peers,
                        "threads": args.threads, "repeats": 3 if size <= 256 else 1}  # fmt: skip
                cells[str(size)] = run_child(spec)
                print(f"speed {method} {size}: {cells[str(size)]}", flush=True)
                save()
        for size in memory_sizes:
            path = Path(tmp) / f"lr{size}.npy"
            np.save(path, natural_input(args.data_root, size))
            for method in (m for m in methods if m in MEMORY_METHODS):
                cells = payload["memory"].setdefault(method, {})
                if "peak_rss_mib" in cells.get(str(size), {}):
                    continue
                spec = {"method": method, "input": str(path), "peers": args.peers,
                        "threads": args.threads, "repeats": 1}  # fmt: skip
                cells[str(size)] = run_child(spec)
                print(f"memory {method} {size}: {cells[str(size)]}", flush=True)
                save()
    from srmeta.models.bundled import bundled_path
    from srmeta.models.files import meta_images_of

    exclude = meta_images_of(bundled_path(SCALE))
    payload["excluded"] = exclude
    for method in (m for m in methods if m in PSNR_METHODS):
        for dataset in datasets:
            cells = payload["psnr"].setdefault(method, {})
            if dataset not in cells:
                cells[dataset] = psnr_cell(method, dataset, args, exclude)
                print(f"psnr {method} {dataset}: {cells[dataset]}", flush=True)
                save()
    save()
    text = markdown(payload)
    if args.docs if args.docs is not None else not args.quick:
        update_section("upscale-speed", text)
    print(text)


if __name__ == "__main__":
    main()
