"""Helpers for browser tests: serve the app, drive Debian's Chromium with Playwright.

Charts are canvas, so tests read what the page shows through Bokeh's models
(``Bokeh.documents[0].all_models``): titles, and the data of column data sources.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BROWSER_ENV = {"BOKEH_LOG_LEVEL": "info"}
"""Environment of the servers a browser opens: BokehJS logs at info level, even in dev mode."""
LOCAL_PREFIXES = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "file:", "about:")

RENDERED_JS = """() => window.Bokeh && Bokeh.documents.length > 0 &&
    [...Bokeh.documents[0].all_models].some(m => typeof m.text === 'string' &&
        m.text.replace(/\\n/g, ' ').includes(' by month'))"""

TITLES_JS = """() => [...Bokeh.documents[0].all_models]
    .filter(m => m.type === 'Title' || (m.constructor && m.constructor.name === 'Title'))
    .map(m => m.text && m.text.replace(/\\n/g, ' ')).filter(t => t).sort()"""
"""Titles on one line: a long title is drawn on several (``wrap_title``), each break a space."""

SOURCES_JS = """() => {
  const out = [], seen = new Set();
  const walk = view => {
    for (const renderer of view.model.renderers ?? []) {
      const source = renderer.data_source;
      if (!source || seen.has(source.id)) continue;
      seen.add(source.id);
      const data = {};
      for (const [k, v] of (source.data instanceof Map ? source.data.entries()
          : Object.entries(source.data))) {
        data[k] = Array.from(v).slice(0, 200).map(
          x => typeof x === 'number' ? Math.round(x * 1e6) / 1e6 : String(x));
      }
      data.__id__ = source.id;
      out.push(data);
    }
    for (const child of view.child_views ?? []) walk(child);
  };
  for (const root of Object.values(Bokeh.index)) walk(root);
  return out;
}"""
"""The data of every chart drawn in the page now (charts update in place, so a source
keeps its id and gets new data; replaced charts are not drawn any more)."""


def require_chromium() -> None:
    """Skip the test with a clear message when no Chromium is installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "no Chromium here: install Debian's `chromium` (.ci/run does) for browser tests"
        )


@contextlib.contextmanager
def served_dashboard(
    source: Path, *extra: str, timeout: float = 90, env: dict | None = None
) -> Iterator[str]:
    """Run ``collections-dashboard serve`` on 127.0.0.1 (:func:`servers.serving`); yield the
    app's URL.

    Parameters
    ----------
    source : Path
        Data source.
    *extra : str
        Further serve options.
    timeout : float
        Seconds to wait for the server to answer.
    env : dict, optional
        Extra environment variables for the server.
    """
    with serving(source, *extra, timeout=timeout, env={**BROWSER_ENV, **(env or {})}) as server:
        yield server.url


@contextlib.contextmanager
def chromium_page(width: int = 1500, height: int = 1600):
    """A Playwright page in Debian's Chromium that records console errors and requests.

    Yields
    ------
    (page, console_errors, outside_requests)
    """
    from playwright.sync_api import sync_playwright

    require_chromium()
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "request",
                lambda r: None if r.url.startswith(LOCAL_PREFIXES) else outside.append(r.url),
            )
            yield page, errors, outside
        finally:
            browser.close()


def wait_rendered(page, timeout_ms: int = 60_000) -> None:
    """Wait until Bokeh has drawn the dashboard's trend chart."""
    page.wait_for_function(RENDERED_JS, timeout=timeout_ms)


def titles(page) -> list[str]:
    """Every chart title in the page (a replaced chart's title may linger in Bokeh's models)."""
    return page.evaluate(TITLES_JS)


def chart_data(page) -> list[dict]:
    """The data of the charts drawn in the page now (first 200 values per column)."""
    return page.evaluate(SOURCES_JS)


def wait_for_change(page, read, before, timeout_s: float = 30.0):
    """Poll ``read(page)`` until it differs from ``before``; return the new value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = read(page)
        if now != before:
            return now
        page.wait_for_timeout(250)
    raise AssertionError(f"the page did not change within {timeout_s} s")


def wait_until(page, predicate, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate(page)`` until it is true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate(page):
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{what} not met within {timeout_s} s")
