"""Figures and numbers that explain a trained run: weight maps and frequency-band errors.

Plotting needs matplotlib (``pip install srmeta[report]``); it is imported only when a
figure is drawn, so the numbers work without it.
"""

from srmeta.report.frequency_bands import (
    band_counts,
    band_errors,
    band_table,
    compare_runs_bands,
    save_band_figure,
)
from srmeta.report.weight_maps import (
    WeightMaps,
    resolve_image,
    save_weight_figure,
    spearman,
    structure_map,
    weight_maps,
    weight_share_on_structure,
    weight_statistics,
)

__all__ = [
    "WeightMaps",
    "band_counts",
    "band_errors",
    "band_table",
    "compare_runs_bands",
    "resolve_image",
    "save_band_figure",
    "save_weight_figure",
    "spearman",
    "structure_map",
    "weight_maps",
    "weight_share_on_structure",
    "weight_statistics",
]
