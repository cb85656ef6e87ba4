"""The shipped blind models against their reason to exist, with bicubic as the oracle.

On noisy JPEG inputs the clean bundled models do no better than bicubic (docs/results.md,
"Realistically degraded inputs"); a blind model that does not beat both on Set5 is a
regression, whatever its recipe hash says. Every shipped ``srmeta-real`` file is checked.
"""

from __future__ import annotations

import pytest

import srmeta
from srmeta.models.bundled import shipped_models

NOISY_JPEG = "down:bicubic noise:6 jpeg:30 seed:1"
CLEAN = {"srmeta-real": "srmeta", "srmeta-real-fast": "srmeta-fast"}
REAL = [(family, scale) for family, scale in shipped_models() if family in CLEAN]


def _set5_psnr(model: str, scale: int, data_root) -> float:
    report = srmeta.evaluate(model, ["Set5"], scale, degradation=NOISY_JPEG, data_root=data_root)
    (score,) = report.summary()
    return score.psnr


def test_the_quality_and_fast_blind_models_ship_at_x4():
    assert {("srmeta-real", 4), ("srmeta-real-fast", 4)} <= set(REAL)


@pytest.mark.parametrize(("family", "scale"), REAL)
def test_a_blind_model_beats_bicubic_and_its_clean_twin_on_noisy_jpeg(family, scale, data_root):
    blind = _set5_psnr(f"{family}-x{scale}", scale, data_root)
    bicubic = _set5_psnr("bicubic", scale, data_root)
    clean = _set5_psnr(f"{CLEAN[family]}-x{scale}", scale, data_root)
    assert blind > bicubic, (blind, bicubic)  # the margins, by scale: docs/bundled.md
    assert blind > clean + 0.3, (blind, clean)
