"""The published numbers the official checkpoints are held to (:mod:`zoo_table`), each row
with its source. Only values read in a source are here; a cell not found stays out and
shows as "—". Y-channel PSNR (dB) / SSIM, MATLAB-bicubic LR, border = scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATASETS = ("Set5", "Set14", "BSD100", "Urban100")
Cells = dict[int, dict[str, tuple[float, float]]]  # scale -> set -> (PSNR, SSIM)


def four_sets(rows: dict[int, tuple[tuple[float, float], ...]]) -> Cells:
    """Cells from ``scale -> (PSNR, SSIM) of each of`` :data:`DATASETS`, in order."""
    return {scale: dict(zip(DATASETS, values, strict=True)) for scale, values in rows.items()}


@dataclass(frozen=True)
class Published:
    """One published row: a model, where its numbers were read, its sets and scales."""

    model: str
    parameters: str  # as the source writes it; "—" when it gives none
    source: str
    cells: Cells = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """An architecture's published rows and, where a cell is further than the table's
    threshold from them, what is known of why (``note``, Markdown).

    ``truncated``: also score the family's files with the output truncated to uint8, the
    way its official test script saves images, to measure what that costs.
    """

    arch: str
    name: str
    rows: tuple[Published, ...]
    note: str = ""
    truncated: bool = False


IMDN = Published(
    "IMDN",
    "—",
    'Hui et al., "Lightweight Image Super-Resolution with Information Multi-distillation'
    ' Network", ACM MM 2019, results table (as the former benchmarks/imdn_table.py recorded it)',
    four_sets(
        {
            2: ((38.00, 0.9605), (33.63, 0.9177), (32.19, 0.8996), (32.17, 0.9283)),
            3: ((34.36, 0.9270), (30.32, 0.8417), (29.09, 0.8046), (28.17, 0.8519)),
            4: ((32.21, 0.8948), (28.58, 0.7811), (27.56, 0.7353), (26.04, 0.7838)),
        }
    ),
)

# The Y-channel averages of the official test logs of the released files (the numbers the
# paper's table rounds: its Set5 x4 32.13/0.8948 is 32.131149/0.894811 here).
PAN = Published(
    "PAN",
    "272K (x4; README and abstract)",
    'Zhao et al., "Efficient Image Super-Resolution Using Pixel Attention", ECCV 2020'
    " workshops; values from the official test logs zhaohengyuan1/PAN @a2097454:"
    ' results/PANx{2,3,4}_DF2K/test_PANx*_DF2Ktrain_200912-*.log ("Y channel, average'
    ' PSNR/SSIM")',
    four_sets(
        {
            2: (
                (38.000670, 0.960488),
                (33.592740, 0.918051),
                (32.181226, 0.899731),
                (32.014669, 0.927327),
            ),
            3: (
                (34.400281, 0.927170),
                (30.355270, 0.842204),
                (29.104549, 0.804906),
                (28.106838, 0.851039),
            ),
            4: (
                (32.131149, 0.894811),
                (28.610749, 0.782151),
                (27.591421, 0.736271),
                (26.106035, 0.785436),
            ),
        }
    ),
)

CARN_M = Published(
    "CARN-M",
    "—",
    'Ahn et al., "Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual'
    " Network\", ECCV 2018, results table (an image in nmhkahn/CARN-pytorch's README), as"
    " transcribed in shared/peers/README.md; the other cells were not found in text",
    {
        2: {"Set5": (37.53, 0.9583)},
        3: {"Set5": (33.99, 0.9236)},
        4: {"Set5": (31.92, 0.8903), "Set14": (28.42, 0.7762)},
    },
)

NOT_FOUND = "the paper's table was not found in any text source searched (its sets are empty)"

FAMILIES: dict[str, Family] = {
    "imdn": Family("imdn", "IMDN", (IMDN,)),
    "pan": Family("pan", "PAN", (PAN,)),
    "carn_m": Family(
        "carn_m",
        "CARN-M",
        (CARN_M,),
        note=(
            "CARN-pytorch's README says the released models were trained differently"
            " from its previous version (batch and patch size raised to 64 and 64, group"
            " convolutions in the upsampler instead of `reduce_upsample`), so the file need"
            " not be the network of the paper's table. The repository's"
            " `carn/sample.py` also saves outputs with"
            " `tensor.mul(255).clamp(0, 255).byte()`, which truncates where the protocol"
            " rounds; the rows marked (truncated), and the differences in brackets above,"
            " score the same file that way."
        ),
        truncated=True,
    ),
    "rfdn": Family(
        "rfdn",
        "RFDN",
        (
            Published(
                "RFDN / RFDN-L",
                "—",
                'Liu et al., "Residual Feature Distillation Network for Lightweight Image'
                f' Super-Resolution", ECCV 2020 workshops: {NOT_FOUND}',
            ),
        ),
        note=(
            "`RFDN_AIM_x4.pth` is the AIM 2020 challenge model (`njulj/RFDN`"
            " trained_model/RFDN_AIM.pth, 50 features, 4 blocks, 433K parameters), not the"
            " paper's RFDN or RFDN-L: the challenge asked for less runtime, parameters or"
            " FLOPs at no less than MSRResNet's PSNR, so no paper row is its reference."
        ),
    ),
    "rlfn": Family(
        "rlfn",
        "RLFN",
        (
            Published(
                "RLFN_ntire",
                "0.317M (bytedance/RLFN README)",
                'Kong et al., "Residual Local Feature Network for Efficient'
                f' Super-Resolution", CVPR 2022 workshops: {NOT_FOUND}; the README'
                " gives the challenge model's runtime, parameters and FLOPs only",
            ),
        ),
        note=(
            "`RLFN_NTIRE2022_x4.pth` is the NTIRE 2022 challenge model (`team04_rlfn.pth`,"
            " 317K parameters as the RLFN README's RLFN_ntire), not the paper's RLFN-S or"
            " RLFN."
        ),
    ),
}
