"""Take the README's screenshots of the served dashboard in Debian's Chromium.

Usage: ``.venv/bin/python docs/screenshots.py [--source data/] [--first-screen]`` (needs the
test extras). Writes outputs/screenshots/dashboard_<tab>.png, one per tab, after the charts
have rendered (to look at, not to commit); with ``--first-screen``, the README's two in
docs/images: first_screen.png (1280×800) and phone.png (390×844).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from dashboard.ui.tabs import TABS  # noqa: E402

from browser import chromium_page, served_dashboard, wait_rendered  # noqa: E402


def main() -> None:
    """Serve the dashboard, open it, and save one screenshot per tab."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=HERE.parent / "data")
    parser.add_argument(
        "--out",
        type=Path,
        help="default: docs/images with --first-screen, else outputs/screenshots",
    )
    parser.add_argument("--query", default="", help="query string, e.g. segment_by=region")
    parser.add_argument("--first-screen", action="store_true", help="the README's two views")
    args = parser.parse_args()
    if args.out is None:
        args.out = HERE / "images" if args.first_screen else HERE.parent / "outputs" / "screenshots"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.first_screen:
        first_screens(args.source, args.out)
        return
    with served_dashboard(args.source) as url, chromium_page(1500, 1900) as (page, errors, _):
        started = time.monotonic()
        page.goto(f"{url}?{args.query}" if args.query else url)
        wait_rendered(page)
        print(f"first render: {time.monotonic() - started:.1f} s")
        for tab in (tab.name for tab in TABS):
            page.get_by_text(tab, exact=True).first.click()
            page.wait_for_timeout(4000)
            slug = tab.lower().replace(" & ", "_").replace(" ", "_")
            path = args.out / f"dashboard_{slug}.png"
            page.screenshot(path=str(path), timeout=90_000)
            print(f"wrote {path}")
        if errors:
            print("console errors:", *errors, sep="\n  ")


def first_screens(source: Path, out: Path) -> None:
    """The first screen at 1280×800 and a phone at 390×844, as a user opens the page.

    Parameters
    ----------
    source : Path
        Data source served.
    out : Path
        Folder of the PNG files.
    """
    views = (("first_screen.png", 1280, 800), ("phone.png", 390, 844))
    with served_dashboard(source) as url:
        for name, width, height in views:
            with chromium_page(width, height) as (page, errors, _):
                page.goto(url)
                wait_rendered(page)
                page.wait_for_timeout(4000)
                page.screenshot(path=str(out / name))
                print(f"wrote {out / name}", *errors, sep="\n  ")


if __name__ == "__main__":
    main()
