"""Draw the demo's sample image (src/srmeta/bundled/sample.png): 256x256, made from scratch.

Everything in it is synthetic, so it can ship with the package: a brick wall and window
grid (the regular structure SR must keep straight), a zone plate (every frequency and
orientation), thin lines at several angles, text, and smooth gradients (the easy pixels).
Deterministic: the same file on every run.

    python scripts/make_sample_image.py [--out src/srmeta/bundled/sample.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 256
OUT = Path(__file__).resolve().parents[1] / "src" / "srmeta" / "bundled" / "sample.png"


def draw() -> Image.Image:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    sky = np.stack([90 + 60 * y / SIZE, 140 + 50 * y / SIZE, 220 - 40 * x / SIZE], axis=-1)
    image = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    canvas = ImageDraw.Draw(image)
    # Brick wall, lower left.
    for row, top in enumerate(range(140, 256, 12)):
        offset = 0 if row % 2 == 0 else 12
        for left in range(-offset, 128, 24):
            shade = 150 + (row * 37 + left) % 40
            canvas.rectangle([left, top, left + 22, top + 10], fill=(shade, 70, 50))
    # Building with a grid of windows, upper left.
    canvas.rectangle([8, 20, 120, 132], fill=(200, 200, 190))
    for top in range(28, 124, 16):
        for left in range(16, 112, 14):
            canvas.rectangle([left, top, left + 8, top + 10], fill=(40, 60, 90))
            canvas.line([left + 4, top, left + 4, top + 10], fill=(220, 220, 220))
    # Zone plate, upper right.
    cy, cx, r = 64.0, 192.0, 56.0
    d2 = (y - cy) ** 2 + (x - cx) ** 2
    zone = 127.5 + 127.5 * np.cos(np.pi * d2 / 400.0)
    pixels = np.asarray(image).copy()
    inside = d2 <= r * r
    pixels[inside] = zone[inside, None].astype(np.uint8)
    image = Image.fromarray(pixels)
    canvas = ImageDraw.Draw(image)
    # Fan of thin lines and text, lower right.
    for k in range(12):
        angle = np.pi * k / 24
        canvas.line(
            [136, 250, 136 + 110 * np.cos(angle), 250 - 110 * np.sin(angle)],
            fill=(20, 20, 20),
            width=1,
        )
    font = ImageFont.load_default(size=22)
    canvas.text(
        (150, 150), "srmeta", fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0)
    )
    canvas.text((150, 180), "x4 SR", fill=(250, 220, 40), font=font)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    draw().save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
