"""Property-based bad and odd inputs for the API and the CLI (hypothesis).

For any image mode, size, bit depth, scale and output factor drawn here: no traceback, either
a result of exactly the asked size and kind or one ``SrmetaError`` line, and the input left
as it was. The oracle is the request itself (``ceil(outscale * side)``, the input's mode).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import srmeta
from srmeta.cli import main

MODES = ("L", "LA", "RGB", "RGBA", "I;16", "1", "P", "I", "F")
KEPT = {"P": ("RGB",)}  # a palette cannot hold the result: it comes back RGB(A)


def _image(mode: str, height: int, width: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    if mode == "F":
        return Image.fromarray(rng.random((height, width)).astype(np.float32), mode="F")
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65536, (height, width)).astype(np.int32), "I")
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    return Image.fromarray(rgba).convert(mode)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(MODES),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    scale=st.sampled_from([2, 3, 4]),
    outscale=st.one_of(st.none(), st.floats(0.3, 5.0), st.sampled_from([0.0, -1.0, math.nan])),
    seed=st.integers(0, 3),
)
def test_pil_images_of_any_mode_and_size(mode, height, width, scale, outscale, seed):
    image = _image(mode, height, width, seed)
    before = image.tobytes()
    try:
        out = srmeta.upscale(image, scale=scale, model="bicubic", outscale=outscale)
    except srmeta.SrmetaError as err:
        assert "\n" not in str(err) and str(err)
        assert outscale is not None and not (math.isfinite(outscale) and outscale > 0)
    else:
        factor = scale if outscale is None else outscale
        want = (math.ceil(width * factor - 1e-9), math.ceil(height * factor - 1e-9))
        assert out.size == want
        assert out.mode in KEPT.get(mode, (mode,)) or (mode == "P" and out.mode == "RGBA")
    assert image.tobytes() == before  # the caller's image is untouched


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    suffix=st.sampled_from([".png", ".jpg", ".bmp", ".webp", ".tif"]),
    mode=st.sampled_from(["L", "RGB", "RGBA", "LA"]),
    size=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    option=st.sampled_from(
        [
            [],
            ["--outscale", "1.5"],
            ["--outscale", "0"],
            ["--tile", "-3"],
            ["--tile-memory", "nan"],
            ["--ext", "jpg"],
            ["--quality", "0"],
        ]
    ),
)
def test_cli_on_generated_files(tmp_path_factory, capsys, suffix, mode, size, option):
    folder = tmp_path_factory.mktemp("cli")
    path = folder / f"in{suffix}"
    image = _image(mode, size[1], size[0], 0)
    if suffix in (".jpg", ".bmp") and mode in ("RGBA", "LA"):
        image = image.convert(mode[:-1] if mode == "LA" else "RGB")
    image.save(path)
    original = path.read_bytes()
    try:
        code = main(
            ["upscale", str(path), "--model", "bicubic", "--scale", "2", "--quiet", *option]
        )
    except SystemExit as stop:  # argparse refusing an option value
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert path.read_bytes() == original
    outputs = sorted(p.name for p in folder.iterdir() if p.name != path.name)
    if code == 0:
        assert len(outputs) == 1
    else:
        assert code == 2 and outputs == []  # no output for a failed input
