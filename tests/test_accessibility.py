"""The first screen, a phone, a keyboard and axe-core: the served page in Debian's Chromium.

One server on the demo data. Checks: axe-core finds no serious or critical violation on any
tab; at 1280×800 the headline tiles and the first chart are in view with no horizontal
scroll; at 390×844 the sidebar is folded behind its button, the tab bar scrolls and nothing
is wider than the screen; a change shows this session's "Updating…" note, which clears;
invalid bucket edges get an inline message and no traceback; switching the metric from a
rate to money re-formats the axis; the keyboard reaches the whole page.
"""

from __future__ import annotations

import re

import pytest
from servers import serving

from dashboard.catalog import HEADLINES
from dashboard.sources import DEFAULT_SOURCE
from dashboard.ui.tabs import TABS

from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    require_chromium,
    titles,
    wait_rendered,
    wait_until,
)

pytestmark = pytest.mark.browser

ACTIVE_JS = """() => { let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {tag: e.tagName, cls: String(e.className || ''), name: e.getAttribute('aria-label')
    || (e.textContent || '').trim().slice(0, 40), outline: s.outlineStyle,
    width: parseFloat(s.outlineWidth) || 0, top: r.top}; }"""
"""The focused element through shadow roots (null when the focus is nowhere)."""

FORMATTERS_JS = """() => [...Bokeh.documents[0].all_models]
    .filter(m => m.type === 'NumeralTickFormatter' || m.type === 'CustomJSTickFormatter')
    .map(m => m.format || m.code || '')"""


@pytest.fixture(scope="module")
def server():
    require_chromium()
    with serving(DEFAULT_SOURCE, timeout=90) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def open_page(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    wait_rendered(page)
    # the page helper (an ES module, loaded after the charts are drawn) names and fixes
    # the page every 0.7 s: checks start once it runs and has had a round
    page.wait_for_function("() => window.__collectionsHelper === true", timeout=60_000)
    page.wait_for_timeout(1500)
    return page


def open_tab(page, name: str) -> None:
    tab = page.locator(".bk-tab").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
    tab.click()
    wait_until(page, lambda p: "bk-active" in (tab.get_attribute("class") or ""), what=name)
    page.wait_for_timeout(2500)
    # a tab whose figures take a while (the early-warning score is computed when its tab is
    # first opened) is checked once its tables have their columns, not while they are empty
    wait_until(page, tables_filled, timeout_s=90, what=f"the tables of {name}")


def tables_filled(page) -> bool:
    """Whether every table on the page has its column headers."""
    tables = page.locator(".tabulator")
    return all(tables.nth(i).locator(".tabulator-col").count() > 0 for i in range(tables.count()))


def serious_violations(axe, page) -> list[str]:
    """axe-core's serious and critical violations on the page now, one line each."""
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])}): {v['help']}"
        for v in axe.run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_or_critical_violation_on_any_tab(browser, server):
    from axe_playwright_python.sync_playwright import Axe

    page = open_page(browser, server.url, 1280, 800)
    axe, found = Axe(), {}
    try:
        for tab in TABS:
            open_tab(page, tab.name)
            bad = serious_violations(axe, page)
            if bad:
                # once more when settled: a tab caught mid-draw passes then (seen once in CI
                # on Early warning, whose tables fill late: aria-required-children), while a
                # real violation stays
                page.wait_for_timeout(5000)
                bad = serious_violations(axe, page)
            if bad:
                found[tab.name] = bad
    finally:
        page.close()
    assert found == {}, found


def test_first_screen_at_1280_by_800(browser, server):
    page = open_page(browser, server.url, 1280, 800)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        tiles = page.evaluate(
            """() => { const out = []; const walk = r => { for (const n of r.querySelectorAll('*'))
            { if (n.classList && n.classList.contains('tile')) out.push(
              [n.querySelector('h3').textContent, n.getBoundingClientRect().bottom]);
              if (n.shadowRoot) walk(n.shadowRoot); } }; walk(document); return out; }"""
        )
        assert [name for name, _ in tiles] == [h.label for h in HEADLINES]
        assert all(bottom <= 800 for _, bottom in tiles), tiles
        # the first chart (the debt movement) starts above the fold
        top = page.evaluate(
            """() => { let best = 1e9; const walk = r => { for (const n of r.querySelectorAll('*'))
            { if (n.tagName === 'CANVAS' && n.getBoundingClientRect().width > 100)
                best = Math.min(best, n.getBoundingClientRect().top);
              if (n.shadowRoot) walk(n.shadowRoot); } }; walk(document); return best; }"""
        )
        assert top < 800 - 150, top
        assert any(t.startswith("Debt movement") for t in titles(page))
        # every tab in sight: the tab bar wraps instead of scrolling sideways
        bar = page.evaluate(
            """() => { let found = null; const walk = r => { for (const n of r.querySelectorAll(
              '.bk-header')) { const tabs = [...n.querySelectorAll('.bk-tab')]; if (tabs.length)
              found = {scroll: n.scrollWidth, width: n.clientWidth, right: n.getBoundingClientRect()
                .right, tabs: tabs.map(t => [t.textContent.trim(), t.getBoundingClientRect().right,
                t.scrollWidth <= t.clientWidth])}; }
              for (const n of r.querySelectorAll('*')) if (n.shadowRoot) walk(n.shadowRoot); };
              walk(document); return found; }"""
        )
        assert bar["scroll"] <= bar["width"], bar
        assert [name for name, _, _ in bar["tabs"]] == [tab.name for tab in TABS]
        assert all(right <= bar["right"] + 1 and whole for _, right, whole in bar["tabs"]), bar
    finally:
        page.close()


def test_phone_at_390_by_844(browser, server):
    page = open_page(browser, server.url, 390, 844)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        viewport = page.evaluate(
            "() => document.querySelector('meta[name=viewport]')?.getAttribute('content')"
        )
        assert viewport and "width=device-width" in viewport
        hidden = "() => document.getElementById('sidebar').classList.contains('hidden')"
        assert page.evaluate(hidden), "the sidebar is folded behind its button"
        page.locator("#sidebar-button").click()
        wait_until(page, lambda p: not p.evaluate(hidden), what="the sidebar opened")
        page.locator("#sidebar-button").click()
        wait_until(page, lambda p: p.evaluate(hidden), what="the sidebar folded again")
        bar = page.evaluate(
            """() => { let found = null; const walk = r => { for (const n of r.querySelectorAll(
              '.bk-header')) { if (n.querySelector('.bk-tab')) found = [n.scrollWidth,
              n.clientWidth, getComputedStyle(n).overflowX]; }
              for (const n of r.querySelectorAll('*')) if (n.shadowRoot) walk(n.shadowRoot); };
              walk(document); return found; }"""
        )
        scroll_width, width, overflow = bar
        assert overflow in ("auto", "scroll") and width <= 390 and scroll_width >= width
    finally:
        page.close()


BUSY_NOTE_JS = """() => [...Bokeh.documents[0].all_models].filter(
  m => typeof m.text === 'string' && m.text.includes('Updating…'))"""
"""The busy note's models (found by their text: a header item's model is renamed)."""

WATCH_BUSY_NOTE_JS = f"""() => {{ window.__busyShown = false;
  for (const note of ({BUSY_NOTE_JS})()) {{
    note.properties.visible.change.connect(() => {{
      if (note.visible) window.__busyShown = true; }});
  }}
  return ({BUSY_NOTE_JS})().length; }}"""
"""Record whether the busy note is shown from now on; return how many notes there are."""

BUSY_NOTE_SHOWN_JS = f"() => ({BUSY_NOTE_JS})().some(note => note.visible)"


@pytest.mark.parametrize("control", ["metric", "region"])
def test_busy_note_shows_during_a_change_and_clears_after_it(browser, server, control):
    page = open_page(browser, f"{server.url}?tab=Trends", 1280, 900)  # the metric's charts
    try:
        assert page.evaluate(WATCH_BUSY_NOTE_JS) >= 1
        assert not page.evaluate(BUSY_NOTE_SHOWN_JS)
        before = titles(page)
        if control == "metric":
            page.get_by_text("Collection rate", exact=True).first.click()
        else:
            page.evaluate(  # as choosing a region does: the widget's value set
                """() => { const region = [...Bokeh.documents[0].all_models].find(
                  m => m.title === 'Region' && Array.isArray(m.value));
                  const first = region.options[0];
                  region.value = [Array.isArray(first) ? first[0] : first]; }"""
            )
        wait_until(page, lambda p: titles(p) != before, what="the charts redrawn")
        assert page.evaluate("() => window.__busyShown"), "the note was never shown"
        wait_until(page, lambda p: not p.evaluate(BUSY_NOTE_SHOWN_JS), what="the note cleared")
        page.wait_for_timeout(1500)  # and it stays cleared
        assert not page.evaluate(BUSY_NOTE_SHOWN_JS)
    finally:
        page.close()


def test_busy_note_shows_and_clears_and_axis_follows_the_metric(browser, server):
    page = open_page(browser, f"{server.url}?tab=Trends", 1280, 900)
    try:
        assert any("%" in f for f in page.evaluate(FORMATTERS_JS))
        assert page.evaluate(WATCH_BUSY_NOTE_JS) >= 1
        page.get_by_text("Billed £", exact=True).first.click()
        wait_until(
            page,
            lambda p: any(t.startswith("Billed £ by month") for t in titles(p)),
            what="the trend in Billed £",
        )
        assert page.evaluate("() => window.__busyShown"), "the note was never shown"
        wait_until(
            page,
            lambda p: not p.evaluate(BUSY_NOTE_SHOWN_JS),
            what="the busy note cleared",
        )
        # the segment trend's axis is in £ now, not in %
        page.wait_for_timeout(1000)
        drawn = page.evaluate(
            """() => { const out = []; for (const root of Object.values(Bokeh.index)) {
              const walk = v => { const m = v.model; if (m.type === 'Figure' || m.left) {
                const title = m.title && (m.title.text ?? '').replace(/\\n/g, ' ');
                const axis = (m.left || [])[0];
                if (title && axis) out.push([title, axis.formatter.type,
                  axis.formatter.format || axis.formatter.code || '']); }
                for (const c of v.child_views ?? []) walk(c); }; walk(root); } return out; }"""
        )
        by_segment = [d for d in drawn if d[0].startswith("Billed £ by month and")]
        assert by_segment and all("%" not in d[2] and "£" in d[2] for d in by_segment), drawn
    finally:
        page.close()


def test_invalid_bucket_edges_get_an_inline_message_and_no_traceback(browser, server):
    page = open_page(browser, server.url, 1280, 900)
    try:
        page.get_by_text("Advanced", exact=True).first.click()
        entry = page.get_by_label("Days-past-due bucket edges")
        entry.fill("90,30,abc")
        entry.press("Enter")
        message = page.get_by_role("alert").filter(has_text="Days-past-due bucket edges")
        wait_until(page, lambda p: message.count() > 0, what="the inline message")
        assert "previous value" in message.first.inner_text()
        assert "Traceback" not in server.output()
    finally:
        page.close()


def walk_with_tab(page, presses: int = 120):
    """Press Tab until the focus comes back to where the walk started.

    Returns
    -------
    (seen, lost, left)
        The (tag, name) of each focused element, with visible focus asserted at each one;
        the presses that left the focus nowhere inside the page; and the positions in
        ``seen`` where the focus came back after it had left the page.
    """
    seen, lost, left = [], 0, []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(ACTIVE_JS)
        if focused is None:
            # past the page's last tab stop the browser takes the focus (its address bar;
            # in headless Chromium the page just loses it): the page keeps no keyboard
            # trap. Anywhere else the focus is lost inside the page.
            if page.evaluate("document.hasFocus()"):
                lost += 1
            else:
                left.append(len(seen))
            continue
        assert focused["outline"] != "none" or "title" in focused["cls"], focused
        seen.append((focused["tag"], focused["name"]))
        if len(seen) > 5 and seen[-1] == seen[0]:
            break  # back at the start: the whole page was walked
    return seen, lost, left


def test_the_keyboard_walks_the_whole_page_with_visible_focus(browser, server):
    page = open_page(browser, server.url, 1280, 800)
    try:
        seen, lost, left = walk_with_tab(page)
        names = [name for _, name in seen]
        assert any("Bill months" in n for n in names)  # slider handles are named
        assert any(n == "Show as table" for n in names)  # the charts' text alternatives
        assert any(n == "Debt" for n in names)  # the tab bar
        assert lost == 0, f"the focus was nowhere after {lost} presses of Tab"
        assert seen[-1] == seen[0], "the walk did not come back to the start"
        # the focus left the page once, past its last tab stop, and came back at its first
        assert len(left) == 1, f"the focus left the page before these stops: {left}"
        assert names[left[0]] == "Show or hide the controls", names[left[0] - 1 : left[0] + 1]
        # the tab bar comes before the open tab's charts (Bokeh draws it after them)
        assert names.index("Debt") < names.index("Show as table")
    finally:
        page.close()


def test_the_keyboard_walks_the_worklist_tab(browser, server):
    """Its table of customers (paged, a frozen column) and its multi-select of columns:
    a table is one tab stop (its body) and its page buttons, never one per cell."""
    page = open_page(browser, server.url, 1280, 800)
    try:
        open_tab(page, "Worklist")
        page.locator("#sidebar-button").focus()
        seen, lost, left = walk_with_tab(page)
        names = [name for _, name in seen]
        assert lost == 0, f"the focus was nowhere after {lost} presses of Tab"
        assert seen[-1] == seen[0] and len(left) == 1, (names, left)
        assert any(n == "Next Page" for n in names)  # the paged table's buttons
    finally:
        page.close()


def test_a_tab_opened_from_the_keyboard_keeps_the_focus(browser, server):
    """Opening a tab draws the tab bar again: the focus stays on the tab opened (arrow keys
    go on from there) and Tab goes on into what it shows."""
    page = open_page(browser, server.url, 1280, 800)
    try:
        page.locator(".bk-tab").filter(has_text=re.compile(r"^\s*Debt\s*$")).focus()
        page.keyboard.press("ArrowRight")
        worklist = page.locator(".bk-tab.bk-active")
        wait_until(page, lambda p: worklist.inner_text().strip() == "Worklist", what="Worklist")
        page.wait_for_timeout(2500)  # its content drawn (the tab bar with it)
        focused = page.evaluate(ACTIVE_JS)
        assert focused and focused["name"] == "Worklist" and "bk-active" in focused["cls"]
        page.keyboard.press("ArrowRight")
        wait_until(page, lambda p: worklist.inner_text().strip() == "Customer", what="Customer")
        page.keyboard.press("ArrowLeft")
        wait_until(page, lambda p: worklist.inner_text().strip() == "Worklist", what="back")
        page.wait_for_timeout(2500)
        page.keyboard.press("Tab")
        focused = page.evaluate(ACTIVE_JS)
        assert focused and focused["name"] != "Worklist" and focused["top"] > 0, focused
    finally:
        page.close()
