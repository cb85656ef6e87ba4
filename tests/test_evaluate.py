"""Evaluation against the published bicubic table and the protocol's reference numbers."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from torch import nn

from srmeta.data.lr_cache import LRCache
from srmeta.errors import SrmetaError
from srmeta.evaluation import evaluate
from srmeta.models.bicubic import Bicubic
from srmeta.protocol import RGB

# Bicubic row of published tables (e.g. RCAN, IMDN, CARN): PSNR / SSIM on Y.
PUBLISHED = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set5", 3): (30.39, 0.8682),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 4): (26.00, 0.7027),
}
# protocol.md: bicubic scored like a model (RGB uint8 LR -> RGB bicubic -> float Y).
MODEL_STYLE_SET5 = {2: (33.6734, 0.9303), 3: (30.4033, 0.8689), 4: (28.4290, 0.8111)}


def _summary(report):
    return {(s.dataset, s.scale): s for s in report.summary()}


def test_y_plane_bicubic_reproduces_the_published_table(data_root):
    report = evaluate(
        "bicubic", ["Set5"], [2, 3, 4], protocol="y-plane", data_root=data_root, progress=False
    )
    report.images += evaluate(
        "bicubic", ["Set14"], [4], protocol="y-plane", data_root=data_root, progress=False
    ).images
    rows = _summary(report)
    for key, (psnr, ssim) in PUBLISHED.items():
        assert rows[key].psnr == pytest.approx(psnr, abs=0.01), key
        assert rows[key].ssim == pytest.approx(ssim, abs=0.001), key
    # protocol.md: this pipeline gives Set5 33.6614 / 30.3922 / 28.4207 exactly.
    assert rows[("Set5", 2)].psnr == pytest.approx(33.6614, abs=5e-5)
    assert rows[("Set5", 4)].psnr == pytest.approx(28.4207, abs=5e-5)


def test_bicubic_scored_like_a_model_matches_protocol_reference(data_root):
    report = evaluate("bicubic", ["Set5"], [2, 3, 4], data_root=data_root, progress=False)
    rows = _summary(report)
    for scale, (psnr, ssim) in MODEL_STYLE_SET5.items():
        assert rows[("Set5", scale)].psnr == pytest.approx(psnr, abs=5e-5)
        assert rows[("Set5", scale)].ssim == pytest.approx(ssim, abs=5e-5)
        assert abs(rows[("Set5", scale)].psnr - PUBLISHED[("Set5", scale)][0]) < 0.03
    rounded = _summary(
        evaluate("bicubic", ["Set5"], [2], round_y=True, data_root=data_root, progress=False)
    )
    drop = rows[("Set5", 2)].psnr - rounded[("Set5", 2)].psnr
    assert 0.02 < drop < 0.05  # protocol.md: "about 0.034 dB"


def test_lr_cache_is_written_once_and_reused(data_root, tmp_path):
    cache = LRCache(tmp_path / "cache")
    first = evaluate("bicubic", ["Set5"], [3], data_root=data_root, cache=cache, progress=False)
    files = sorted((tmp_path / "cache").rglob("*.png"))
    assert len(files) == 5
    stamps = [f.stat().st_mtime_ns for f in files]
    second = evaluate("bicubic", ["Set5"], [3], data_root=data_root, cache=cache, progress=False)
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert [r.psnr for r in first.images] == [r.psnr for r in second.images]
    noisy = evaluate(
        "bicubic",
        ["Set5"],
        [3],
        degradation="noise:5 seed:3",
        data_root=data_root,
        cache=cache,
        progress=False,
    )
    assert len(sorted((tmp_path / "cache").rglob("*.png"))) == 10
    assert noisy.images[0].psnr < first.images[0].psnr


class _RGBOnlyBicubic(nn.Module):
    """A model of the user's (no srmeta info: taken to be RGB) that insists on three
    channels, like every trained SR network."""

    def __init__(self, scale):
        super().__init__()
        self.inner = Bicubic(scale)

    def forward(self, x):
        assert x.shape[1] == 3 and x.is_floating_point()
        return self.inner(x)


def test_gray_image_is_replicated_for_rgb_models(tmp_path, data_root):
    """Replicated gray has Y = 16 + 219 g / 255: errors shrink by 219/255, PSNR rises by
    20 log10(255/219) = 1.3233 dB over scoring the gray plane directly."""
    folder = tmp_path / "gray"
    folder.mkdir()
    bridge = Image.open(data_root / "Set14" / "HR" / "bridge.png")
    bridge.crop((0, 0, 120, 96)).save(folder / "bridge.png")
    direct = evaluate("bicubic", [str(folder)], [2], data_root=data_root, progress=False)
    via_rgb = evaluate(_RGBOnlyBicubic, [str(folder)], [2], data_root=data_root, progress=False)
    gain = via_rgb.images[0].psnr - direct.images[0].psnr
    assert gain == pytest.approx(20 * math.log10(255 / 219), abs=0.02)
    with pytest.raises(SrmetaError, match="one channel"):
        evaluate(
            _RGBOnlyBicubic, ["Set5"], [2], protocol="y-plane", data_root=data_root, progress=False
        )


def test_lr_cache_keeps_gray_and_replicated_lr_apart(tmp_path, data_root):
    """A gray image's LR for an RGB model (three replicated planes) and for a gray model
    (one plane) are different files; reading one for the other used to crash (or worse)."""
    folder = tmp_path / "gray"
    folder.mkdir()
    bridge = Image.open(data_root / "Set14" / "HR" / "bridge.png")
    bridge.crop((0, 0, 120, 96)).save(folder / "bridge.png")
    cache = LRCache(tmp_path / "cache")
    fresh = {
        m: evaluate(m, [str(folder)], [3], data_root=data_root, progress=False).images[0].psnr
        for m in ("bicubic", _RGBOnlyBicubic)
    }
    for model in (_RGBOnlyBicubic, "bicubic", _RGBOnlyBicubic):
        cached = evaluate(
            model, [str(folder)], [3], data_root=data_root, cache=cache, progress=False
        )
        assert cached.images[0].psnr == fresh[model]
    assert len(sorted((tmp_path / "cache").rglob("*.png"))) == 2


def test_refuses_to_score_meta_dataset_images(data_root):
    with pytest.raises(SrmetaError, match="baby"):
        evaluate("bicubic", ["Set5"], [2], data_root=data_root, exclude={"baby"}, progress=False)


def test_wrong_output_size_is_reported(data_root):
    shrinker = lambda scale: nn.Identity()  # noqa: E731
    with pytest.raises(SrmetaError, match="does not match HR"):
        evaluate(shrinker, ["Set5"], [2], data_root=data_root, progress=False)


def test_unknown_protocol():
    with pytest.raises(SrmetaError, match="unknown protocol"):
        evaluate("bicubic", ["Set5"], [2], protocol="ycbcr", progress=False)


def test_float_model_output_is_quantised_before_scoring(data_root):
    class Shifted(nn.Module):
        def forward(self, x):  # float in; bicubic's 8-bit values plus less than half a level
            up = Bicubic(2)(torch.round(x * 255).to(torch.uint8))
            return up.float() / 255 + 0.3 / 255

    plain = evaluate("bicubic", ["Set5"], [2], data_root=data_root, progress=False)
    shifted = evaluate(lambda s: Shifted(), ["Set5"], [2], data_root=data_root, progress=False)
    assert [a.psnr for a in plain.images] == [b.psnr for b in shifted.images]


def test_an_untrained_architecture_is_refused():
    with pytest.raises(SrmetaError, match="without trained weights"):
        evaluate("edsr", ["Set5"], [2], progress=False)


def test_on_image_hands_over_what_was_scored(data_root):
    """The hook gets each image's ground truth and output: scoring them again gives the
    same numbers (how ``srmeta compare`` shows exactly the images behind its scores)."""
    seen = []
    report = evaluate(
        "bicubic",
        ["Set5"],
        [3],
        data_root=data_root,
        on_image=lambda score, hr, sr: seen.append((score, hr, sr)),
    )
    assert [score for score, _, _ in seen] == report.images
    for score, hr, sr in seen:
        assert hr.dtype == torch.uint8 and sr.shape == hr.shape
        again = RGB.score(sr, hr, 3)
        assert (again.psnr, again.ssim) == (score.psnr, score.ssim)
