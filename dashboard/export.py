"""Static exports: one self-contained HTML page and a set of PNG figures.

:func:`export_html` writes a page that opens from ``file://`` with no network at all. It is a
plain Panel layout (templates cannot embed) saved with ``embed=True``: Panel runs every
combination of the three live controls (metric, segment, period preset) at export time and
stores the resulting document changes in the page, so the controls work without a server.
Everything else is fixed at export time and the page says so. Bokeh's and Panel's JavaScript
is inlined (``resources=INLINE``); the component stylesheets that Panel still points at
``https://cdn.holoviz.org/panel/<version>/dist/...`` are replaced by ``data:`` URLs of the same
files from Panel's installed ``dist`` folder (fonts they use included).

:func:`export_figures` draws PNG figures with plain matplotlib (no browser) from the
:class:`~dashboard.model.CollectionsModel` output frames; :func:`figure_frames` returns the
exact frames they are drawn from. Neither function computes a metric: both read the model.
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

import numpy as np
import pandas as pd
import param

from .model import KPIS, METRIC_LABELS, METRICS, CollectionsModel
from .vocab import ACTIONS, DIMENSION_LABELS, DIMENSIONS, FLAG_DIMENSIONS

TITLE = "Portfolio Collections Dashboard"

EXPORT_METRICS: dict[str, str] = dict(METRICS)
"""Metric label -> column, the options of the exported metric control."""

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

    Each embedded state is replayed on its own, whatever the page showed before, so every
    state re-sends every output: charts that depend on few combinations (the monthly trend:
    metric × period; the two actions charts: period) are drawn once per combination and
    shown or hidden; the two segment charts are drawn again for each state; gauges and
    selection line re-send their values. There is one table per segment, shown or hidden,
    whose rows are re-sent: a table's columns never change after the page is built (Panel
    only sends a table's columns when they change, which a replayed state cannot rely on).

    Parameters
    ----------
    model : CollectionsModel
        The state shown; its filters, window and maturity rule are what the page fixes.
    include_customers : bool, optional
        Add the worklist (customer-level rows: the top :data:`WORKLIST_ROWS` by priority
        of the exported selection). Off by default: the page then holds aggregates only.
    segments : sequence of str, optional
        Dimensions offered by the segment control (:data:`DEFAULT_SEGMENTS` by default).
    """

    def __init__(
        self,
        model: CollectionsModel,
        include_customers: bool = False,
        segments: Sequence[str] = DEFAULT_SEGMENTS,
    ):
        import panel as pn

        from . import views

        self.model = model
        self.include_customers = include_customers
        self.presets = export_presets(model)
        self.segments = {DIMENSION_LABELS[d]: d for d in segments}
        if model.segment_by not in self.segments.values():
            model.segment_by = next(iter(self.segments.values()))
        self.metric = pn.widgets.RadioBoxGroup(
            label="Metric", options=EXPORT_METRICS, value=model.metric, inline=False
        )
        self.segment = pn.widgets.Select(
            label="Segment by", options=self.segments, value=model.segment_by, width=220
        )
        self.period = pn.widgets.Select(
            label="Period", options=list(self.presets), value="All months", width=220
        )
        self.selection = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.gauges = {kpi: views.kpi_gauge(kpi) for kpi in KPIS}
        self.segment_charts = pn.Column(sizing_mode="stretch_width", min_height=2 * views.HEIGHT)
        self.variants = self._draw_variants()
        self.tables = self._make_tables()
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
        from . import views

        filters = views.markdown_text(model.describe_selection().split(" · ", 1)[-1])
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

        def section(text):
            return pn.pane.Markdown(f"## {text}", margin=(15, 10, 0, 10))

        def variants(chart):
            return pn.Column(*self.variants[chart].values(), sizing_mode="stretch_width")

        return pn.Column(
            pn.pane.Markdown(self.header(), sizing_mode="stretch_width"),
            controls,
            self.selection,
            pn.FlexBox(*self.gauges.values(), justify_content="space-evenly"),
            section("Monthly trend"),
            variants("trend"),
            section("Segments"),
            self.segment_charts,
            pn.Column(*self.tables.values(), sizing_mode="stretch_width"),
            section("Collections actions"),
            variants("actions"),
            variants("actions_volume"),
            pn.pane.Markdown(
                "**The sections below cover all months** of the data and the fixed filters; "
                "the controls above do not change them.",
                margin=(25, 10, 0, 10),
            ),
            section("Arrears and ageing"),
            *self._ledger("ageing", "arrears_share"),
            section("Roll and cure"),
            *self._ledger("transitions", "roll"),
            section("Cohorts"),
            *self._ledger("vintage_default", "vintage_arrears", "entries"),
            section("Action effectiveness"),
            *self._ledger("effectiveness", "funnel"),
            section("Tariffs"),
            *self._ledger("tariffs"),
            *self.worklist_section(),
            sizing_mode="stretch_width",
            max_width=1400,
        )

    def _ledger(self, *names: str) -> list:
        return [self.ledger_views[name] for name in names]

    def worklist_section(self) -> list:
        """The worklist (top rows by priority) when customer rows were asked for, else nothing."""
        if not self.include_customers:
            return []
        import panel as pn

        from . import arrears_views

        rows = self.model.worklist
        table = arrears_views.worklist_table(rows.head(WORKLIST_ROWS))
        note = (
            f"## Worklist\n\n{arrears_views.worklist_note()}\n\n"
            f"The top {len(table):,} of {len(rows):,} customers in arrears on "
            f"{self.model.as_of_date:%d %b %Y}, for the exported selection."
        )
        return [
            pn.pane.Markdown(note, sizing_mode="stretch_width"),
            pn.widgets.Tabulator(
                table,
                disabled=True,
                show_index=False,
                pagination="local",
                page_size=25,
                formatters=arrears_views.tabulator_formatters(table),
                sizing_mode="stretch_width",
            ),
        ]

    def _draw_variants(self) -> dict[str, dict[tuple, object]]:
        """Draw the charts that depend on metric and period only, once per combination."""
        import panel as pn

        from . import views

        model = self.model
        drawn: dict[str, dict[tuple, object]] = {
            name: {} for name in ("trend", "actions", "actions_volume")
        }
        for period, months in self.presets.items():
            model.period = months
            selection = model.describe_selection()
            for metric in EXPORT_METRICS.values():
                chart = views.monthly_trend(model.monthly, metric, model.as_of_date, selection)
                drawn["trend"][metric, period] = chart
            drawn["actions"][period,] = views.actions_distribution(model.actions_by_type, selection)
            drawn["actions_volume"][period,] = views.actions_volume(
                model.actions_monthly, selection
            )
        model.period = self.presets["All months"]
        self.ledger_views = self._draw_ledger_views()
        return {
            chart: {
                key: pn.panel(obj, sizing_mode="stretch_width", visible=False)
                for key, obj in objects.items()
            }
            for chart, objects in drawn.items()
        }

    def _draw_ledger_views(self) -> dict[str, object]:
        """The arrears, roll, cohort, effectiveness and tariff views over all months.

        They are drawn once and no control changes them: embedding them in every state
        made each state take half a minute to apply in the browser.
        """
        import panel as pn

        from . import arrears_views as aviews

        model = self.model
        selection, as_of = model.describe_selection(), model.as_of_date
        vulnerable = model.cube.segments["is_vulnerable"].cat.categories
        everyone = f"all months · {model.describe_filters()}"
        drawn = {
            "ageing": aviews.ageing_chart(model.ageing, "arrears", as_of, selection),
            "arrears_share": aviews.arrears_share_chart(model.arrears_monthly, selection),
            "transitions": aviews.transition_heatmap(model.transitions, "customers", selection),
            "roll": aviews.roll_rate_chart(model.roll, model.cube.arrears.bucket_labels, selection),
            "vintage_default": aviews.vintage_chart(model.vintage, "default_rate", everyone),
            "vintage_arrears": aviews.vintage_chart(model.vintage, "arrears_share", everyone),
            "entries": aviews.entry_cohort_heatmap(model.entries, selection),
            "effectiveness": aviews.effectiveness_chart(
                model.effectiveness, "is_vulnerable", vulnerable, selection
            ),
            "funnel": aviews.funnel_chart(model.funnel, selection),
            "tariffs": _static_table(aviews.tariff_table(model.tariffs)),
        }
        return {
            name: obj if isinstance(obj, pn.viewable.Viewable) else pn.panel(obj)
            for name, obj in drawn.items()
        }

    def _make_tables(self) -> dict[str, object]:
        """One table per segment, built with its final columns."""

        from . import views

        model, tables = self.model, {}
        original = model.segment_by
        for dim in self.segments.values():
            model.segment_by = dim
            tables[dim] = views.figures_tabulator(
                views.figures_table(model.by_segment, dim), visible=False
            )
        model.segment_by = original
        return tables

    def _refresh(self, *_events) -> None:
        import panel as pn

        from . import views

        model = self.model
        metric, period = self.metric.value, self.period.value
        model.param.update(
            metric=metric, segment_by=self.segment.value, period=self.presets[period]
        )
        selection = model.describe_selection()
        kpis = model.kpis
        self.selection.object = (
            f"**Showing {METRIC_LABELS[model.metric].lower()} by "
            f"{DIMENSION_LABELS[model.segment_by].lower()} · {views.markdown_text(selection)}** — "
            f"{kpis['customers']:,} customers, {kpis['bills']:,} bills counted, "
            f"£{kpis['billed']:,.0f} billed."
        )
        self.selection.param.trigger("object")
        for kpi, gauge in self.gauges.items():
            thresholds = getattr(model, f"{kpi}_thresholds")
            views.update_gauge(gauge, kpi, kpis.get(kpi, float("nan")), thresholds)
            gauge.param.trigger("value", "name", "colors")
        shown = {"trend": (metric, period), "actions": (period,), "actions_volume": (period,)}
        for chart, panes in self.variants.items():
            for key, pane in panes.items():
                pane.visible = key == shown[chart]
                pane.param.trigger("visible")
        categories = model.cube.segments[model.segment_by].cat.categories
        trend = views.segment_trend(
            model.monthly_by_segment, model.metric, model.segment_by, categories, selection
        )
        bars = views.segment_bars(
            model.by_segment, model.metric, model.segment_by, categories, selection
        )
        # Both replaced at once: one recomputation of the document's model graph per state.
        self.segment_charts.objects = [
            pn.panel(trend, sizing_mode="stretch_width"),
            pn.panel(bars, sizing_mode="stretch_width"),
        ]
        for dim, table in self.tables.items():
            table.visible = dim == model.segment_by
            table.param.trigger("visible")
        table = self.tables[model.segment_by]
        table.value = views.figures_table(model.by_segment, model.segment_by)
        table.param.trigger("value")


WORKLIST_ROWS = 500
"""Customer rows in an export made with ``--include-customers``."""


def _static_table(frame: pd.DataFrame):
    import panel as pn

    from .arrears_views import tabulator_formatters

    return pn.widgets.Tabulator(
        frame,
        disabled=True,
        show_index=False,
        formatters=tabulator_formatters(frame),
        sizing_mode="stretch_width",
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
    model = CollectionsModel(source=str(Path(source).resolve()))
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


# --- PNG figures ----------------------------------------------------------------------------

FIGURES = (
    "monthly_default_rate",
    "collection_rate_monthly",
    "billed_monthly",
    "default_by_income",
    "default_by_region",
    "actions_distribution",
    "actions_monthly",
)
"""Names of the PNG files :func:`export_figures` writes (without ``.png``)."""

_BLUE, _GREY = "#1f77b4", "#9e9e9e"
_ACTION_COLORS = dict(zip(ACTIONS, ("#4c78a8", "#f58518", "#54a24b", "#e45756"), strict=True))


def figure_frames(model: CollectionsModel) -> dict[str, pd.DataFrame]:
    """The model output each figure is drawn from, unchanged.

    Parameters
    ----------
    model : CollectionsModel
        Its ``segment_by`` is set to ``income_band`` and ``region`` in turn for the two
        segment figures, then restored.

    Returns
    -------
    dict of str to DataFrame
        Figure name (see :data:`FIGURES`) -> a copy of ``model.monthly``,
        ``model.by_segment``, ``model.actions_by_type`` or ``model.actions_monthly``.
    """
    frames = {
        "monthly_default_rate": model.monthly.copy(),
        "collection_rate_monthly": model.monthly.copy(),
        "billed_monthly": model.monthly.copy(),
        "actions_distribution": model.actions_by_type.copy(),
        "actions_monthly": model.actions_monthly.copy(),
    }
    original = model.segment_by
    try:
        for name, dim in (("default_by_income", "income_band"), ("default_by_region", "region")):
            model.segment_by = dim
            frames[name] = model.by_segment.copy()
    finally:
        model.segment_by = original
    return {name: frames[name] for name in FIGURES}


def export_figures(source: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the dashboard's main charts as PNG files (matplotlib, no browser).

    Parameters
    ----------
    source : str or Path
        CSV folder, SQLite file or Parquet folder.
    out_dir : str or Path
        Folder for the PNG files (created if missing).

    Returns
    -------
    list of Path
        The files written, in the order of :data:`FIGURES`: ``monthly_default_rate.png``,
        ``collection_rate_monthly.png``, ``billed_monthly.png``, ``default_by_income.png``,
        ``default_by_region.png``, ``actions_distribution.png`` and ``actions_monthly.png``.

    Notes
    -----
    Rates count mature bills only (the model's default) and every title says so with the
    as-of date; months whose payment window is still open are shaded and never drawn as
    a rate.
    """
    model = CollectionsModel(source=str(Path(source).resolve()))
    return write_figures(model, out_dir)


def write_figures(model: CollectionsModel, out_dir: str | Path) -> list[Path]:
    """Draw :func:`figure_frames` of a model into PNG files.

    Parameters
    ----------
    model : CollectionsModel
    out_dir : str or Path

    Returns
    -------
    list of Path
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in figure_frames(model).items():
        path = out_dir / f"{name}.png"
        draw_figure(name, frame, model).savefig(
            path, dpi=120, bbox_inches="tight", facecolor="white"
        )
        paths.append(path)
    return paths


def draw_figure(name: str, frame: pd.DataFrame, model: CollectionsModel):
    """Draw one figure from its frame (see :func:`figure_frames`).

    Parameters
    ----------
    name : str
        One of :data:`FIGURES`.
    frame : DataFrame
        The model output the figure shows.
    model : CollectionsModel
        For the as-of date, counting rule, window and selection stated in the titles.

    Returns
    -------
    matplotlib.figure.Figure
        Made without pyplot (no global state, no display needed).
    """
    if name not in _DRAW:
        raise ValueError(f"unknown figure {name!r}; choose one of {', '.join(FIGURES)}")
    return _DRAW[name](frame, _FigureContext(model))


class _FigureContext:
    """What every figure states: as-of date, counting rule, window, selection."""

    def __init__(self, model: CollectionsModel):
        self.as_of = f"as of {model.as_of_date:%d %b %Y}"
        self.counted = "all bills" if model.include_immature else "mature bills only"
        self.selection = model.describe_selection()
        self.window = (
            f"payment window {model.before} days before to {model.after} days after due, "
            f"tolerance £{model.tolerance:.2f}"
        )

    def rate_title(self, title: str) -> str:
        return f"{title} — {self.counted}, {self.as_of}"


def _new_figure(width: float = 10, height: float = 5.0):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _titles(figure, ax, title: str, subtitle: str) -> None:
    figure.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    ax.set_title(subtitle, loc="left", fontsize=9, color="#444444")
    ax.spines[["top", "right"]].set_visible(False)


def _month_axis(ax) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.xaxis.set_minor_locator(mdates.MonthLocator())
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    ax.grid(axis="y", alpha=0.3)


def _month_bars(months: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Left edges and widths (in days) of bars that fill each month."""
    starts = pd.to_datetime(months)
    widths = (starts + pd.offsets.MonthBegin(1) - starts).dt.days.to_numpy() * 0.8
    return starts + pd.Timedelta(days=2), widths


def _percent_axis(axis) -> None:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    axis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
    axis.set_major_formatter(PercentFormatter(xmax=1, decimals=None))


def _pounds_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    def pounds(value, _pos):
        if abs(value) >= 1e6:
            return f"£{value / 1e6:,.1f}m"
        if abs(value) >= 1e3:
            return f"£{value / 1e3:,.0f}k"
        return f"£{value:,.0f}"

    axis.set_major_formatter(FuncFormatter(pounds))


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def _legend_below(figure, ax, ncols: int = 4) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)


def _shade_immature(ax, monthly: pd.DataFrame) -> None:
    """Shade the bill months whose payment window is still open."""
    immature = monthly.loc[~monthly["mature"], "month"]
    if immature.empty:
        return
    start = immature.min()
    end = monthly["month"].max() + pd.offsets.MonthBegin(1)
    ax.axvspan(
        start, end, color=_GREY, alpha=0.2, lw=0, label="payment window still open: not final"
    )


def _draw_monthly_rate(monthly: pd.DataFrame, context: _FigureContext, metric: str):
    figure, ax = _new_figure()
    counted = monthly.loc[monthly["counted_bills"].gt(0)]
    mature = counted.loc[counted["mature"]]
    middle = pd.Timedelta(days=14)  # a bill month's point sits mid-month
    ax.plot(
        mature["month"] + middle,
        mature[metric],
        color=_BLUE,
        marker="o",
        ms=3.5,
        lw=1.8,
        label=f"{METRIC_LABELS[metric]} (mature bills)",
    )
    immature = counted.loc[~counted["mature"]]
    if len(immature):  # only when immature bills are counted: hollow, dashed, grey
        ax.plot(
            immature["month"] + middle,
            immature[metric],
            color=_GREY,
            marker="o",
            mfc="white",
            ls="--",
            label="not final (window still open)",
        )
    _shade_immature(ax, monthly)
    _month_axis(ax)
    _percent_axis(ax.yaxis)
    values = counted[metric].dropna()
    if len(values):
        low, high = float(values.min()), float(values.max())
        pad = max((high - low) * 0.15, 0.005)
        ax.set_ylim(0 if metric == "default_rate" else low - pad, high + pad)
    ax.set_ylabel(METRIC_LABELS[metric])
    ax.set_xlabel("bill month (month of the bill period end)")
    _legend_below(figure, ax)
    title = context.rate_title(f"{METRIC_LABELS[metric]} by bill month")
    _titles(figure, ax, title, f"{context.selection} · {context.window}")
    return figure


def _draw_billed(monthly: pd.DataFrame, context: _FigureContext):
    figure, ax = _new_figure()
    left, widths = _month_bars(monthly["month"])
    ax.bar(left, monthly["billed"], width=widths, align="edge", color=_BLUE, label="Billed £")
    _month_axis(ax)
    _pounds_axis(ax.yaxis)
    ax.set_ylabel("billed per bill month")
    ax.set_xlabel("bill month (month of the bill period end)")
    title = f"Billed £ by bill month — every bill, {context.as_of}"
    _titles(figure, ax, title, context.selection)
    return figure


def _segment_labels(dim: str, values) -> list[str]:
    if dim in FLAG_DIMENSIONS:
        return ["Yes" if int(v) == 1 else "No" for v in values]
    return [str(v) for v in values]


def _draw_segment_rate(by_segment: pd.DataFrame, context: _FigureContext, dim: str, order: str):
    frame = by_segment.dropna(subset=["default_rate"]).copy()
    frame["label"] = _segment_labels(dim, frame[dim])
    if order == "value":
        frame = frame.sort_values("default_rate")
    figure, ax = _new_figure(10, 1.6 + 0.5 * max(len(frame), 1))
    bars = ax.barh(frame["label"], frame["default_rate"], color=_BLUE)
    if order != "value":
        ax.invert_yaxis()  # natural order (low to high income) from the top
    labels = [
        f"{rate:.1%}  ({defaults:,} of {bills:,} bills)"
        for rate, defaults, bills in zip(
            frame["default_rate"], frame["counted_defaults"], frame["counted_bills"], strict=True
        )
    ]
    ax.bar_label(bars, labels=labels, padding=4, fontsize=8.5)
    _percent_axis(ax.xaxis)
    ax.set_xlim(0, float(frame["default_rate"].max() if len(frame) else 0.1) * 1.45)
    ax.set_xlabel("default rate")
    ax.set_ylabel(DIMENSION_LABELS[dim])
    ax.grid(axis="x", alpha=0.3)
    title = context.rate_title(f"Default rate by {DIMENSION_LABELS[dim].lower()}")
    _titles(figure, ax, title, f"{context.selection} · {context.window}")
    return figure


def _draw_actions(actions: pd.DataFrame, context: _FigureContext):
    frame = actions.assign(action=actions["action"].astype(str))
    order = [a for a in ACTIONS if a in set(frame["action"])]
    order += sorted(set(frame["action"]) - set(order))
    frame = frame.set_index("action").loc[order].reset_index()
    total = int(frame["count"].sum())
    figure, ax = _new_figure(10, 3.6)
    colors = [_ACTION_COLORS.get(a, _GREY) for a in order]
    bars = ax.barh(frame["action"], frame["count"], color=colors)
    shares = frame["count"] / total if total else frame["count"] * np.nan
    ax.bar_label(
        bars,
        labels=[f"{c:,} ({s:.0%})" for c, s in zip(frame["count"], shares, strict=True)],
        padding=4,
        fontsize=9,
    )
    ax.invert_yaxis()
    ax.set_xlim(0, max(float(frame["count"].max()), 1) * 1.25)
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_xlabel("collections actions")
    ax.grid(axis="x", alpha=0.3)
    title = f"Collections actions by type — {context.as_of}"
    _titles(figure, ax, title, f"{context.selection} · {total:,} actions")
    return figure


def _draw_actions_monthly(actions_monthly: pd.DataFrame, context: _FigureContext):
    frame = actions_monthly.assign(action=actions_monthly["action"].astype(str))
    wide = frame.pivot_table(index="month", columns="action", values="count", aggfunc="sum")
    order = [a for a in ACTIONS if a in wide.columns] + sorted(set(wide.columns) - set(ACTIONS))
    wide = wide[order].fillna(0)
    figure, ax = _new_figure()
    left, widths = _month_bars(pd.Series(wide.index))
    bottom = np.zeros(len(wide))
    for action in order:
        values = wide[action].to_numpy()
        ax.bar(
            left,
            values,
            width=widths,
            align="edge",
            bottom=bottom,
            color=_ACTION_COLORS.get(action, _GREY),
            label=action,
        )
        bottom += values
    _month_axis(ax)
    ax.yaxis.set_major_formatter(_thousands())
    ax.set_ylabel("actions per month")
    ax.set_xlabel("month of the action")
    _legend_below(figure, ax)
    title = f"Collections actions per month by type — {context.as_of}"
    _titles(figure, ax, title, context.selection)
    return figure


_DRAW: dict[str, Callable] = {
    "monthly_default_rate": lambda f, c: _draw_monthly_rate(f, c, "default_rate"),
    "collection_rate_monthly": lambda f, c: _draw_monthly_rate(f, c, "collection_rate"),
    "billed_monthly": _draw_billed,
    "default_by_income": lambda f, c: _draw_segment_rate(f, c, "income_band", "natural"),
    "default_by_region": lambda f, c: _draw_segment_rate(f, c, "region", "value"),
    "actions_distribution": _draw_actions,
    "actions_monthly": _draw_actions_monthly,
}
