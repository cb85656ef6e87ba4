"""Upscaling speed, peak memory and PSNR of srmeta's models at one scale (``--scale``, x4 by
default) under every backend, against CPU peers, and the Pareto figure of quality against
speed.

Methods: every srmeta model of that scale given (``--models``; by default each bundled
model of that scale this installation has) under every backend (``torch``, ``onnx``,
``openvino``; written ``<model>@<backend>``), and the peers: PIL bicubic, srmeta's MATLAB
bicubic (PSNR only) and OpenCV's ``dnn_superres`` FSRCNN, FSRCNN-small and ESPCN (model
files from ``--peers``/opencv, the file of that scale). ``--zoo`` adds third-party weights
that srmeta loads, each file of that scale in a folder (the peers' ``torch/``: official
IMDN, PAN, CARN-M, RFDN and RLFN weights, scored in docs/zoo.md) under every backend,
written ``<file>@<backend>``; a backend whose export of a file fails is left out and named.
srmeta runs through the production
:class:`~srmeta.inference.upscaler.Upscaler`. Every method gets the same thread count
(``--threads``, 2 by default). A ratio between two methods of the same run is what counts on
a shared machine.

Speed: a natural RGB uint8 input (Set14 ``barbara`` mirror-padded to N x N, N = 256 and
1024) is upscaled, whole image in and uint8 array out, in a fresh process per method and
size, so the peak resident set size (the process's high-water mark: libraries, model, input
and output) belongs to that method alone. After a warm-up (a 48 x 48 crop, then, for
srmeta, the image itself, so the per-tile-shape compilation of OpenVINO is not timed) the
upscale is timed 3 times (N = 256) or once (N = 1024); output MP/s = output megapixels /
median seconds. OpenCV timings include the RGB <-> BGR flips (a few ms). For srmeta the
time is split into the backend calls (the network), the uint8 quantisation and the rest.

Memory against image size: srmeta's own models (not the ``--zoo`` files) upscale N = 512,
1024 and 2048 inputs once each, in fresh processes, and the peak RSS is split into the image
arrays (the uint8 input and output, which any in-memory upscaler must hold) and the rest:
libraries, model, and the tiling's working memory, which should not grow with the image.

Quality: PSNR / SSIM (Y, border = scale) on Set5, Set14, BSD100 and Urban100 under the
evaluation protocol (``rgb``), each srmeta model once (the backends agree to 1e-4). Images
in a srmeta model's meta-dataset (recorded in its file) are left out for every method.

    python benchmarks/upscale_speed.py --data-root ../shared/data --peers ../shared/peers \\
        --zoo ../shared/peers/torch
    python benchmarks/upscale_speed.py --quick --zoo ../shared/peers/torch

Needs ``opencv-contrib-python-headless<5.1`` for the OpenCV methods (5.1 no longer reads the
FSRCNN .pb files); it is a benchmark-only requirement, not a dependency of srmeta. Writes
benchmarks/results/upscale_speed.json (x2, x3: upscale_speed_x2.json, ...) after every
finished cell (``--resume`` keeps the cells of an interrupted run with the same versions),
docs/figures/upscale_pareto.png (``_x2``, ...) and the "upscale-speed" (``-x2``, ...)
section of docs/results.md. ``--quick`` (64 and 96 px inputs, Set5) is a smoke run: it
writes to a temporary file unless ``--results`` is given and leaves the docs alone unless
``--docs``. ``--phase timing`` fills only the speed and
memory cells, which need a quiet machine, ``--phase psnr`` only the scores, which do not.
"""

from __future__ import annotations

import argparse
import importlib.metadata as meta
import importlib.util
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import update_section
from speed_methods import (
    HASH_KEY,
    OPENCV,
    PEER_LABELS,
    check_method,
    keep_cells,
    model_name,
    natural_input,
    opencv_problem,
    prepare,
    psnr_cell,
    run_child,
    speed_child,
    split_method,
    stale_models,
)
from speed_report import DEFAULT_SCALE, is_ours, markdown, outputs, pareto_figure

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "onnx", "openvino")
PEERS = ("pil-bicubic", *OPENCV)
DATASETS, QUICK_DATASETS = ("Set5", "Set14", "BSD100", "Urban100"), ("Set5",)
SIZES, QUICK_SIZES = (256, 1024), (64, 96)
MEMORY_SIZES, QUICK_MEMORY_SIZES = (512, 1024, 2048), (96, 192)


def default_models(scale: int) -> list[str]:
    """The bundled models of ``scale`` this installation ships."""
    from importlib import resources

    from srmeta.models.bundled import FAMILIES

    folder = resources.files("srmeta.bundled")
    return [
        f"{family}-x{scale}"
        for family, file in FAMILIES.items()
        if (folder / file.format(scale)).is_file()
    ]


def installed_backends(quick: bool) -> list[str]:
    """The backends to measure: those installed, only torch for ``--quick`` (exports are
    slow)."""
    backends = [b for b in BACKENDS if b == "torch" or not quick]
    return [
        b
        for b in backends
        if b == "torch" or importlib.util.find_spec("onnxruntime" if b == "onnx" else b) is not None
    ]


def default_methods(models: list[str], quick: bool) -> list[str]:
    srmeta = [f"{m}@{b}" for m in models for b in installed_backends(quick)]
    return [*srmeta, "bicubic", *PEERS]


def zoo_models(folder: Path, scale: int) -> list[str]:
    """The weights files of ``folder`` at ``scale`` (a multi-scale file counts), as absolute
    paths: the children run in the repository root."""
    from zoo_table import checkpoints  # loads every file: only when --zoo is given

    return [str(c.path.resolve()) for c in checkpoints(folder) if scale in c.scales]


def prepare_all(methods: list[str], zoo: list[str], scale: int) -> tuple[list[str], dict[str, str]]:
    """Export each method's model once (:func:`prepare`). A ``--zoo`` file whose export
    fails leaves that backend out (returned with the reason); any other failure stops."""
    kept, skipped = [], {}
    for method in methods:
        srmeta = split_method(method)
        try:
            prepare(method, scale)
        except Exception as exc:
            if srmeta is None or srmeta[0] not in zoo:
                raise
            skipped[method] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"skipped {method}: {skipped[method]}", flush=True)
            continue
        kept.append(method)
    return kept, skipped


def environment(threads: int, methods: list[str], scale: int) -> dict[str, str]:
    """Versions and model files that the numbers depend on."""
    import torch

    info = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": str(threads),
        "torch": torch.__version__,
    }
    for package in ("onnxruntime", "openvino", "opencv-contrib-python-headless", "pillow"):
        try:
            info[package] = meta.version(package)
        except meta.PackageNotFoundError:
            info[package] = "not installed"
    from srmeta.models.bundled import resolve_model_name
    from srmeta.models.files import weights_digest

    for model in dict.fromkeys(s[0] for m in methods if (s := split_method(m))):
        path = Path(resolve_model_name(model, scale))  # a bundled name becomes its file
        info[f"{HASH_KEY}{model_name(model)}"] = weights_digest(path)
    return info


def measure(args: argparse.Namespace, methods: list[str], payload: dict, save) -> None:
    """Fill the speed and memory cells, one fresh process each, skipping finished ones."""
    script = Path(__file__).resolve()
    speed_methods = [m for m in methods if m != "bicubic"]
    # memory against size is srmeta's own claim (tiling keeps it flat); the zoo gets speed
    memory_methods = [m for m in methods if is_ours(payload, m)]
    sizes = QUICK_SIZES if args.quick else SIZES
    memory_sizes = QUICK_MEMORY_SIZES if args.quick else MEMORY_SIZES
    with tempfile.TemporaryDirectory() as tmp:
        for kind, todo, sizes_ in (
            ("speed", speed_methods, sizes),
            ("memory", memory_methods, memory_sizes),
        ):
            for size in sizes_:
                path = Path(tmp) / f"lr{size}.npy"
                np.save(path, natural_input(args.data_root, size))
                for method in todo:
                    cells = payload[kind].setdefault(method, {})
                    if "peak_rss_mib" in cells.get(str(size), {}):  # a failed cell is retried
                        continue
                    spec = {
                        "method": method,
                        "input": str(path),
                        "peers": args.peers,
                        "threads": args.threads,
                        "scale": args.scale,
                        "repeats": 3 if size <= 256 and kind == "speed" else 1,
                    }
                    cells[str(size)] = run_child(script, spec)
                    print(f"{kind} {method} {size}: {cells[str(size)]}", flush=True)
                    save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--peers", default=str(REPO.parent / "shared" / "peers"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), default=DEFAULT_SCALE)
    parser.add_argument("--models", help="srmeta models, comma-separated (default: bundled)")
    parser.add_argument(
        "--methods", help="comma-separated: <model>@<backend> or peers: " + ", ".join(PEER_LABELS)
    )
    parser.add_argument(
        "--zoo",
        type=Path,
        help="a folder of third-party weights (the peers' torch/): each file of the scale joins as"
        " <file>@<backend> under every backend measured",
    )
    parser.add_argument("--quick", action="store_true", help="64/96 px, Set5: a smoke run")
    parser.add_argument("--results", type=Path, help="JSON output (default: see the docstring)")
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        help="write docs/results.md and the figure (default: not --quick)",
    )
    parser.add_argument("--resume", action="store_true", help="keep finished cells")
    parser.add_argument(
        "--phase",
        choices=("all", "timing", "psnr"),
        default="all",
        help="timing: only the speed and memory cells (they need a quiet machine); psnr: only"
        " the scores (they do not); with --resume the two can run at different times",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(speed_child(json.loads(args.child))))
        return
    models = args.models.split(",") if args.models else default_models(args.scale)
    methods = args.methods.split(",") if args.methods else default_methods(models, args.quick)
    zoo = zoo_models(args.zoo, args.scale) if args.zoo else []
    methods += [f"{m}@{b}" for m in zoo for b in installed_backends(args.quick)]
    if problems := [p for m in methods if (p := check_method(m))]:
        parser.error("; ".join(problems))
    if (problem := opencv_problem()) is not None:
        if any(m in OPENCV for m in methods) and args.methods:
            parser.error(problem)
        if any(m in OPENCV for m in methods):
            print(f"note: {problem}; the OpenCV methods are left out", file=sys.stderr)
        methods = [m for m in methods if m not in OPENCV]
    default_results, figure, section = outputs(args.scale)
    results = args.results or (
        Path(tempfile.gettempdir()) / "upscale_speed_quick.json" if args.quick else default_results
    )
    sizes = QUICK_SIZES if args.quick else SIZES
    memory_sizes = QUICK_MEMORY_SIZES if args.quick else MEMORY_SIZES
    payload = {
        "environment": environment(args.threads, methods, args.scale),
        "quick": args.quick,
        "scale": args.scale,
        "sizes": list(sizes),
        "memory_sizes": list(memory_sizes),
        "speed": {},
        "memory": {},
        "psnr": {},
        "zoo": zoo,
    }
    if args.resume and results.is_file():
        old = json.loads(results.read_text())
        stale = stale_models(old.get("environment", {}), payload["environment"])
        if stale is not None and old.get("quick") == args.quick:
            for key in ("speed", "memory", "psnr"):
                payload[key] = keep_cells(old.get(key, {}), stale)
            for key in ("excluded", "figure"):  # a --phase timing run leaves them as they are
                if key in old:
                    payload[key] = old[key]
            remeasured = set(old.get("remeasured", [])) | stale
            if remeasured:
                payload["remeasured"] = sorted(remeasured)
            if stale:
                print(f"the weights of {', '.join(sorted(stale))} changed: their cells run again")

    def save() -> None:
        rank = {method: i for i, method in enumerate(methods)}
        for key in ("speed", "memory", "psnr"):  # cells run again on resume keep their row
            payload[key] = dict(
                sorted(payload[key].items(), key=lambda kv: rank.get(kv[0], len(rank)))
            )
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(payload, indent=2) + "\n")

    methods, payload["skipped"] = prepare_all(methods, zoo, args.scale)
    if args.phase != "psnr":
        measure(args, methods, payload, save)
    if args.phase == "timing":
        return
    from srmeta.models.bundled import resolve_model_name
    from srmeta.models.files import meta_images_of

    srmeta_models = list(dict.fromkeys(s[0] for m in methods if (s := split_method(m))))
    exclude = sorted(
        {
            name
            for model in srmeta_models
            for name in meta_images_of(resolve_model_name(model, args.scale))
        }
    )
    payload["excluded"] = exclude
    ours = [f"{m}@torch" for m in srmeta_models if m not in zoo]
    peers = [m for m in methods if not split_method(m)]
    scored = ours + peers + [f"{m}@torch" for m in zoo]  # the zoo, slowest to score, last
    for method in scored:
        for dataset in QUICK_DATASETS if args.quick else DATASETS:
            cells = payload["psnr"].setdefault(method, {})
            if dataset not in cells:
                cells[dataset] = psnr_cell(method, dataset, args, exclude)
                print(f"psnr {method} {dataset}: {cells[dataset]}", flush=True)
                save()
    docs = args.docs if args.docs is not None else not args.quick
    if docs and pareto_figure(payload, figure):
        payload["figure"] = "figures/" + figure.name
    save()
    text = markdown(payload)
    if docs:
        update_section(section, text)
    print(text)


if __name__ == "__main__":
    main()
