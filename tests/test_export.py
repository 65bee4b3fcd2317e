"""Static exports: the offline HTML page (content, no outside URL, live controls) and PNGs.

The page is exported once for this module, with two segments (24 states) to keep the test
near half a minute; the full export only differs in how many states it embeds. The data is
the committed demo set when ``data/`` holds it, else the reference dataset (skipped when
absent). The browser test opens the file from ``file://`` in Debian's Chromium with every
non-file request blocked and recorded, and reads the charts through Bokeh's models.

Plain-text URLs remain inside the inlined JavaScript libraries (licence banners, SVG
namespaces, MathJax's and the tile providers' lazy loaders that only run for LaTeX or maps,
which the page has none of); they are no resource references. Everything outside that
library code (markup, document and state JSON, stylesheets) holds no ``http(s)://`` at all.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from pathlib import Path

import pandas as pd
import pytest

from dashboard.catalog import METRIC
from dashboard.export import (
    FIGURES,
    StaticDashboard,
    draw_figure,
    export_figures,
    export_html,
    export_presets,
    figure_frames,
    inline_panel_resources,
)
from dashboard.model import CollectionsModel
from dashboard.ui.live import chart_title
from dashboard.ui.tabs import TABS, Control

CHROMIUM = Path("/usr/bin/chromium")
TEST_SEGMENTS = ("income_band", "region")
CUSTOMER_ID = re.compile(r"C1\d{5}")
URL = re.compile(r"https?://")
LIBRARY_SCRIPT = 10_000
"""Inline ``text/javascript`` blocks longer than this are the bundled libraries."""
SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS_SHOWN = 31
"""The debt movement of the last month and of the period, the change in arrears by month,
trend, 2 segment, 2 actions, ageing (£ and customers), 2 arrears share, transitions
(customers and £ owed), roll, reaching 90+ days (monthly and ever), 2 vintage, entry
cohorts, 3 effectiveness and the funnel chart; ECL £ and coverage by month, the forecast of
arrears £ and of customers, and the forecast by bucket; the early-warning score's calibration
and its customers by score band."""
LEDGER_TITLES = (
    "Arrears £",
    "Customers by days past due",
    "Share of customers on book",
    "Average arrears",
    "Roll and cure",
    "Cure and forward",
    "Reaching 90+",
    "Customers on book ever",
    "Cumulative default",
    "Share in arrears",
    "Arrears-entry",
    "Paid ≥",
    "Cleared arrears",
    "Collections funnel",
    "Expected credit loss",
    "Coverage:",
    "Customers in arrears:",
    "Calibration out of time",
    "Customers Current today",
)


@pytest.fixture(scope="module")
def source(demo_or_seed_source: Path) -> Path:
    return demo_or_seed_source


@pytest.fixture(scope="module")
def model(source: Path) -> CollectionsModel:
    return CollectionsModel(source=str(source))


@pytest.fixture(scope="module")
def exported(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The page exported once: (path, seconds taken)."""
    out = tmp_path_factory.mktemp("export") / "collections.html"
    started = time.perf_counter()
    path = export_html(source, out, progress=False, segments=TEST_SEGMENTS)
    return path, time.perf_counter() - started


@pytest.fixture(scope="module")
def page_text(exported: tuple[Path, float]) -> str:
    return exported[0].read_text(encoding="utf-8")


def _split_library_code(text: str) -> tuple[str, list[str]]:
    """(the page without the bundled library code, the library code blocks)."""
    libraries: list[str] = []

    def cut(match: re.Match) -> str:
        attrs, body = match.group(1), match.group(2)
        if "text/javascript" in attrs and len(body) > LIBRARY_SCRIPT:
            libraries.append(body)
            return f"<script{attrs}></script>"
        return match.group(0)

    return SCRIPT.sub(cut, text), libraries


def _inlined_stylesheets(text: str) -> list[str]:
    return [
        base64.b64decode(payload).decode("utf-8")
        for payload in re.findall(r"data:text/css;base64,([A-Za-z0-9+/=]+)", text)
    ]


# --- presets and header (no export needed) ---------------------------------------------------


def test_export_presets_are_three_distinct_periods(model):
    presets = export_presets(model)
    assert list(presets)[:2] == ["All months", "Last 12 months"]
    assert len(presets) == 3
    assert len(set(presets.values())) == 3
    label, (start, end) = list(presets.items())[2]
    assert label.startswith("Calendar year ")
    assert (start.month, end.month, start.year) == (1, 12, end.year)


def test_header_states_what_is_fixed(model):
    page = StaticDashboard(model, segments=TEST_SEGMENTS)
    header = page.header()
    assert "What is fixed in this file" in header
    assert "all customers" in header
    assert "mature bills only" in header
    assert f"{model.as_of_date:%d %B %Y}" in header
    assert str(model.source) in header
    assert "**metric**, **segment** and **period** controls are live" in header
    assert f"{page.states} states" in header and page.states == 4 * 2 * 3
    assert "left out to keep the file small" in header
    assert "No customer-level data is included" in header
    with_customers = StaticDashboard(model, include_customers=True, segments=TEST_SEGMENTS)
    assert "Customer-level data is included" in with_customers.header()


@pytest.mark.parametrize("include_customers", [False, True])
def test_customer_rows_only_with_include_customers(model, include_customers):
    """The saved page (without embedded states, to keep this fast) holds customer ids only
    when asked; the worklist it then carries is the model's, most urgent first."""
    import io

    import panel as pn

    page = StaticDashboard(model, include_customers=include_customers, segments=("region",))
    buffer = io.StringIO()
    pn.panel(page.layout()).save(buffer, embed=False)
    found = set(CUSTOMER_ID.findall(buffer.getvalue()))
    if include_customers:
        top = model.worklist["customer_id"].head(20)
        assert set(top) <= found
        assert "Worklist" in buffer.getvalue()
    else:
        assert not found


def test_page_carries_the_ledger_views(model):
    page = StaticDashboard(model, segments=("region",))
    assert set(page.ledger_views) == {
        "ageing",
        "arrears_trend",
        "transitions",
        "roll",
        "severe",
        "vintage",
        "entries",
        "effectiveness",
        "uplift",
        "funnel",
        "tariffs",
        "provision",
        "provision_trend",
        "forecast",
        "forecast_backtest",
        "forecast_buckets",
        "forecast_table",
        "score_calibration",
        "score_distribution",
    }


def test_a_chart_with_a_choice_is_exported_once_per_value(model):
    """The served tab shows one measure at a time (its control); the export, without that
    control, carries every one, in the control's order, and leaves the model's choice."""
    chosen = [(tab, chart) for tab in TABS for chart in tab.charts() if chart.choice]
    assert {chart.name for _, chart in chosen} >= {"effectiveness", "forecast", "vintage", "severe"}
    kept = {chart.choice: getattr(model, chart.choice) for _, chart in chosen}
    page = StaticDashboard(model, segments=("region",))
    for tab, chart in chosen:
        assert chart.choice in {c.param for c in tab.parts if isinstance(c, Control)}
        values = list(model.param[chart.choice].objects)
        panes = page.ledger_views[chart.name]
        assert len(panes) == len(values) > 1
        titles = [chart_title(pane.object) for pane in panes]
        expected = [
            chart_title(chart.draw(model.clone(**{chart.choice: value}))) for value in values
        ]
        assert titles == expected and len(set(titles)) == len(values)
    assert {name: getattr(page.model, name) for name in kept} == kept


def test_inline_panel_resources_replaces_cdn_urls_by_data_urls():
    import panel

    version = panel.__version__
    page = (
        f'<link href="https://cdn.holoviz.org/panel/{version}/dist/images/favicon.ico">'
        f'{{"url":"https://cdn.holoviz.org/panel/{version}/dist/css/loading.css?v={version}"}}'
        f'{{"url":"https://cdn.holoviz.org/panel/{version}/dist/bundled/font-awesome/css/all.min.css"}}'
    )
    inlined = inline_panel_resources(page)
    assert "cdn.holoviz.org" not in inlined
    assert 'href="data:image/x-icon;base64,' in inlined
    stylesheets = _inlined_stylesheets(inlined)
    assert len(stylesheets) == 2
    for css in stylesheets:
        for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
            assert target.startswith("data:"), target
    assert any("font/woff2" in css for css in stylesheets)  # icon fonts come along
    with pytest.raises(FileNotFoundError):
        inline_panel_resources(f"https://cdn.holoviz.org/panel/{version}/dist/css/nope.css")


# --- the exported file -----------------------------------------------------------------------


@pytest.mark.slow
def test_export_is_one_file_of_reasonable_size(exported):
    path, seconds = exported
    size = path.stat().st_size
    print(f"\nexport: {seconds:.1f} s, {size / 1e6:.1f} MB, {4 * len(TEST_SEGMENTS) * 3} states")
    assert path.suffix == ".html"
    assert 1e6 < size < 15e6
    assert not [p for p in path.parent.iterdir() if p != path], "export wrote extra files"


@pytest.mark.slow
def test_export_references_nothing_outside_the_file(page_text):
    page, libraries = _split_library_code(page_text)
    assert len(libraries) >= 5, "expected Bokeh, Panel and extension code inlined"
    # Markup, document/state JSON and small scripts: no URL at all.
    assert not URL.findall(page), sorted(set(re.findall(r"https?://[^\s\"'<>\\]+", page)))[:10]
    for attribute, value in re.findall(r"\b(src|href)\s*=\s*[\"']([^\"']*)[\"']", page):
        assert value == "" or value.startswith(("data:", "#")), f"{attribute}={value[:80]}"
    for css in [*_inlined_stylesheets(page), *re.findall(r"<style[^>]*>(.*?)</style>", page, re.S)]:
        for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
            assert target.strip().startswith(("data:", "#")), target[:80]
    # The CDNs a Panel page would load from are named nowhere, library code included.
    for host in ("cdn.holoviz.org", "cdn.bokeh.org", "fonts.googleapis.com", "fonts.gstatic.com"):
        assert host not in page_text, host


@pytest.mark.slow
def test_export_holds_no_customer_ids(page_text):
    assert not CUSTOMER_ID.findall(page_text)


@pytest.mark.slow
def test_export_says_what_is_fixed(page_text, model):
    for phrase in (
        "What is fixed in this file",
        "Filters: all customers",
        "mature bills only",
        "controls are live",
        "No customer-level data is included",
        f"{model.as_of_date:%d %B %Y}",
    ):
        assert phrase in page_text, phrase


# --- the exported file in a browser ----------------------------------------------------------

VISIBLE_PLOTS = """() => {
  const plain = (key, value) => value instanceof Map ? Object.fromEntries(value)
    : ArrayBuffer.isView(value) ? Array.from(value) : value;
  const out = [];
  const walk = (view, shown) => {
    const model = view.model;
    const visible = shown && model.visible !== false;
    if (visible && model.title != null && model.renderers !== undefined) {
      const data = model.renderers.filter(r => r.data_source).map(r => r.data_source.data);
      const title = (model.title.text ?? '').replace(/\\n/g, ' ');  // wrapped: one line
      out.push({title, data: JSON.stringify(data, plain)});
    }
    for (const child of view.child_views ?? []) walk(child, visible);
  };
  for (const root of Object.values(Bokeh.index)) walk(root, true);
  return out;
}"""

GAUGES = """() => {
  const plain = (key, value) => value instanceof Map ? Object.fromEntries(value) : value;
  return [...Bokeh.documents[0].all_models].filter(m => m.type.endsWith('.ECharts'))
    .map(m => JSON.stringify(m.data, plain));
}"""


def _snapshot(page) -> dict:
    headers = page.locator(".tabulator-col-title").filter(visible=True).all_inner_texts()
    cells = page.locator(".tabulator-cell").filter(visible=True).all_inner_texts()
    headers = [h.strip() for h in headers]
    return {
        "plots": page.evaluate(VISIBLE_PLOTS),
        "gauges": page.evaluate(GAUGES),
        "table": [h for h in headers if h] + cells,
    }


def _wait_for_title(page, prefix: str) -> None:
    """Wait until a visible chart's title starts with ``prefix`` (an embedded state applied;
    20 s was once not enough on a slow day of this machine)."""
    page.wait_for_function(
        f"() => ({VISIBLE_PLOTS})().some(p => p.title.startsWith({json.dumps(prefix)}))",
        timeout=60_000,
    )


def _by_prefix(snapshot: dict, prefix: str) -> dict:
    found = [p for p in snapshot["plots"] if p["title"].startswith(prefix)]
    assert len(found) == 1, (prefix, [p["title"] for p in snapshot["plots"]])
    return found[0]


@pytest.mark.slow
@pytest.mark.browser
def test_export_works_offline_in_chromium(exported, model):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser test")
    playwright = pytest.importorskip("playwright.sync_api")
    path = exported[0]
    presets = export_presets(model)
    labels = list(presets)
    second = labels[1]
    model.period = presets["All months"]
    everything = model.describe_selection()
    model.period = presets[second]
    narrower = model.describe_selection()
    model.period = presets["All months"]

    blocked: list[str] = []
    requested: list[str] = []
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def route(r):
                if r.request.url.startswith(("file:", "data:", "blob:")):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("request", lambda r: requested.append(r.url))
            page.on("websocket", lambda ws: blocked.append(ws.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            page.goto(path.as_uri())
            page.wait_for_function(
                f"() => window.Bokeh && Bokeh.documents.length > 0 && "
                f"({VISIBLE_PLOTS})().length == {PLOTS_SHOWN}",
                timeout=60_000,
            )
            assert page.get_by_text("What is fixed in this file").is_visible()
            start = _snapshot(page)
            titles = [p["title"] for p in start["plots"]]
            assert titles[0].startswith("Debt movement")  # the page leads with the bridge
            assert f"Default rate by month · {everything}" in titles
            assert f"Default rate by income band · {everything}" in titles
            assert "Income band" in start["table"]  # the figures table, after the aged-debt table
            assert not [c for c in start["table"] if "&lt;" in c or "&amp;" in c]  # escaped once

            # Metric: the three metric charts change, the actions charts and gauges do not.
            page.get_by_role("radio", name="Collection rate").check()
            _wait_for_title(page, "Collection rate by month ·")
            metric = _snapshot(page)
            for prefix in ("by month ·", "by month and income band", "by income band"):
                before = _by_prefix(start, f"Default rate {prefix}")
                after = _by_prefix(metric, f"Collection rate {prefix}")
                assert after["data"] != before["data"], prefix
            for prefix in ("Collections actions by type", "Collections actions per month"):
                assert _by_prefix(metric, prefix) == _by_prefix(start, prefix)
            assert metric["gauges"] == start["gauges"]

            # Period: every chart, the gauges and the table follow.
            page.locator("select").filter(
                has=page.locator("option", has_text=second)
            ).select_option(label=second)
            _wait_for_title(page, f"Collection rate by month · {narrower}")
            period = _snapshot(page)
            for a, b in zip(period["plots"], metric["plots"], strict=True):
                if b["title"].startswith("Debt movement"):  # titled by their own months
                    continue
                if b["title"].startswith(LEDGER_TITLES):  # all months whatever the period
                    assert a == b
                else:
                    assert narrower in a["title"], a["title"]
                    assert a["data"] != b["data"], a["title"]
            assert period["gauges"] != metric["gauges"]
            assert period["table"] != metric["table"]

            # Segment: the segment charts and the table switch to regions.
            segment_select = page.locator("select").filter(
                has=page.locator("option", has_text="Region")
            )
            segment_select.select_option(label="Region")
            _wait_for_title(page, f"{METRIC['collection_rate'].label} by region · {narrower}")
            region = _snapshot(page)
            assert "Region" in region["table"]
            assert region["plots"][0] == period["plots"][0]  # the monthly trend is unchanged

            # Back to the start in another order: every state carries the whole page.
            page.locator("select").filter(
                has=page.locator("option", has_text=second)
            ).select_option(label="All months")
            page.get_by_role("radio", name="Default rate").check()
            segment_select.select_option(label="Income band")
            _wait_for_title(page, f"Default rate by income band · {everything}")
            page.wait_for_timeout(500)
            assert _snapshot(page) == start
        finally:
            browser.close()

    assert not blocked, f"the page tried to reach the network: {blocked[:5]}"
    outside = [u for u in requested if not u.startswith(("file:", "data:", "blob:"))]
    assert not outside, outside[:5]
    assert not errors, errors[:5]


# --- PNG figures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def figures(source: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return export_figures(source, tmp_path_factory.mktemp("figures"))


def test_figures_are_readable_pngs(figures):
    names = [p.name for p in figures]
    assert names == [f"{name}.png" for name in FIGURES]
    for required in (
        "monthly_default_rate",
        "default_by_income",
        "default_by_region",
        "actions_distribution",
    ):
        assert f"{required}.png" in names
    for path in figures:
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE, path.name
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 800 and height >= 300, (path.name, width, height)
        assert 15_000 < len(data) < 2_000_000, (path.name, len(data))


def test_figure_frames_are_the_model_outputs(model):
    original = model.segment_by
    frames = figure_frames(model)
    assert model.segment_by == original
    assert list(frames) == list(FIGURES)
    pd.testing.assert_frame_equal(frames["monthly_default_rate"], model.monthly)
    pd.testing.assert_frame_equal(frames["actions_distribution"], model.actions_by_type)
    pd.testing.assert_frame_equal(frames["actions_monthly"], model.actions_monthly)
    for name, dim in (("default_by_income", "income_band"), ("default_by_region", "region")):
        model.segment_by = dim
        pd.testing.assert_frame_equal(frames[name], model.by_segment)
    model.segment_by = original


def test_default_by_income_draws_the_by_segment_rates(model):
    frame = figure_frames(model)["default_by_income"]
    figure = draw_figure("default_by_income", frame, model)
    ax = figure.axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx(frame["default_rate"].tolist())
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(v) for v in frame["income_band"]]
    title = figure.get_suptitle()
    assert "mature bills only" in title and f"{model.as_of_date:%d %b %Y}" in title


def test_monthly_default_rate_never_draws_open_months_as_a_rate(model):
    frame = figure_frames(model)["monthly_default_rate"]
    figure = draw_figure("monthly_default_rate", frame, model)
    line = figure.axes[0].lines[0]
    mature = frame.loc[frame["mature"] & frame["counted_bills"].gt(0)]
    assert list(line.get_ydata()) == pytest.approx(mature["default_rate"].tolist())
    assert len(figure.axes[0].lines) == 1  # nothing drawn for the months still open
    if (~frame["mature"]).any():
        assert figure.axes[0].patches, "the months still open are shaded"
    assert "mature bills only" in figure.get_suptitle()
