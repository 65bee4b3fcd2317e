"""Pure view functions: a model DataFrame in, a HoloViews object or Panel pane out.

Views never compute metrics: they draw what :class:`~dashboard.model.CollectionsModel`
produced. Conventions: one colour per segment value in every chart (:func:`segment_colors`),
``%`` and ``£`` on axes and hovers, a title that says what is shown under which filters,
and an explicit "no data for this selection" instead of empty axes.
"""

from __future__ import annotations

import html

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import NumeralTickFormatter

from .model import HIGHER_IS_BETTER, KPI_LABELS, METRIC_LABELS, RATE_METRICS
from .vocab import ACTIONS, DIMENSION_LABELS, FLAG_DIMENSIONS

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
ACTION_COLORS = dict(zip(ACTIONS, ("#4c78a8", "#f58518", "#54a24b", "#e45756"), strict=True))
IMMATURE_COLOR = "#9e9e9e"
GAUGE_COLORS = ("#2e7d32", "#f9a825", "#c62828")
"""Green, amber, red."""

HEIGHT = 320
SIZE = {"responsive": True, "height": HEIGHT}
"""Size of every chart: full width, fixed height (given to each hvplot call)."""
NO_DATA = "No data for this selection"


def is_rate(metric: str) -> bool:
    """Whether a metric is a fraction shown in % (else money in £)."""
    return metric in RATE_METRICS


def value_format(metric: str) -> str:
    """A Bokeh numeral format for a metric's axis (money: the £ is in the axis label, as
    Bokeh's numeral format drops it)."""
    return "0.0%" if is_rate(metric) else "0,0"


def hover_format(metric: str) -> str:
    """A Bokeh hover field format for a metric."""
    return "{0.0%}" if is_rate(metric) else "{£0,0.00}"


def segment_labels(dim: str, values) -> list[str]:
    """Human labels of a dimension's values (flags read No/Yes)."""
    if dim in FLAG_DIMENSIONS:
        return ["Yes" if int(v) == 1 else "No" for v in values]
    return [str(v) for v in values]


def segment_colors(dim: str, categories) -> dict[str, str]:
    """The fixed colour of each value of a dimension, by its position in the categories.

    Parameters
    ----------
    dim : str
        Dimension name.
    categories : sequence
        All values of the dimension in the data (not only the selected ones), so that a
        value keeps its colour whatever the filters.

    Returns
    -------
    dict of str to str
        Label -> hex colour.
    """
    labels = segment_labels(dim, categories)
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def markdown_text(text: str) -> str:
    """Text from the data made safe for a Markdown/HTML pane: shown as typed, never as markup.

    Chart titles, axes, legends and Tabulator cells already show text as text; Markdown,
    HTML and Alert panes render markup, so every data string goes through this first.
    """
    marked = "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))
    return html.escape(marked, quote=True)


MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-!|~")


def no_data(message: str = NO_DATA) -> pn.pane.Alert:
    """The pane shown instead of an empty chart."""
    return pn.pane.Alert(f"**{message}.** Widen the filters or the period.", alert_type="warning")


def _with_labels(frame: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Add a ``segment`` column of labels in category order."""
    values = frame[dim]
    categories = values.cat.categories if hasattr(values, "cat") else sorted(values.unique())
    labels = segment_labels(dim, categories)
    mapping = dict(zip(categories, labels, strict=True))
    segment = pd.Categorical(values.map(mapping), categories=labels, ordered=True)
    return frame.assign(segment=segment)


def _opts(metric: str, title: str, **extra) -> dict:
    return dict(
        title=title,
        yformatter=NumeralTickFormatter(format=value_format(metric)),
        ylabel=METRIC_LABELS[metric],
        shared_axes=False,
        **extra,
    )


def monthly_trend(monthly: pd.DataFrame, metric: str, as_of: pd.Timestamp, selection: str):
    """Monthly trend of a metric; months whose bills are not all mature drawn apart.

    Parameters
    ----------
    monthly : DataFrame
        ``CollectionsModel.monthly``.
    metric : str
        A column of :data:`dashboard.model.METRICS`.
    as_of : Timestamp
        The date of knowledge, stated in the chart.
    selection : str
        The filters in words, for the title.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    frame = monthly.loc[:, ["month", metric, "mature", "counted_bills", "bills"]].copy()
    if frame[metric].notna().sum() == 0 or frame["bills"].sum() == 0:
        return no_data()
    frame["status"] = np.where(frame["mature"], "mature", "window still open")
    tooltips = [
        ("Month", "@month{%b %Y}"),
        (METRIC_LABELS[metric], f"@{metric}{hover_format(metric)}"),
        ("Bills counted", "@counted_bills{0,0}"),
        ("Status", "@status"),
    ]
    style = dict(hover_tooltips=tooltips, hover_formatters={"@month": "datetime"})
    mature = frame.loc[frame["mature"]]
    immature = frame.loc[~frame["mature"]]
    title = f"{METRIC_LABELS[metric]} by month · {selection}"
    plot = mature.hvplot.line(
        **SIZE,
        x="month",
        y=metric,
        hover_cols=["counted_bills", "status"],
        color=PALETTE[0],
        line_width=2,
    ).opts(**style) * mature.hvplot.scatter(
        **SIZE,
        x="month",
        y=metric,
        hover_cols=["counted_bills", "status"],
        color=PALETTE[0],
        size=25,
    ).opts(**style)
    note = f"as of {as_of:%d %b %Y}"
    if len(immature):
        first_open = immature["month"].min()
        span = hv.VSpan(
            first_open - pd.Timedelta(days=15), frame["month"].max() + pd.Timedelta(days=15)
        )
        plot = plot * span.opts(color=IMMATURE_COLOR, alpha=0.15)
        shown = immature.dropna(subset=[metric])
        if len(shown):
            bridge = pd.concat([mature.tail(1), shown])
            plot = (
                plot
                * bridge.hvplot.line(
                    **SIZE,
                    x="month",
                    y=metric,
                    color=IMMATURE_COLOR,
                    line_dash="dashed",
                    line_width=2,
                )
                * shown.hvplot.scatter(
                    **SIZE,
                    x="month",
                    y=metric,
                    hover_cols=["counted_bills", "status"],
                    color=IMMATURE_COLOR,
                    size=25,
                ).opts(**style)
            )
        note += f"; shaded from {first_open:%b %Y}: payment window still open, outcome not final"
    pad = pd.Timedelta(days=20)
    xlim = (frame["month"].min() - pad, frame["month"].max() + pad)
    return plot.opts(**_opts(metric, title), xlabel=note, xlim=xlim)


def segment_trend(
    monthly_by_segment: pd.DataFrame, metric: str, dim: str, categories, selection: str
):
    """The monthly trend split by segment, one fixed colour per segment value.

    Parameters
    ----------
    monthly_by_segment : DataFrame
        ``CollectionsModel.monthly_by_segment``.
    metric, dim : str
        Metric column and segment dimension.
    categories : sequence
        All values of ``dim`` (for stable colours).
    selection : str
        The filters in words.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    frame = monthly_by_segment.dropna(subset=[metric])
    frame = frame.loc[frame["mature"] | frame["counted_bills"].gt(0)]
    if frame.empty:
        return no_data()
    frame = _with_labels(frame, dim)
    colors = segment_colors(dim, categories)
    present = [c for c in frame["segment"].cat.categories if c in set(frame["segment"])]
    title = f"{METRIC_LABELS[metric]} by month and {DIMENSION_LABELS[dim].lower()} · {selection}"
    legend_title = DIMENSION_LABELS[dim]
    frame = frame.rename(columns={"segment": legend_title})
    plot = frame.hvplot.line(
        **SIZE,
        x="month",
        y=metric,
        by=legend_title,
        color=[colors[c] for c in present],
        hover_cols=["counted_bills"],
        line_width=2,
    )
    tooltips = [
        (legend_title, f"@{{{legend_title}}}"),
        ("Month", "@month{%b %Y}"),
        (METRIC_LABELS[metric], f"@{metric}{hover_format(metric)}"),
        ("Bills counted", "@counted_bills{0,0}"),
    ]
    plot = plot.opts(
        hv.opts.Curve(hover_tooltips=tooltips, hover_formatters={"@month": "datetime"})
    )
    return plot.opts(**_opts(metric, title, legend_position="right", xlabel="bill month"))


def segment_bars(by_segment: pd.DataFrame, metric: str, dim: str, categories, selection: str):
    """The metric per segment value as bars, with bill and customer counts in the hover.

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    frame = by_segment.dropna(subset=[metric])
    if frame.empty or frame["bills"].sum() == 0:
        return no_data()
    frame = _with_labels(frame, dim)
    frame["segment"] = frame["segment"].astype(str)
    colors = segment_colors(dim, categories)
    tooltips = [
        (DIMENSION_LABELS[dim], "@segment"),
        (METRIC_LABELS[metric], f"@{metric}{hover_format(metric)}"),
        ("Bills counted", "@counted_bills{0,0}"),
        ("Defaults", "@counted_defaults{0,0}"),
        ("Customers", "@customers{0,0}"),
    ]
    title = f"{METRIC_LABELS[metric]} by {DIMENSION_LABELS[dim].lower()} · {selection}"
    bars = frame.hvplot.bar(
        **SIZE,
        x="segment",
        y=metric,
        color="segment",
        cmap=colors,
        hover_cols=["counted_bills", "counted_defaults", "customers"],
        legend=False,
    )
    return bars.opts(hover_tooltips=tooltips, xlabel=DIMENSION_LABELS[dim], **_opts(metric, title))


def actions_distribution(actions_by_type: pd.DataFrame, selection: str):
    """Collections actions by type (horizontal bars with counts and shares).

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    frame = actions_by_type.assign(action=actions_by_type["action"].astype(str))
    total = frame["count"].sum()
    if total == 0:
        return no_data("No collections actions for this selection")
    frame["share"] = frame["count"] / total
    # funnel order top to bottom (a horizontal bar chart draws its first category lowest)
    rank = {action: i for i, action in enumerate(ACTIONS)}
    frame = frame.sort_values(
        "action", key=lambda a: a.map(rank).fillna(len(rank)), ascending=False
    )
    colors = {a: ACTION_COLORS.get(a, PALETTE[7]) for a in frame["action"]}
    bars = frame.hvplot.barh(
        **SIZE,
        x="action",
        y="count",
        color="action",
        cmap=colors,
        hover_cols=["share"],
        legend=False,
    )
    return bars.opts(
        title=f"Collections actions by type · {selection}",
        xlabel="",
        ylabel="actions",
        xformatter=NumeralTickFormatter(format="0,0"),
        hover_tooltips=[
            ("Action", "@action"),
            ("Actions", "@count{0,0}"),
            ("Share", "@share{0.0%}"),
        ],
        shared_axes=False,
    )


def actions_volume(actions_monthly: pd.DataFrame, selection: str):
    """Monthly volume of collections actions by type (stacked areas on a month axis).

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if actions_monthly["count"].sum() == 0:
        return no_data("No collections actions for this selection")
    frame = actions_monthly.assign(action=actions_monthly["action"].astype(str))
    wide = frame.pivot_table(index="month", columns="action", values="count", aggfunc="sum")
    order = [a for a in ACTIONS if a in wide.columns] + sorted(set(wide.columns) - set(ACTIONS))
    wide = wide[order].fillna(0).reset_index()
    areas = wide.hvplot.area(
        **SIZE,
        x="month",
        y=order,
        stacked=True,
        color=[ACTION_COLORS.get(a, PALETTE[7]) for a in order],
        alpha=0.8,
        legend="right",
        hover="vline",
    )
    return areas.opts(
        title=f"Collections actions per month · {selection}",
        xlabel="month of action",
        ylabel="actions",
        yformatter=NumeralTickFormatter(format="0,0"),
        shared_axes=False,
    )


def kpi_color_ranges(kpi: str, thresholds: tuple[float, float]) -> list[tuple[float, str]]:
    """Gauge colour bands for a KPI: green / amber / red by its thresholds.

    Parameters
    ----------
    kpi : str
        A name in :data:`dashboard.model.KPIS`.
    thresholds : (float, float)
        Lower and upper threshold as fractions.

    Returns
    -------
    list of (float, str)
        Bands as (upper end as a fraction of the dial, colour), the format of
        ``panel.indicators.Gauge.colors``; the dial spans :data:`GAUGE_BOUNDS`.
    """
    low, high = (t * 100 / GAUGE_BOUNDS.get(kpi, (0, 100))[1] for t in sorted(thresholds))
    low, high = min(low, 1.0), min(high, 1.0)
    green, amber, red = GAUGE_COLORS
    if kpi in HIGHER_IS_BETTER:
        return [(low, red), (high, amber), (1.0, green)]
    return [(low, green), (high, amber), (1.0, red)]


def kpi_status(kpi: str, value: float, thresholds: tuple[float, float]) -> str:
    """``"green"``, ``"amber"``, ``"red"`` or ``"no data"`` for a KPI value."""
    if value is None or np.isnan(value):
        return "no data"
    low, high = sorted(thresholds)
    if kpi in HIGHER_IS_BETTER:
        return "red" if value < low else "amber" if value < high else "green"
    return "green" if value < low else "amber" if value < high else "red"


GAUGE_BOUNDS = {"default_rate": (0, 30)}
"""Dial range in % per KPI (default 0-100): default rates live far below 100%."""


def kpi_gauge(kpi: str) -> pn.indicators.Gauge:
    """A persistent gauge for one KPI (update it with :func:`update_gauge`)."""
    return pn.indicators.Gauge(
        name=KPI_LABELS[kpi],
        value=0,
        bounds=GAUGE_BOUNDS.get(kpi, (0, 100)),
        format="{value}%",
        width=250,
        height=230,
        title_size=13,
        num_splits=5,
        margin=(0, 5),
    )


def update_gauge(
    gauge: pn.indicators.Gauge, kpi: str, value: float, thresholds: tuple[float, float]
) -> None:
    """Set a gauge's value (in %) and its colour bands; NaN shows "no data"."""
    gauge.colors = kpi_color_ranges(kpi, thresholds)
    if value is None or np.isnan(value):
        gauge.name = f"{KPI_LABELS[kpi]} (no data)"
        gauge.value = 0
    else:
        gauge.name = KPI_LABELS[kpi]
        gauge.value = min(round(float(value) * 100, 1), gauge.bounds[1])


def figures_table(by_segment: pd.DataFrame, dim: str) -> pd.DataFrame:
    """The aggregated figures per segment value, ready for a table or CSV download.

    Parameters
    ----------
    by_segment : DataFrame
        ``CollectionsModel.by_segment``.
    dim : str
        Its segment dimension.

    Returns
    -------
    DataFrame
        Readable column names; rates in %, money in pounds. Text stays raw: the
        Tabulator widget shows it as text (escaping here would show ``&lt;`` to users).
    """
    frame = _with_labels(by_segment, dim)
    return pd.DataFrame(
        {
            DIMENSION_LABELS[dim]: [str(s) for s in frame["segment"]],
            "Customers": frame["customers"].fillna(0).astype(int).to_numpy(),
            "Customers with a default": frame["customers_with_default"]
            .fillna(0)
            .astype(int)
            .to_numpy(),
            "Bills counted": frame["counted_bills"].to_numpy(),
            "Defaults": frame["counted_defaults"].to_numpy(),
            "Default rate %": (frame["default_rate"] * 100).round(2).to_numpy(),
            "Billed £": frame["billed"].round(2).to_numpy(),
            "Paid in window £": frame["paid_in_window"].round(2).to_numpy(),
            "Collection rate %": (frame["collection_rate"] * 100).round(2).to_numpy(),
        }
    )


def figures_tabulator(value: pd.DataFrame, **params) -> pn.widgets.Tabulator:
    """A read-only, paginated table of :func:`figures_table` output (£ and % formatted).

    Parameters
    ----------
    value : DataFrame
        From :func:`figures_table`.
    **params
        Further Tabulator parameters (height, visible, ...).

    Returns
    -------
    panel.widgets.Tabulator
    """
    return pn.widgets.Tabulator(
        value,
        pagination="local",
        page_size=20,
        disabled=True,
        show_index=False,
        formatters=TABLE_FORMATTERS,
        sizing_mode="stretch_width",
        **params,
    )


TABLE_FORMATTERS = {
    "Default rate %": {"type": "money", "symbol": "%", "symbolAfter": True, "precision": 1},
    "Collection rate %": {"type": "money", "symbol": "%", "symbolAfter": True, "precision": 1},
    "Billed £": {"type": "money", "symbol": "£", "thousand": ",", "precision": 2},
    "Paid in window £": {"type": "money", "symbol": "£", "thousand": ",", "precision": 2},
}
