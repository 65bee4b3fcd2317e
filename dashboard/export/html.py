"""The static export: one self-contained HTML page of the dashboard.

:func:`export_html` writes a page that opens from ``file://`` with no network at all. It is a
plain Panel layout (templates cannot embed) saved with ``embed=True``: Panel runs every
combination of the three live controls (metric, segment, period preset) at export time and
stores the resulting document changes in the page, so the controls work without a server.
Everything else is fixed at export time and the page says so. Bokeh's and Panel's JavaScript
is inlined (``resources=INLINE``); the component stylesheets that Panel still points at
``https://cdn.holoviz.org/panel/<version>/dist/...`` are replaced by ``data:`` URLs of the same
files from Panel's installed ``dist`` folder (fonts they use included).

The page is built from the catalogue of tabs (:data:`dashboard.ui.tabs.TABS`): the charts
of the live tabs (:data:`LIVE_TABS`) follow the controls, every other chart and table is
drawn once over all months. It draws from its own copy of the model
(:meth:`CollectionsModel.clone`), so a model shared with a notebook or a session never
changes. The PNG figures are :mod:`dashboard.export.figures`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import mimetypes
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import param

from dashboard.catalog import KPIS, METRIC, metric_choices
from dashboard.model import OUTPUT, OUTPUT_NAMES, CollectionsModel
from dashboard.ui.charts import gauges
from dashboard.ui.style import markdown_text, tabulator_formatters
from dashboard.ui.tabs import TABS, Chart, Note, Tab, Table
from dashboard.vocab import DIMENSION_LABELS, DIMENSIONS

TITLE = "Portfolio Collections Dashboard"

EXPORT_METRICS: dict[str, str] = metric_choices()
"""Metric label -> column, the options of the exported metric control."""

LIVE_TABS = ("Debt", "Trends", "Segments", "Actions")
"""Tabs whose charts follow the page's live controls (metric, segment, period)."""

SECTION_TITLES = {
    "Debt": "Debt movement and aged debt",
    "Trends": "Monthly trend",
    "Arrears": "Arrears and ageing",
    "Roll & cure": "Roll and cure",
    "Actions": "Collections actions",
    "Effectiveness": "Action effectiveness",
    "Provision": "Expected credit loss (provision matrix)",
    "Forecast": "Arrears forecast",
}
"""Section headings of the page where they differ from the tab's name."""

DEFAULT_SEGMENTS = ("income_band", "region", "tariff", "is_vulnerable")
"""Segments offered by the exported page: the four most used splits (48 states). Each
segment adds 12 states (4 metrics × 3 periods); all seven (84 states) took about 1.5 times
as long to export and made a 10 MB file instead of 8.5 MB."""

_PANEL_CDN_RE = re.compile(
    r"https://cdn\.holoviz\.org/panel/[^/\"'\\\s]+/dist/([^\"'\\\s?#)]+)(\?v=[0-9A-Za-z.+-]+)?"
)
_CSS_URL_RE = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")
_INLINED_ASSETS = (".woff2", ".svg", ".png", ".gif")
"""Files referenced from inlined CSS that are inlined too; other formats are browser
fallbacks (eot, ttf, woff) that Chromium never asks for once woff2 is there."""


# --- HTML -----------------------------------------------------------------------------------


def export_presets(model: CollectionsModel) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """The three period presets of the static page.

    All months, the last 12 months and the last full calendar year (January to December in
    the data) that is not the same months as "Last 12 months"; a preset is left out when the
    data cannot provide it.

    Parameters
    ----------
    model : CollectionsModel

    Returns
    -------
    dict of str to (datetime, datetime)
        Label -> first and last bill month, in the order shown.
    """
    presets = model.month_presets()
    chosen = {"All months": presets["All months"]}
    if "Last 12 months" in presets:
        chosen["Last 12 months"] = presets["Last 12 months"]
    years = sorted((label for label in presets if label.isdigit()), reverse=True)
    for year in years:
        start, end = presets[year]
        if start.month == 1 and end.month == 12 and (start, end) not in chosen.values():
            chosen[f"Calendar year {year}"] = (start, end)
            break
    return chosen


class StaticDashboard:
    """The exported page: live metric, segment and period controls; everything else fixed.

    Built from the catalogue of tabs. In the live tabs (:data:`LIVE_TABS`) a chart that
    depends on the segmentation is drawn again for each state; any other is drawn once per
    combination it depends on (metric × period, or period) and shown or hidden; a table that
    depends on the segmentation exists once per segment, shown or hidden, its rows re-sent
    (a table's columns never change after the page is built: Panel only sends them when they
    change, which a replayed state cannot rely on). Each embedded state is replayed on its
    own, whatever the page showed before, so every state re-sends every output. The other
    tabs' charts and tables are drawn once, over all months; those that depend on the
    segmentation are left out, and customer-level tables are shown only when asked.

    Parameters
    ----------
    model : CollectionsModel
        The state shown; its filters, window and maturity rule are what the page fixes. It
        is never changed: the page draws from a copy.
    include_customers : bool, optional
        Add the customer-level tables (the worklist: the top :data:`WORKLIST_ROWS` by
        priority of the exported selection). Off by default: the page then holds aggregates
        only.
    segments : sequence of str, optional
        Dimensions offered by the segment control (:data:`DEFAULT_SEGMENTS` by default).
    tabs : sequence of Tab, optional
        The tabs drawn (the catalogue's, :data:`dashboard.ui.tabs.TABS`, by default).
    """

    def __init__(
        self,
        model: CollectionsModel,
        include_customers: bool = False,
        segments: Sequence[str] = DEFAULT_SEGMENTS,
        tabs: Sequence[Tab] = TABS,
    ):
        import panel as pn

        self.include_customers = include_customers
        self.tabs = tuple(tabs)
        self.segments = {DIMENSION_LABELS[d]: d for d in segments}
        segment_by = model.segment_by
        if segment_by not in self.segments.values():
            segment_by = next(iter(self.segments.values()))
        self.model = model.clone(segment_by=segment_by, live_outputs=list(OUTPUT_NAMES))
        self.presets = export_presets(self.model)
        self.metric = pn.widgets.RadioBoxGroup(
            label="Metric", options=EXPORT_METRICS, value=self.model.metric, inline=False
        )
        self.segment = pn.widgets.Select(
            label="Segment by", options=self.segments, value=segment_by, width=220
        )
        self.period = pn.widgets.Select(
            label="Period", options=list(self.presets), value="All months", width=220
        )
        self.selection = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.gauges = {kpi.name: gauges.kpi_gauge(kpi.name) for kpi in KPIS}
        live = [tab for tab in self.tabs if tab.name in LIVE_TABS]
        self.segment_charts = {tab.name: pn.Column(sizing_mode="stretch_width") for tab in live}
        self.variants = self._draw_variants(live)
        self.tables = self._make_tables(live)
        self.model.period = self.presets["All months"]
        self.ledger_views = self._draw_fixed_views()
        for widget in (self.metric, self.segment, self.period):
            widget.param.watch(self._refresh, "value")
        self._refresh()

    @property
    def states(self) -> int:
        """Number of control combinations the page embeds."""
        return len(EXPORT_METRICS) * len(self.segments) * len(self.presets)

    def header(self) -> str:
        """The fixed part of the page: what it is, as of when, from what, and what is fixed."""
        model = self.model
        counted = (
            "every bill, including bills whose payment window is still open "
            "(include immature bills: on)"
            if model.include_immature
            else "mature bills only: bills whose payment window closed by the as-of date "
            "(include immature bills: off)"
        )
        filters = markdown_text(model.describe_filters())
        customers = (
            f"**Customer-level data is included** (`--include-customers`): the worklist's top "
            f"{WORKLIST_ROWS} customers by priority. Handle this file as personal data."
            if self.include_customers
            else "No customer-level data is included: every figure is an aggregate "
            "(the worklist needs `--include-customers`)."
        )
        segments = ", ".join(self.segments)
        if len(self.segments) < len(DIMENSIONS):
            left_out = [DIMENSION_LABELS[d] for d in DIMENSIONS if d not in self.segments.values()]
            segments += f" (left out to keep the file small: {', '.join(left_out)})"
        return (
            f"# {TITLE} — static export\n\n"
            f"A snapshot of the collections dashboard saved as one HTML file that works "
            f"offline. **As of {model.as_of_date:%d %B %Y}** (the latest payment date in the "
            f"data unless set). **Source:** `{model.source}`. "
            f"Exported {dt.datetime.now():%d %B %Y %H:%M}.\n\n"
            f"**What is fixed in this file**\n\n"
            f"- Filters: {filters} (no filter on any customer dimension).\n"
            f"- Payment window: {model.before} days before to {model.after} days after the "
            f"due date; a bill defaults when short by more than £{model.tolerance:.2f}.\n"
            f"- Default and collection rates count {counted}; billed £ counts every bill.\n"
            f"- Only the **metric**, **segment** and **period** controls are live; they switch "
            f"between {self.states} states computed at export ({len(EXPORT_METRICS)} metrics "
            f"× {len(self.segments)} segments × {len(self.presets)} periods). "
            f"Periods: {', '.join(self.presets)}. Segments: {segments}. "
            f"Filters, window, tolerance and KPI thresholds need the served dashboard.\n"
            f"- {customers}"
        )

    def layout(self):
        """The page as a plain Panel column (what :func:`export_html` saves).

        Returns
        -------
        panel.Column
        """
        import panel as pn

        controls = pn.Row(
            pn.Column(pn.pane.Markdown("**Metric**", margin=(5, 10, 0, 10)), self.metric),
            self.segment,
            self.period,
            sizing_mode="stretch_width",
        )
        live, fixed = [], []
        for tab in self.tabs:
            if tab.served_only:
                continue
            if tab.name in LIVE_TABS:
                live += [_section(tab), *self._live_parts(tab)]
            elif parts := self._fixed_parts(tab):
                fixed += [_section(tab), *parts]
        return pn.Column(
            pn.pane.Markdown(self.header(), sizing_mode="stretch_width"),
            controls,
            self.selection,
            pn.FlexBox(*self.gauges.values(), justify_content="space-evenly"),
            *live,
            pn.pane.Markdown(
                "**The sections below cover all months** of the data and the fixed filters; "
                "the controls above do not change them.",
                margin=(25, 10, 0, 10),
            ),
            *fixed,
            sizing_mode="stretch_width",
            max_width=1400,
        )

    # --- the live tabs ------------------------------------------------------------------

    def _live_parts(self, tab: Tab) -> list:
        import panel as pn

        parts = []
        for chart in tab.charts():
            if chart.name in self.variants:
                panes = self.variants[chart.name].values()
                parts.append(pn.Column(*panes, sizing_mode="stretch_width"))
        if any(_by_segment(chart) for chart in tab.charts()):
            parts.append(self.segment_charts[tab.name])
        for table in tab.tables():
            parts.append(pn.Column(*self.tables[table.name].values(), sizing_mode="stretch_width"))
        return parts

    def _variant_key(self, chart: Chart, metric: str, period: str) -> tuple:
        return (metric, period) if "metric" in chart.watches else (period,)

    def _draw_variants(self, live: list[Tab]) -> dict[str, dict[tuple, object]]:
        """Draw the live charts that do not depend on the segment, once per combination."""
        import panel as pn

        model = self.model
        charts = [c for tab in live for c in tab.charts() if not _by_segment(c)]
        drawn: dict[str, dict[tuple, object]] = {chart.name: {} for chart in charts}
        for period, months in self.presets.items():
            model.period = months
            for metric in EXPORT_METRICS.values():
                model.metric = metric
                for chart in charts:
                    key = self._variant_key(chart, metric, period)
                    if key not in drawn[chart.name]:
                        drawn[chart.name][key] = chart.draw(model)
        return {
            name: {
                key: pn.panel(obj, sizing_mode="stretch_width", visible=False)
                for key, obj in objects.items()
            }
            for name, objects in drawn.items()
        }

    def _make_tables(self, live: list[Tab]) -> dict[str, dict[str, object]]:
        """The live tabs' tables: one per segment for a table split by segment, each built
        with its final columns."""
        model, tables = self.model, {}
        for table in (t for tab in live for t in tab.tables()):
            dims = self.segments.values() if _by_segment(table) else [model.segment_by]
            tables[table.name] = {
                dim: _static_table(
                    table.frame(model.clone(segment_by=dim, live_outputs=list(table.outputs))),
                    visible=False,
                )
                for dim in dims
            }
        return tables

    def _refresh(self, *_events) -> None:
        import panel as pn

        model = self.model
        metric, period = self.metric.value, self.period.value
        model.param.update(
            metric=metric, segment_by=self.segment.value, period=self.presets[period]
        )
        selection = model.describe_selection()
        kpis = model.kpis
        self.selection.object = (
            f"**Showing {METRIC[model.metric].label.lower()} by "
            f"{DIMENSION_LABELS[model.segment_by].lower()} · {markdown_text(selection)}** — "
            f"{kpis['customers']:,} customers, {kpis['bills']:,} bills counted, "
            f"£{kpis['billed']:,.0f} billed."
        )
        self.selection.param.trigger("object")
        for kpi, gauge in self.gauges.items():
            thresholds = getattr(model, f"{kpi}_thresholds")
            gauges.update_gauge(gauge, kpi, kpis.get(kpi, float("nan")), thresholds)
            gauge.param.trigger("value", "label", "colors")
        for tab in (tab for tab in self.tabs if tab.name in LIVE_TABS):
            for chart in tab.charts():
                if chart.name in self.variants:
                    shown = self._variant_key(chart, metric, period)
                    for key, pane in self.variants[chart.name].items():
                        pane.visible = key == shown
                        pane.param.trigger("visible")
            split = [c for c in tab.charts() if _by_segment(c)]
            if split:
                self.segment_charts[tab.name].objects = [
                    pn.panel(chart.draw(model), sizing_mode="stretch_width") for chart in split
                ]
            for table in tab.tables():
                self._refresh_table(table)

    def _refresh_table(self, table: Table) -> None:
        shown = self.tables[table.name]
        for dim, widget in shown.items():
            widget.visible = dim == self.model.segment_by or len(shown) == 1
            widget.param.trigger("visible")
        widget = shown.get(self.model.segment_by) or next(iter(shown.values()))
        widget.value = table.frame(self.model)
        widget.param.trigger("value")

    # --- the fixed tabs -----------------------------------------------------------------

    def _fixed_parts(self, tab: Tab) -> list:
        """A fixed tab's views in page order (its notes only when something is shown)."""
        import panel as pn

        shown = [self._fixed_view(part) for part in tab.parts if not isinstance(part, Note)]
        if not any(view is not None for view in shown):
            return []
        parts = []
        for part in tab.parts:
            if isinstance(part, Note) and isinstance(part.text, str):
                parts.append(pn.pane.Markdown(part.text, sizing_mode="stretch_width"))
            elif isinstance(part, Chart | Table) and (view := self._fixed_view(part)) is not None:
                parts.extend(view if isinstance(view, list) else [view])
        return parts

    def _fixed_view(self, part):
        if isinstance(part, Table) and part.customer_level:
            return self._customer_table(part) if self.include_customers else None
        if isinstance(part, Chart | Table):
            return self.ledger_views.get(part.name)
        return None

    def _draw_fixed_views(self) -> dict[str, object]:
        """The fixed tabs' charts and aggregate tables over all months, drawn once.

        Embedding them in every state made each state take half a minute to apply in the
        browser, so no control changes them.
        """
        import panel as pn

        drawn = {}
        for tab in self.tabs:
            if tab.name in LIVE_TABS or tab.served_only:
                continue
            for part in tab.parts:
                if isinstance(part, Chart) and not _by_segment(part):
                    drawn[part.name] = [
                        obj if isinstance(obj, pn.viewable.Viewable) else pn.panel(obj)
                        for obj in self._each_choice(part)
                    ]
                elif isinstance(part, Table) and not (_by_segment(part) or part.customer_level):
                    drawn[part.name] = _static_table(part.frame(self.model))
        return drawn

    def _each_choice(self, chart: Chart) -> list:
        """The chart drawn once per value of its choice (the served tab's control), in the
        control's order; once if it has none. The model's choice is left as it was."""
        if not chart.choice:
            return [chart.draw(self.model)]
        model, kept = self.model, getattr(self.model, chart.choice)
        drawn = []
        try:
            for value in model.param[chart.choice].objects:
                setattr(model, chart.choice, value)
                drawn.append(chart.draw(model))
        finally:
            setattr(model, chart.choice, kept)
        return drawn

    def _customer_table(self, table: Table) -> list:
        """A customer-level table's top :data:`WORKLIST_ROWS` rows, with what they are."""
        import panel as pn

        frame = table.frame(self.model)
        note = (
            f"The top {min(len(frame), WORKLIST_ROWS):,} of {len(frame):,} customers in arrears "
            f"on {self.model.as_of_date:%d %b %Y}, for the exported selection."
        )
        return [
            pn.pane.Markdown(note, sizing_mode="stretch_width"),
            _static_table(frame.head(WORKLIST_ROWS), pagination="local", page_size=25),
        ]


WORKLIST_ROWS = 500
"""Customer rows in an export made with ``--include-customers``."""


def _by_segment(part: Chart | Table) -> bool:
    """Whether a chart or table changes with the segmentation (``segment_by``)."""
    watched = set(getattr(part, "watches", ()))
    return "segment_by" in watched or any(
        "segment_by" in OUTPUT[name].inputs for name in part.outputs if name in OUTPUT
    )


def _section(tab: Tab):
    import panel as pn

    title = SECTION_TITLES.get(tab.name, tab.name)
    return pn.pane.Markdown(f"## {title}", margin=(15, 10, 0, 10))


def _static_table(frame: pd.DataFrame, **options):
    import panel as pn

    return pn.widgets.Tabulator(
        frame,
        disabled=True,
        show_index=False,
        formatters=tabulator_formatters(frame),
        sizing_mode="stretch_width",
        **options,
    )


def export_html(
    source: str | Path,
    out: str | Path,
    include_customers: bool = False,
    progress: bool = True,
    segments: Sequence[str] = DEFAULT_SEGMENTS,
) -> Path:
    """Write the dashboard as one self-contained, offline HTML file.

    Parameters
    ----------
    source : str or Path
        CSV folder, SQLite file or Parquet folder.
    out : str or Path
        The HTML file to write (parent folders are created).
    include_customers : bool, optional
        Add the worklist's top :data:`WORKLIST_ROWS` customers (customer ids, arrears,
        vulnerability). Off by default: the file holds aggregates only (and says so).
    progress : bool, optional
        Print progress lines on stderr (and Panel's progress bar while states are embedded).
    segments : sequence of str, optional
        Dimensions offered by the segment control: :data:`DEFAULT_SEGMENTS` (four) unless
        given; ``dashboard.vocab.DIMENSIONS`` offers all seven. Each one adds
        ``4 metrics × 3 periods`` states to the file.

    Returns
    -------
    Path
        The file written.

    Notes
    -----
    The page embeds every combination of the live controls (4 metrics × 4 segments ×
    3 periods = 48 states by default); see :class:`StaticDashboard`. Measured on the
    reference data (1,500 customers): about 1.5 minutes and 8.5 MB for 48 states, 2.5 minutes
    and 10 MB for all 84. No URL of the page points off the machine: scripts are inlined and
    Panel's stylesheets become ``data:`` URLs.
    """
    import panel as pn
    from bokeh.resources import INLINE

    log = _logger(progress)
    started = time.perf_counter()
    out = Path(out)
    log(f"Loading {source} ...")
    model = CollectionsModel(source=str(source))
    # Quiet: HoloViews warns about responsive sizing for every chart, and Panel that the
    # gauges need pn.extension("echarts") -- a saved page embeds what its models need.
    with param.logging_level("ERROR"):
        page = StaticDashboard(model, include_customers=include_customers, segments=segments)
    log(
        f"Loaded in {time.perf_counter() - started:.1f} s; as of {model.as_of_date:%Y-%m-%d}. "
        f"Embedding {page.states} states ({len(EXPORT_METRICS)} metrics × "
        f"{len(page.segments)} segments × {len(page.presets)} periods) ..."
    )
    buffer = io.StringIO()
    # safe_embed: every property set is recorded, even to an unchanged value (see
    # StaticDashboard: each state must carry the whole page).
    with param.logging_level("ERROR"), pn.config.set(safe_embed=True):
        pn.panel(page.layout()).save(
            buffer,
            title=f"{TITLE} — as of {model.as_of_date:%d %b %Y}",
            resources=INLINE,
            embed=True,
            max_states=max(page.states, 1000),
            progress=progress,
        )
    log(f"Embedded in {time.perf_counter() - started:.1f} s; inlining stylesheets ...")
    text = inline_panel_resources(buffer.getvalue())
    for host in ("cdn.holoviz.org", "cdn.bokeh.org", "fonts.googleapis.com"):
        if host in text:  # a resource this version of the export does not know about
            raise RuntimeError(f"the exported page still refers to {host}; not written")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    size = out.stat().st_size
    log(
        f"Wrote {out} ({size / 1e6:.1f} MB, {page.states} states) "
        f"in {time.perf_counter() - started:.1f} s."
    )
    return out


def inline_panel_resources(text: str, dist: Path | None = None) -> str:
    """Replace every Panel CDN URL in a saved page by a ``data:`` URL of the local file.

    Parameters
    ----------
    text : str
        HTML saved by Panel.
    dist : Path, optional
        Panel's ``dist`` folder (the installed one by default).

    Returns
    -------
    str
        The page with no ``https://cdn.holoviz.org/panel/...`` reference left. Stylesheets
        have their own ``url()`` references inlined too.

    Raises
    ------
    FileNotFoundError
        When a referenced file is not in the ``dist`` folder.
    """
    if dist is None:
        import panel

        dist = Path(panel.__file__).parent / "dist"
    cache: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        relative = match.group(1)
        if relative not in cache:
            file = dist / relative
            if not file.is_file():
                raise FileNotFoundError(f"{match.group(0)} is not in Panel's dist folder {dist}")
            cache[relative] = _data_url(file)
        return cache[relative]

    return _PANEL_CDN_RE.sub(replace, text)


def _data_url(file: Path) -> str:
    if file.suffix == ".css":
        css = _inline_css_urls(file.read_text(encoding="utf-8"), file.parent)
        payload, mime = css.encode("utf-8"), "text/css"
    else:
        payload = file.read_bytes()
        mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix == ".ico":
            mime = "image/x-icon"
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _inline_css_urls(css: str, folder: Path) -> str:
    """Inline the fonts and images a stylesheet refers to; blank out font fallbacks."""

    def replace(match: re.Match) -> str:
        target = match.group(2).strip()
        if target.startswith(("data:", "#")):
            return match.group(0)
        path = target.split("?")[0].split("#")[0]
        file = (folder / path).resolve()
        if not target.startswith(("http:", "https:", "//")) and file.is_file():
            if file.suffix in _INLINED_ASSETS:
                mime = {".woff2": "font/woff2"}.get(file.suffix) or mimetypes.guess_type(file.name)[
                    0
                ]
                encoded = base64.b64encode(file.read_bytes()).decode("ascii")
                return f'url("data:{mime};base64,{encoded}")'
        return 'url("data:,")'

    return _CSS_URL_RE.sub(replace, css)


def _logger(enabled: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return log
