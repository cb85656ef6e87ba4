"""A PNG screenshot of an `srmeta compare` page as headless Chromium renders it (the README's
docs/figures/compare.png):

    python scripts/screenshot_report.py docs/compare.html docs/figures/compare.png

Needs ``/usr/bin/chromium`` and the ``playwright`` package (the ``test`` extra); Playwright
drives that Chromium and never downloads a browser. The page is opened from the file, offline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="an srmeta compare HTML file")
    parser.add_argument("png", type=Path, help="the screenshot to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1500, help="height of the shot, px")
    args = parser.parse_args()
    if not args.page.is_file():
        raise SystemExit(f"error: {args.page}: no such file")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.route("http*://**", lambda route: route.abort())  # offline: nothing fetched
        page.goto(args.page.resolve().as_uri())
        page.wait_for_load_state("load")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.png))
        browser.close()
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
