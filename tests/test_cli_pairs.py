"""``srmeta pairs``: per-pair alignment and blur, the pooled blur and the pool string it
suggests, against pairs of a synthetic camera with a known Gaussian lens."""

from __future__ import annotations

import json

import pytest

from camera_pairs import write_camera
from srmeta.cli import main


def test_pairs_reports_each_pair_and_the_camera_blur(tmp_path, data_root, capsys) -> None:
    folder = write_camera(tmp_path, data_root, 1.2, scale=3, count=3)
    report = tmp_path / "cam.json"
    code = main(["pairs", "--pairs", str(folder), "--scale", "3", "--json", str(report),
                 "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("| 00") == 3 and "3 pairs fit x3" in out
    saved = json.loads(report.read_text())
    assert [r["pair"] for r in saved["pairs"]] == ["000", "001", "002"]
    for row in saved["pairs"]:  # made aligned: no shift, no zoom, nothing registered
        assert row["displacement"] < 0.05 and not row["registered"]
        assert row["blur_sigma"] == pytest.approx(1.2, abs=0.051)
    assert saved["blur"]["sigma"] == pytest.approx(1.2, abs=0.051)
    assert saved["pool_degradation"] in out
    # an existing report is not replaced without --force, before any work
    code = main(["pairs", "--pairs", str(folder), "--scale", "3", "--json", str(report)])
    assert code == 2 and "--force" in capsys.readouterr().err


def test_pairs_refuses_a_bad_pair_in_one_line(tmp_path, data_root, capsys) -> None:
    folder = write_camera(tmp_path, data_root, 1.0, scale=2, count=2)
    (folder / "001H.png").unlink()
    code = main(["pairs", "--pairs", str(folder), "--scale", "2", "--no-blur"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "001L.png has no HR partner" in err
    code = main(["pairs", "--scale", "2"])
    assert code == 2 and "give --pairs DIR" in capsys.readouterr().err
