"""The ``srmeta compare`` page: one self-contained HTML file.

Style and script come from ``compare.css`` and ``compare.js`` beside this module and are
inlined; pictures are PNG data URIs and charts inline SVG, so the page fetches nothing and
opens offline. Every text from outside (labels, paths, names) is escaped.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from html import escape
from importlib import resources

from srmeta.report.comparison import (
    BICUBIC,
    Comparison,
    CropView,
    ImageKey,
    Score,
    ScoreColumn,
    SetKey,
)
from srmeta.report.svg_chart import line_chart


def _asset(name: str) -> str:
    """A style sheet or script beside this module, compacted to one line: the page is
    generated, not read, and stays small (the asset files keep no ``//`` comment after code,
    and end every statement with a semicolon, so the lines can be joined)."""
    text = resources.files("srmeta.report").joinpath(name).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line for line in lines if line and not line.startswith("//"))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _cell(score: Score | None, best: bool, label: str) -> str:
    if score is None:
        return f'<td data-label="{escape(label)}">–</td>'
    klass = ' class="best"' if best else ""
    return (
        f'<td{klass} data-label="{escape(label)}" data-psnr="{score.psnr!r}"'
        f' data-ssim="{score.ssim!r}"><span class="psnr">{score.psnr:.2f}</span> /'
        f' <span class="ssim">{score.ssim:.4f}</span></td>'
    )


def _mean_table(columns: Sequence[ScoreColumn]) -> str:
    keys: list[SetKey] = list(dict.fromkeys(k for c in columns for k in c.sets))
    head = "".join(f'<th title="{escape(c.source)}">{escape(c.label)}</th>' for c in columns)
    rows = []
    for dataset, scale in keys:
        scores = [c.sets.get((dataset, scale)) for c in columns]
        top = max((s.psnr for s in scores if s is not None), default=math.nan)
        cells = "".join(
            _cell(s, s is not None and s.psnr == top, c.label)
            for s, c in zip(scores, columns, strict=True)
        )
        rows.append(
            f'<tr data-set="{escape(dataset)}" data-scale="{scale}"><td class="name">'
            f"{escape(dataset)}</td><td>x{scale}</td>{cells}</tr>"
        )
    return (
        '<table id="mean-scores"><thead><tr><th class="name">dataset</th><th>scale</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return '<td data-v="">–</td>'
    return f'<td data-v="{value!r}">{value:.{digits}f}</td>'


def _image_table(columns: Sequence[ScoreColumn]) -> str:
    keys: list[ImageKey] = list(dict.fromkeys(k for c in columns for k in c.images))
    heads = ['<th class="name">dataset</th>', "<th>scale</th>", '<th class="name">image</th>']
    for metric in ("PSNR", "SSIM"):
        heads += [f"<th>{escape(c.label)} {metric}</th>" for c in columns]
    rows = []
    for dataset, scale, image in keys:
        scores = [c.images.get((dataset, scale, image)) for c in columns]
        psnr = "".join(_number(None if s is None else s.psnr, 2) for s in scores)
        ssim = "".join(_number(None if s is None else s.ssim, 4) for s in scores)
        rows.append(
            f'<tr><td class="name">{escape(dataset)}</td><td data-v="{scale}">x{scale}</td>'
            f'<td class="name">{escape(image)}</td>{psnr}{ssim}</tr>'
        )
    return (
        '<div class="scroll"><table id="per-image" class="sortable"><thead><tr>'
        f"{''.join(heads)}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _panel(label: str, png: bytes, side: int, caption: str, extra: str = "") -> str:
    return (
        f'<figure><img class="px{extra}" data-label="{escape(label)}" src="{data_uri(png)}"'
        f' width="{side}" height="{side}" style="--w:{side}" alt="{escape(label)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _crop(view: CropView, slider: str | None) -> str:
    dataset, scale, image = view.key
    box = (
        f"left:{100 * view.left / view.width:.2f}%;top:{100 * view.top / view.height:.2f}%;"
        f"width:{100 * view.side / view.width:.2f}%;height:{100 * view.side / view.height:.2f}%"
    )
    parts = [
        f'<article class="crop" data-key="{escape(f"{dataset}/x{scale}/{image}")}">',
        f"<h3>{escape(dataset)} {escape(image)} x{scale} · {view.side}×{view.side} px at"
        f" x={view.left}, y={view.top} of {view.width}×{view.height}</h3>",
        '<div class="row"><figure class="where"><div class="thumb">'
        f'<img src="{data_uri(view.thumbnail)}" alt="whole image"><span class="box"'
        f' style="{box}"></span></div><figcaption>whole image</figcaption></figure>',
    ]
    for panel in view.panels:
        caption = panel.label if panel.psnr is None else f"{panel.label} · {panel.psnr:.2f} dB"
        parts.append(_panel(panel.label, panel.png, view.side, caption))
    by_label = {panel.label: panel.png for panel in view.panels}
    if slider is not None and BICUBIC in by_label and slider in by_label:
        parts.append(
            '<figure class="slider"><div class="pair">'
            f'<img class="px before" src="{data_uri(by_label[BICUBIC])}" style="--w:{view.side}"'
            f' width="{view.side}" height="{view.side}" alt="{BICUBIC}">'
            f'<img class="px after" src="{data_uri(by_label[slider])}" style="--w:{view.side}"'
            f' width="{view.side}" height="{view.side}" alt="model"></div>'
            '<input type="range" min="0" max="100" value="50" aria-label="before/after">'
            f'<figcaption>{BICUBIC} | <span class="after-label">{escape(slider)}</span>'
            "</figcaption></figure>"
        )
    parts.append("</div></article>")
    return "\n".join(parts)


def _crops_section(comparison: Comparison) -> str:
    if not comparison.crops:
        return ""
    spread = ", ".join(comparison.spread)
    models = [c.label for c in comparison.columns if c.renders and c.label != BICUBIC]
    options = "".join(
        f"<option{' selected' if m == comparison.slider else ''}>{escape(m)}</option>"
        for m in models
    )
    choose = (
        f'<label>slider: {BICUBIC} | <select id="slider-model">{options}</select></label>'
        if models
        else ""
    )
    return (
        '<section id="crops"><h2>Crops</h2><p class="note">Each window is where the per-pixel'
        f" Y errors of {escape(spread)} differ most; the dB are Y-PSNR inside the window."
        " Drag a slider to wipe between bicubic and the chosen model.</p>"
        '<div class="controls"><label>zoom <input type="range" id="zoom" min="1" max="8"'
        ' value="2"> <output id="zoom-value">2×</output></label>'
        f"{choose}</div>"
        + "\n".join(_crop(v, comparison.slider) for v in comparison.crops)
        + "</section>"
    )


def _training_section(comparison: Comparison) -> str:
    if not comparison.charts and not comparison.figures:
        return ""
    charts = "".join(f"<figure>{line_chart(chart)}</figure>" for chart in comparison.charts)
    figures = "".join(
        f'<figure><img class="figure" src="{data_uri(f.png)}" alt="{escape(f.title)}">'
        f"<figcaption>{escape(f.title)}</figcaption></figure>"
        for f in comparison.figures
    )
    return (
        f'<section id="training"><h2>Training</h2><div class="row">{charts}</div>{figures}'
        "</section>"
    )


def render_page(comparison: Comparison) -> str:
    """The whole report as HTML text: sources, mean scores, crops, per-image scores and
    training, each section only when there is something to show."""
    columns = comparison.columns
    sources = "".join(f"<li><b>{escape(c.label)}</b>: {escape(c.source)}</li>" for c in columns)
    means = images = ""
    if columns:
        means = (
            '<section id="scores"><h2>Mean scores</h2><p class="note">PSNR (dB) / SSIM on Y,'
            " the mean over each set's images; the best PSNR of a row in bold.</p>"
            f"{_mean_table(columns)}</section>"
        )
        images = (
            '<section id="images"><h2>Per image</h2><p class="note">Click a header to sort.'
            f"</p>{_image_table(columns)}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(comparison.title)}</title><style>\n{_asset('compare.css')}</style>"
        f"</head><body><header><h1>{escape(comparison.title)}</h1>"
        f'<p class="note">{escape(comparison.protocol)}</p><ul>{sources}</ul></header>\n'
        f"{means}\n{_crops_section(comparison)}\n{images}\n{_training_section(comparison)}\n"
        "<footer>Made by <code>srmeta compare</code>; one file, nothing fetched.</footer>"
        f"<script>\n{_asset('compare.js')}</script></body></html>\n"
    )
