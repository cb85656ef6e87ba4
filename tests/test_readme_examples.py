"""The README's examples (upscale, eval, train, Python API) run as written, on generated data.

The block is read from README.md itself, so an example that stops working, or a new one
that never did, fails here. Every file an example names is generated first (small, so the
bundled models run in seconds); `runs/edsr_cpu_x4` is a tiny x4 EDSR run folder.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srmeta.cli import main
from srmeta.imageio import read_image
from srmeta.models.files import save_model_file
from srmeta.models.loading import load_model

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples(section: str, heading: str | None = None) -> list[str]:
    """The ``srmeta`` lines of the bash block under ``## `section` `` (or ``## heading``)."""
    text = README.read_text(encoding="utf-8")
    title = re.escape(heading) if heading else f"`{section}`"
    # the section's first bash block, wherever in the section it starts
    block = re.search(rf"## {title}\n(?:(?!\n## ).)*?```bash\n(.*?)```", text, re.S)
    assert block, f"README has no {heading or section} example block"
    return [line for line in block.group(1).splitlines() if line.startswith("srmeta ")]


def _rgb(path: Path, side: int = 12, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _tiny_run(folder: Path) -> None:
    """``runs/edsr_cpu_x4``: a tiny x4 EDSR's model file in a run folder."""
    torch.manual_seed(0)
    options = {"n_resblocks": 1, "n_feats": 8}
    folder.mkdir(parents=True)
    model = load_model("edsr", 4, **options)
    save_model_file(folder / "model_last.safetensors", model, "edsr", 4, options)


def test_every_upscale_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in (
        "photo.png",
        "shots/a.png",
        "shots/b.png",
        "more/c.jpg",
        "logo.png",
        "cams/north/d.png",
        "img.png",
    ):
        _rgb(tmp_path / name)
    grey16 = np.random.default_rng(1).integers(0, 65536, (12, 12), dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "scan.tif")
    _tiny_run(tmp_path / "runs" / "edsr_cpu_x4")
    examples = _examples("srmeta upscale")
    assert len(examples) >= 6
    for line in examples:
        args = shlex.split(line, comments=True)[1:]
        assert main([*args, "--quiet"] if args[0] == "upscale" else args) == 0, line
    expected = [
        "photo_x4.png",
        "big/a.png",
        "big/b.png",
        "big/c.jpg",
        "scan_x3.tif",
        "logo_x6.png",
        "shots/a_sr.jpg",
        "shots/b_sr.jpg",
        "big/north/d.png",
        "img_x4.png",
        "srmeta_x4.onnx",
    ]
    missing = [name for name in expected if not (tmp_path / name).is_file()]
    assert not missing
    scan = read_image(tmp_path / "scan_x3.tif")
    assert scan.bit_depth == 16 and scan.colour.shape[:2] == (36, 36)


def test_every_eval_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """On a generated data root (two 36-pixel images per benchmark set), found through
    ``SRMETA_DATA`` as the README says."""
    for name in ("Set5", "Set14", "BSD100", "Urban100"):
        for i in range(2):
            _rgb(tmp_path / "data" / name / "HR" / f"img{i}.png", side=36, seed=i)
    monkeypatch.setenv("SRMETA_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    examples = _examples("srmeta eval")
    assert len(examples) >= 3
    for line in examples:
        assert main([*shlex.split(line, comments=True)[1:], "--quiet"]) == 0, line
        assert "PSNR" in capsys.readouterr().out
    assert (tmp_path / "results" / "bicubic" / "summary.json").is_file()


def test_every_compare_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """On generated Set5 and Set14 images (the named ones among them) and a tiny run folder
    with a metrics log; each example writes its page."""
    for name, images in (("Set5", ("baby", "bird")), ("Set14", ("zebra", "comic"))):
        for i, image in enumerate(images):
            _rgb(tmp_path / "data" / name / "HR" / f"{image}.png", side=48, seed=i)
    monkeypatch.setenv("SRMETA_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "edsr_cpu_x4"
    _tiny_run(run)
    steps = range(10, 101, 10)
    lines = [json.dumps({"step": s, "kind": "train", "loss": 1 / s}) for s in steps]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    examples = _examples("", heading="Compare models visually")
    assert [line.split()[1] for line in examples] == ["compare", "compare", "eval", "compare"]
    for line in examples:
        assert main([*shlex.split(line, comments=True)[1:], "--quiet"]) == 0, line
    assert capsys.readouterr().out.count("wrote ") >= 3
    crops = (tmp_path / "crops.html").read_text(encoding="utf-8")
    assert 'data-key="Set5/x4/baby"' in crops and 'data-key="Set14/x4/zebra"' in crops
    assert "Training loss" in (tmp_path / "run.html").read_text(encoding="utf-8")
    assert (tmp_path / "compare.html").stat().st_size > 10_000


SHORT = (
    "train.steps={steps}",
    "data.train.patch_size=24",
    "data.train.batch_size=2",
    "data.val.every=1",
)


def _repo_with_data(tmp_path: Path) -> Path:
    """``tmp/repo`` (the working folder, with the real configs) beside ``tmp/shared/data``
    (tiny generated images), so the README's ``../shared/data`` resolves as in a checkout."""
    repo = tmp_path / "repo"
    (repo / "configs").mkdir(parents=True)
    for config in (README.parent / "configs").glob("*.yaml"):
        (repo / "configs" / config.name).write_bytes(config.read_bytes())
    for name, count, side in (
        ("T91", 3, 60),
        ("Set5", 2, 36),
        ("Set14", 2, 36),
        ("BSD100", 2, 36),
        ("Urban100", 2, 36),
    ):
        for i in range(count):
            _rgb(tmp_path / "shared/data" / name / "HR" / f"img{i}.png", side=side, seed=i)
    return repo


def test_every_train_example_runs_with_few_steps(tmp_path, monkeypatch, capsys):
    """Run in the README's order; each line gets a few steps on small patches appended (the
    only liberty taken), with growing step counts, so the resume lines continue and extend.
    ``SRMETA_DATA`` is unset: a resumed run must find its data root by itself."""
    monkeypatch.chdir(_repo_with_data(tmp_path))
    monkeypatch.delenv("SRMETA_DATA", raising=False)
    examples = _examples("srmeta train")
    assert len(examples) >= 5
    for i, line in enumerate(examples):
        args = shlex.split(line, comments=True)[1:]
        if args[0] == "train":
            short = [part.format(steps=2 * (i + 1)) for part in SHORT]
            args += [*(a for item in short for a in ("--set", item)), "--quiet"]
        else:  # eval of the run just trained, on the generated benchmark sets
            monkeypatch.setenv("SRMETA_DATA", "../shared/data")
            args += ["--quiet"]
        assert main(args) == 0, line
    out = capsys.readouterr().out
    assert "trained espcn_x4 to step 8" in out and "runs/espcn_lr5e-4" in out and "PSNR" in out


def test_python_api_example_runs(tmp_path, monkeypatch):
    """The README's Python block, executed as written except for a shorter training run."""
    repo = _repo_with_data(tmp_path)
    monkeypatch.chdir(repo)
    _rgb(repo / "photo.png")
    torch.manual_seed(0)
    (repo / "runs" / "espcn_x4").mkdir(parents=True)
    save_model_file(
        repo / "runs/espcn_x4/model_last.safetensors", load_model("espcn", 4), "espcn", 4, {}
    )
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Python API\s+```python\n(.*?)```", text, re.S)
    assert block and '"train.steps=1000"' in block.group(1)
    short = ", ".join(f'"{part.format(steps=2)}"' for part in SHORT)
    namespace: dict = {}
    exec(block.group(1).replace('"train.steps=1000"', short), namespace)
    assert namespace["big"].size == (48, 48)
    assert namespace["arr"].shape == (24, 24, 3) and namespace["arr"].dtype == np.uint8
    assert Path(namespace["path"]).name == "photo_x3.png"
    assert namespace["result"].step == 2
    assert (repo / "runs/espcn_1k/model_last.safetensors").is_file()
    assert len(namespace["report"].images) == 2 * 3  # Set5's two images at three scales


def test_weights_example_runs_with_few_steps(tmp_path, monkeypatch):
    """A Weight-Net run of two steps, then the README's ``srmeta weights`` call on it."""
    repo = _repo_with_data(tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("SRMETA_DATA", raising=False)
    for i, name in enumerate(("img_004", "img_091", "img_092", "img_093", "img_094", "img_095")):
        _rgb(tmp_path / "shared/data/Urban100/HR" / f"{name}.png", side=64, seed=i)
    _rgb(tmp_path / "shared/data/Set14/HR/baboon.png", side=64)
    examples = _examples("srmeta weights")
    assert [line.split()[1] for line in examples] == ["train", "weights"]
    short = [a for part in SHORT for a in ("--set", part.format(steps=2))]
    assert main([*shlex.split(examples[0])[1:], *short, "--quiet"]) == 0
    assert main(shlex.split(examples[1])[1:]) == 0
    written = {p.name for p in (repo / "maps").iterdir()}
    assert written == {
        "weight_maps_weightnet_urban_x4.png",
        "frequency_bands.png",
        "frequency_bands.md",
        "weight_stats.json",
    }


def test_every_adapt_example_runs_with_few_steps(tmp_path, monkeypatch, capsys):
    """The camera section's lines on generated pairs and pool; adapt gets two steps per
    strategy appended (the only liberty taken)."""
    from srmeta.resize import imresize

    repo = _repo_with_data(tmp_path)
    monkeypatch.chdir(repo)
    for name in ("T91", "General100", "BSDS400"):
        for i in range(2):
            _rgb(tmp_path / "shared/data" / name / "HR" / f"pool{i}.png", side=80, seed=10 + i)
    for folder, count in (("mycam", 4), ("more_pairs", 2)):
        (repo / folder).mkdir()
        for i in range(count):
            seed = 20 + i + (10 if folder == "more_pairs" else 0)
            pixels = np.random.default_rng(seed).integers(0, 256, (3, 96, 96), dtype=np.uint8)
            hr = torch.from_numpy(pixels)
            Image.fromarray(hr.permute(1, 2, 0).numpy()).save(repo / folder / f"{i:03d}H.png")
            lr = imresize(hr, 1 / 3).permute(1, 2, 0).numpy()
            Image.fromarray(lr).save(repo / folder / f"{i:03d}L.png")
    _rgb(repo / "frame.png", side=16)
    examples = _examples("", heading="Your camera: real pairs and `srmeta adapt`")
    assert [line.split()[1] for line in examples] == ["pairs", "adapt", "upscale", "eval"]
    for line in examples:
        args = shlex.split(line, comments=True)[1:]
        if args[0] == "adapt":
            args += ["--steps", "2", "--eval-every", "1", "--batch-size", "2", "--quiet"]
        if args[0] in ("eval", "pairs"):
            args += ["--quiet"]
        assert main(args) == 0, line
    out = capsys.readouterr().out
    assert "4 pairs fit x3" in out
    assert "held out" in out and "runs/mycam/model_best.safetensors" in out
    assert Image.open(repo / "frame_x3.png").size == (48, 48)
    assert "| more_pairs |" in out
