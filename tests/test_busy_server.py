"""A build asked for from one page does not stall the others (hardening issue, item 2).

A session that moves the payment window in *Advanced* makes the server build a new cube.
`serve` hands page events to a thread pool (`panel serve --num-threads`), so meanwhile the
server keeps answering: another user's page request is served within a second.

A link that carries new build settings (``/app?after=45``) does not build while its page is
made (on the server's event loop): the page comes with the settings the server has built, a
note says the link's tables are being built, and they are built in a thread once the page is
open; the page then shows the link's settings.
"""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest

from dashboard.demo import write_demo

from browser import chromium_page, require_chromium, served_dashboard, wait_rendered

AFTER_JS = """value => {
    const m = [...Bokeh.documents[0].all_models].find(m =>
        m.title === 'Window: days after due' && typeof m.value === 'number');
    m.value = value;
}"""


@pytest.fixture(scope="module")
def larger_book(tmp_path_factory):
    """A book whose build takes a few seconds here (the demo's takes one)."""
    folder = tmp_path_factory.mktemp("busy") / "book"
    write_demo(folder, "parquet", 40_000, "2022-01", "2025-12", 3, progress=False)
    return folder


def page_seconds(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        assert response.status == 200
        response.read()
    return time.perf_counter() - started


def header_with(page, text: str, timeout_ms: int = 300_000) -> str:
    """Wait until the page's header (source, as-of date, window) contains ``text``; return it."""
    found = """text => window.Bokeh && Bokeh.documents.length > 0 ?
        [...Bokeh.documents[0].all_models].find(m =>
            typeof m.text === 'string' && m.text.includes(text))?.text : undefined"""
    page.wait_for_function(f"text => ({found})(text) !== undefined", arg=text, timeout=timeout_ms)
    return page.evaluate(found, text)


@pytest.mark.browser
@pytest.mark.slow
def test_another_session_is_answered_while_a_build_runs(larger_book):
    require_chromium()
    with served_dashboard(larger_book, timeout=300) as url:
        quiet = min(page_seconds(url) for _ in range(3))
        with chromium_page() as (page, errors, _):
            page.goto(url)
            wait_rendered(page, timeout_ms=120_000)
            page.evaluate(AFTER_JS, 45)  # a window nobody built yet: a build starts
            time.sleep(0.5)
            busy = page_seconds(url)
            page.wait_for_function(
                """() => [...Bokeh.documents[0].all_models].some(m =>
                    typeof m.text === 'string' && m.text.includes('45 after due'))""",
                timeout=300_000,
            )
            assert errors == []
    # measured here: 0.58 s (a quiet page load 0.50 s); 3.6 s without the thread pool (the
    # page waited for the whole build). The build shares the 2 cores with the page and
    # Chromium: on a slower day, in a whole-suite run, 2.03 s against a quiet 0.95 s
    assert busy < max(1.0, 2.5 * quiet), (busy, quiet)


@pytest.mark.browser
@pytest.mark.slow
def test_a_link_with_new_settings_does_not_stall_the_others(larger_book):
    """While a browser opens a link to a window nobody built, other pages are answered; the
    linked page then shows the link's window, with the figures of a page set to it by hand."""
    require_chromium()
    with served_dashboard(larger_book, timeout=300) as url:
        quiet = min(page_seconds(url) for _ in range(3))
        # a link's page is made without its build (which starts once a browser opens it)
        link_page = page_seconds(url + "?after=44")
        seconds: list[float] = []
        done = threading.Event()

        def other_user() -> None:
            # first once the linked page would be made if it did not build (a build there
            # would stall this request until it ends), then while its tables are built in a
            # thread, until the page shows them
            done.wait(max(0.5, 1.5 * quiet))
            while not done.is_set():
                seconds.append(page_seconds(url))
                done.wait(0.5)

        with chromium_page() as (page, errors, _):
            other = threading.Thread(target=other_user)
            other.start()
            try:
                page.goto(url + "?after=45", timeout=120_000)  # a window nobody built yet
                linked = header_with(page, "to 45 after due")
            finally:
                done.set()
                other.join()
            linked_url, linked_errors = page.url, list(errors)
        with chromium_page() as (page, errors, _):  # the same window chosen by hand
            page.goto(url, timeout=120_000)
            wait_rendered(page, timeout_ms=120_000)
            page.evaluate(AFTER_JS, 45)
            by_hand = header_with(page, "to 45 after due")
            linked_errors += errors
    print(
        f"quiet page {quiet:.2f} s; link page {link_page:.2f} s; "
        f"pages while the link loaded: {[round(t, 2) for t in seconds]}; errors {linked_errors[:2]}"
    )
    assert linked == by_hand
    # measured here (2 shared cores, loaded): quiet 6.0 s, link page 6.1 s, other page 5.8 s;
    # before this change the link page built the cube: 14.9 s, other page 18.7 s (quiet 4.5 s)
    assert link_page < max(1.0, 2 * quiet), (link_page, quiet)
    assert seconds, "no page was requested while the link loaded"
    # the request made while a build in the making of the linked page would still run (the
    # later ones share the server with that page's first drawing, its build and its redraw)
    assert seconds[0] < max(1.0, 2 * quiet), (seconds, quiet)
    assert "after=45" in linked_url and linked_errors == []
