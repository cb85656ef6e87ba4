"""The README's `srmeta upscale` examples run as written, on generated images.

The block is read from README.md itself, so an example that stops working, or a new one
that never did, fails here. Every file an example names is generated first (small, so the
bundled models run in seconds); `runs/edsr_cpu_x4` is a tiny x4 EDSR run folder.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srmeta.cli import main
from srmeta.imageio import read_image
from srmeta.models.files import save_model_file
from srmeta.models.registry import load_model

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples(section: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(rf"## `{section}`\s+```bash\n(.*?)```", text, re.S)
    assert block, f"README has no {section} example block"
    return [line for line in block.group(1).splitlines() if line.startswith("srmeta ")]


def _rgb(path: Path, side: int = 12, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def test_every_upscale_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("photo.png", "shots/a.png", "shots/b.png", "more/c.jpg", "logo.png",
                 "cams/north/d.png", "img.png"):  # fmt: skip
        _rgb(tmp_path / name)
    grey16 = np.random.default_rng(1).integers(0, 65536, (12, 12), dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "scan.tif")
    torch.manual_seed(0)
    options = {"n_resblocks": 1, "n_feats": 8}
    (tmp_path / "runs" / "edsr_cpu_x4").mkdir(parents=True)
    save_model_file(tmp_path / "runs/edsr_cpu_x4/model_last.safetensors",
                    load_model("edsr", 4, **options), "edsr", 4, options)  # fmt: skip
    examples = _examples("srmeta upscale")
    assert len(examples) >= 6
    for line in examples:
        args = shlex.split(line, comments=True)[1:]
        assert main([*args, "--quiet"] if args[0] == "upscale" else args) == 0, line
    expected = ["photo_x4.png", "big/a.png", "big/b.png", "big/c.jpg", "scan_x3.tif",
                "logo_x6.png", "shots/a_sr.jpg", "shots/b_sr.jpg", "big/north/d.png",
                "img_x4.png", "srmeta_x4.onnx"]  # fmt: skip
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
