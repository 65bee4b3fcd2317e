"""Time the served dashboard in Chromium: first render and widget change -> charts updated.

Usage::

    .venv/bin/python benchmarks/browser_timing.py                        # demo data
    .venv/bin/python benchmarks/browser_timing.py --source benchmarks/.data/parquet_1000000_7

Serves ``--source`` with ``collections-dashboard serve`` (build the cube cache first with
``collections-dashboard build --source PATH``, or the first page load builds it), opens the
page ``--loads`` times in Debian's Chromium driven by Playwright and times each first render
(navigation until the charts of the first tab, *Debt*, are drawn). Then, in one page, it
makes ``--changes`` random changes on each of the two tabs that show the controls
(:data:`CHARTS_CHANGED`) as a user would — on *Debt* a Region filter or the bill months; on
*Trends* these, the metric or the segmentation — and times each from setting the widget in
the browser until every chart it affects shows its new title (each chart's title names the
selection, and a chart's new title arrives with its new data), and until the change's last
update of the page (tiles, notes, tables) is applied, no message following for a second.
Every other tab is opened once, in order (*Trends* between the two rounds of changes, the
rest after them), and each first visit is timed from the click until the server's last
message is applied in the page (no message for a second after it), and until its last
update of the page (the tab's content drawn, not counting the server's replies to what the
browser sends once it has drawn it). Prints one table; ``--json`` prints the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

from dashboard.ui.tabs import TABS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium_page, served_dashboard, wait_rendered  # noqa: E402

SHOWN_TITLES_JS = """() => {
  const out = [];
  const walk = view => {
    const model = view.model;
    if (model.renderers !== undefined && model.title && model.title.text) {
      out.push(model.title.text);
    }
    for (const child of view.child_views ?? []) walk(child);
  };
  for (const root of Object.values(Bokeh.index)) walk(root);
  return out.sort();
}"""
"""Titles of the charts drawn in the page now."""

CHANGE_JS = """([kind, pick]) => {
  const models = [...Bokeh.documents[0].all_models];
  const titled = title => models.find(m => m.title === title && m.value !== undefined);
  if (kind === 'region') {
    const widget = titled('Region');
    const values = widget.options.map(o => Array.isArray(o) ? o[0] : o)
      .filter(v => !(widget.value.length === 1 && widget.value[0] === v));  // a change
    widget.value = [values[pick % values.length]];
  } else if (kind === 'metric') {
    const radio = models.find(m => m.type === 'RadioGroup' || (m.labels && m.active !== undefined
      && m.constructor.name === 'RadioGroup'));
    radio.active = (radio.active + 1 + pick % (radio.labels.length - 1)) % radio.labels.length;
  } else if (kind === 'period') {
    // the bill-month slider counts months (0 = the first); it acts on release
    // (value_throttled), which a drag sets and a script must set itself
    const slider = titled('Bill months');
    const span = slider.end - slider.start;
    let first = slider.start + pick % Math.max(span - 6, 1);
    if (first === slider.value[0]) first = first === slider.start ? first + 1 : first - 1;
    const range = [first, Math.min(first + 6 + pick % 6, slider.end)];  // a change
    slider.value = range;
    slider.value_throttled = range;
  } else {
    const select = titled('Segment by');
    const values = select.options.map(o => Array.isArray(o) ? o[0] : o)
      .filter(v => v !== select.value);
    select.value = values[pick % values.length];
  }
}"""
"""Set one widget in the browser, as a user's click or drag does."""

MESSAGES_JS = """() => {
  window.__messages = [];
  let kind = null;
  const Socket = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Socket(...args);
    // a Bokeh message is a header frame naming its type, then its metadata, content and
    // buffers; each frame is recorded with the type of the message it belongs to, after
    // the task that handles it: the update applied, laid out and painted
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string' && event.data.includes('"msgtype"')) {
        try { kind = JSON.parse(event.data).msgtype ?? kind; } catch (error) {}
      }
      const type = kind;
      setTimeout(() => window.__messages.push([performance.now(), type]), 0);
    });
    return socket;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, Socket);
}"""
"""Record when each message frame from the server has been applied, and the type of its
message (``PATCH-DOC``: an update of the page; ``OK``: the server's reply to a message of the
browser's own). Installed before the page's scripts, so that Bokeh's socket is the one
recorded."""

CHARTS_CHANGED = {
    "Debt": {"region": 1, "period": 2},
    "Trends": {"region": 2, "metric": 2, "period": 2, "segment_by": 1},
}
"""Per tab, the changes timed on it and how many of its charts each gives a new title at
least (the bridges' titles name their months, not the filters; new bill months may end on
the same month: the last month's bridge keeps its title). A change's charts and page
updates arrive in one message: the first new title is the whole change's."""


def changed_titles(before: list[str], now: list[str]) -> int:
    """How many titles in ``now`` were not shown ``before``."""
    return len(set(now) - set(before))


def time_first_render(page, url: str) -> float:
    """Seconds from navigation until the first tab's charts are drawn."""
    started = time.perf_counter()
    page.goto(url)
    wait_rendered(page, timeout_ms=300_000)
    charts = len(TABS[0].charts())
    page.wait_for_function(f"() => ({SHOWN_TITLES_JS})().length >= {charts}", timeout=300_000)
    return time.perf_counter() - started


def time_change(
    page, tab: str, kind: str, pick: int, timeout_s: float, quiet_ms: int = 1000
) -> tuple[float, float]:
    """Seconds from setting a widget while ``tab`` is open until its charts show their new
    titles, and until the change's last update of the page is applied (tiles, notes and
    tables too: no message for ``quiet_ms`` after it)."""
    before = page.evaluate(SHOWN_TITLES_JS)
    expected = CHARTS_CHANGED[tab][kind]
    clicked = page.evaluate("() => performance.now()")
    started = time.perf_counter()
    page.evaluate(CHANGE_JS, [kind, pick])
    page.wait_for_function(
        f"""before => {{ const now = ({SHOWN_TITLES_JS})();
            return now.filter(t => !before.includes(t)).length >= {expected}; }}""",
        arg=before,
        polling="raf",
        timeout=timeout_s * 1000,
    )
    charts = time.perf_counter() - started
    _, last_update = wait_quiet(page, clicked, CHANGE_STATE_JS, None, quiet_ms, timeout_s)
    return charts, last_update


VISIT_STATE_JS = """name => {
  const tabs = [...Bokeh.documents[0].all_models].find(m => Array.isArray(m.tabs)
    && m.tabs.some(panel => panel.title === name));
  const child = tabs === undefined ? undefined : tabs.tabs[tabs.active].child;
  const filled = child !== undefined && tabs.tabs[tabs.active].title === name
    && Array.isArray(child.children) && child.children.length > 0;
  return [performance.now(), window.__messages, filled];
}"""
"""Now, the messages applied so far, and whether the open tab is ``name`` with its content in
the page (a tab whose server is silent a while before sending it is not counted done)."""


CHANGE_STATE_JS = "() => [performance.now(), window.__messages, true]"
"""Now and the messages applied so far (a change is ready once its charts are updated)."""


def time_tab_visit(
    page, name: str, quiet_ms: int = 1000, timeout_s: float = 300
) -> tuple[float, float]:
    """Seconds from clicking the tab ``name`` (first visit) until its content is in the page
    and the server's last message is applied (no message for ``quiet_ms`` after it), and until
    its last update of the page is applied (the last ``PATCH-DOC``: the tab's content
    drawn, without the server's replies to the messages the browser sends once drawn)."""
    tab = page.locator(".bk-tab").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
    clicked = page.evaluate("() => performance.now()")
    tab.click()
    return wait_quiet(page, clicked, VISIT_STATE_JS, name, quiet_ms, timeout_s)


def wait_quiet(
    page, since: float, state_js: str, arg, quiet_ms: int, timeout_s: float
) -> tuple[float, float]:
    """Wait until the page is ready and no message from the server came for ``quiet_ms``
    (``state_js(arg)`` gives now, the messages applied and whether it is ready, read
    together); return the seconds from ``since`` (the page's clock) to the last message
    applied and to the last page update (``PATCH-DOC``) applied."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        page.wait_for_timeout(quiet_ms // 4)
        now, messages, ready = page.evaluate(state_js, arg)
        after = [(when, kind) for when, kind in messages if when > since]
        if ready and after and now - after[-1][0] >= quiet_ms:
            patches = [when for when, kind in after if kind == "PATCH-DOC"] or [after[-1][0]]
            return (after[-1][0] - since) / 1000, (patches[-1] - since) / 1000
    raise TimeoutError(f"the page still updating after {timeout_s} s")


def balanced(kinds: list[str], count: int, rng: random.Random) -> list[str]:
    """``count`` changes in a random order, each kind as often as the others (±1)."""
    order = (kinds * (count // len(kinds) + 1))[:count]
    rng.shuffle(order)
    return order


def percentiles(values: list[float]) -> dict:
    """p50, p95 and max in milliseconds."""
    ms = np.asarray(values) * 1000
    return {
        "n": len(ms),
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "max": float(ms.max()),
    }


def main(argv: list[str] | None = None) -> int:
    """Serve, open, change, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT / "data", help="data source")
    parser.add_argument("--loads", type=int, default=3, help="page loads to time")
    parser.add_argument("--changes", type=int, default=20, help="widget changes a tab")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a change may take")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random changes")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with served_dashboard(args.source, timeout=600) as url, chromium_page() as (page, errors, _):
        page.add_init_script(f"({MESSAGES_JS})()")
        loads = [time_first_render(page, url) for _ in range(args.loads)]
        changes: dict[str, list[float]] = {}
        settled: list[float] = []
        visits = {}
        for tab, kinds in CHARTS_CHANGED.items():
            if tab != TABS[0].name:
                visits[tab] = time_tab_visit(page, tab)
            for kind in balanced(sorted(kinds), args.changes, rng):
                pick = rng.randrange(1000)
                seconds, last_update = time_change(page, tab, kind, pick, args.timeout)
                changes.setdefault(f"{tab} · {kind}", []).append(seconds)
                settled.append(last_update)
        for tab in TABS[1:]:
            if tab.name not in visits:
                visits[tab.name] = time_tab_visit(page, tab.name)
        visits = {tab.name: visits[tab.name] for tab in TABS[1:]}
    every = [s for values in changes.values() for s in values]
    report = {
        "source": str(args.source),
        "first_render_s": loads,
        "change_ms": percentiles(every),
        "change_ms_by_kind": {kind: percentiles(v) for kind, v in sorted(changes.items())},
        "change_settled_ms": percentiles(settled),
        "first_tab_visit_s": {name: last for name, (last, _) in visits.items()},
        "first_tab_visit_drawn_s": {name: drawn for name, (_, drawn) in visits.items()},
        "console_errors": errors,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    return 1 if errors else 0


def format_table(report: dict) -> str:
    """The report as a Markdown table."""
    loads = report["first_render_s"]
    rows = [
        ("source", report["source"]),
        (
            f"first render (navigation → {TABS[0].name} charts drawn)",
            f"first load {loads[0]:.1f} s; then " + ", ".join(f"{s:.1f} s" for s in loads[1:]),
        ),
    ]
    stats = report["change_ms"]
    rows.append(
        (
            f"widget change → charts updated (n={stats['n']})",
            f"p50 {stats['p50']:,.0f} ms, p95 {stats['p95']:,.0f} ms, max {stats['max']:,.0f} ms",
        )
    )
    for kind, s in report["change_ms_by_kind"].items():
        rows.append((f"  {kind} (n={s['n']})", f"p50 {s['p50']:,.0f} ms, p95 {s['p95']:,.0f} ms"))
    s = report["change_settled_ms"]
    rows.append(
        (
            "  the same changes, → last page update applied",
            f"p50 {s['p50']:,.0f} ms, p95 {s['p95']:,.0f} ms, max {s['max']:,.0f} ms",
        )
    )
    for key, measure in [
        ("first_tab_visit_s", "first visit of a tab (click → last message applied)"),
        ("first_tab_visit_drawn_s", "  the same visits, click → last page update applied"),
    ]:
        visits = report[key]
        rows.append((measure, ", ".join(f"{name} {s:.2f} s" for name, s in visits.items())))
    rows.append(("console errors", str(len(report["console_errors"]))))
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
