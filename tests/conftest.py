"""Shared fixtures. Tests use the real benchmark images under the data root.

CI points ``SRMETA_DATA`` at ``../shared/data``; without it the tests look there relative
to the repository. A missing data root fails loudly: a skipped test checks nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ.get("SRMETA_DATA", REPO.parent / "shared" / "data"))
    if not (root / "Set5" / "HR").is_dir():
        pytest.fail(f"benchmark data not found under {root}; set SRMETA_DATA")
    return root


@pytest.fixture
def smoke_pool(tmp_path, data_root) -> Path:
    """A folder of 8 T91 images: the training pool of the grid's smoke runs."""
    pool = tmp_path / "pool"
    pool.mkdir()
    for path in sorted((Path(data_root) / "T91").rglob("*.png"))[:8]:
        shutil.copy(path, pool / path.name)
    return pool


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep LR caches of tests out of the user's cache folder."""
    monkeypatch.setenv("SRMETA_CACHE", str(tmp_path_factory.getbasetemp() / "lr-cache"))


@pytest.fixture(scope="session")
def peers_root() -> Path:
    """Third-party models (official IMDN weights, OpenCV files), never shipped."""
    root = Path(os.environ.get("SRMETA_PEERS", REPO.parent / "shared" / "peers"))
    if not (root / "torch" / "IMDN_x4.pth").is_file():
        pytest.fail(f"official IMDN weights not found under {root}/torch; set SRMETA_PEERS")
    return root


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A tiny x2 EDSR (1 block x 8 features) saved as srmeta writes models: the stand-in
    for a trained weights file wherever only the handling of files and images is tested."""
    import torch

    from srmeta.models.files import save_model_file
    from srmeta.models.loading import load_model

    options = {"n_resblocks": 1, "n_feats": 8}
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny_x2.safetensors"
    save_model_file(path, load_model("edsr", 2, **options), "edsr", 2, options)
    return path


@pytest.fixture
def camera_pairs(tmp_path: Path, data_root: Path) -> Path:
    """Four x2 pairs cut from Set14: a 'camera' whose LR is blurred before the bicubic."""
    from PIL import Image

    from srmeta.data.benchmarks import find_dataset, load_hr, mod_crop
    from srmeta.resize import imresize

    folder = tmp_path / "cam"
    folder.mkdir()
    for i, path in enumerate(find_dataset("Set14", data_root).files[:4]):
        hr = mod_crop(load_hr(path), 2)[:, :96, :96].expand(3, -1, -1).contiguous()
        blurred = imresize(imresize(hr, 0.5), 2.0)  # a soft lens
        for image, suffix in ((hr, "H"), (imresize(blurred, 0.5), "L")):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}{suffix}.png")
    return folder
